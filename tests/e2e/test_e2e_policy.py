"""The customer call policy, enforced by the running service over UDP and TCP: calls the
policy refuses get their status and reason and never reach the trunk's SIPp gateway; calls it
allows (domestic, an allowed country, an emergency number) do; and a blocked caller from the
trunk is answered busy while the callee's phone never rings.

One service per transport serves the whole module (starting one and provisioning the policy
through the command line costs seconds): alice (1001 at alpha, a US tenant) may call
internationally, to GB only, and +447700900999 is blocked with the treatment "busy". The test
that switches alice's outbound calls off has a service of its own.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

TENANT = "alpha"
GATEWAY_IP = "127.0.0.2"  # the trunk gateway's address (conftest.GATEWAY_IP)
RELOAD_TIMEOUT = 6.0  # the service polls the store's revision every second
RECORD_TIMEOUT = 6.0
TALK_MS = 300  # answered calls: long enough to be calls, short enough for a dozen of them

BLOCKED_CALLER = "+447700900999"
OTHER_CALLER = "+442071838750"

# case: (what alice dials, the Request-URI user the gateway must receive)
ALLOWED = {
    "domestic": ("+12125550123", "+12125550123"),
    "domestic-national-form": ("2125550123", "+12125550123"),
    "allowed-country": ("+442079460018", "+442079460018"),
    "emergency": ("911", "911"),
}

# case: (what alice dials, status, reason code)
REFUSED = {
    "country-not-allowed": ("+33142685300", 403, "country_not_allowed"),
    "premium-rate": ("+449098790000", 403, "premium_rate"),
    "international-network": ("+8816512345678", 403, "international_network"),
}


# -- helpers ---------------------------------------------------------------------------------------


def admin(service: Any, *args: str) -> None:
    """Run an admin change through the command line and wait until the running service has
    loaded it (its log says ``directory_reloaded``).

    Every change bumps the store's revision, and the service reloads when the revision it polls
    differs from its own. Changes are made one at a time through here, each waited for, so the
    service holds the latest revision when a change starts, and a reload logged after that start
    has loaded the change.
    """
    start = len(service.log_text())
    service.cli(*args)
    deadline = time.monotonic() + RELOAD_TIMEOUT
    while "directory_reloaded" not in service.log_text()[start:]:
        if time.monotonic() > deadline:
            raise AssertionError(
                f"`ringfence {' '.join(args)}` was not picked up by the running service within "
                f"{RELOAD_TIMEOUT}s\n{service.log_text()[-4000:]}"
            )
        time.sleep(0.1)


def records(service: Any, *call_ids: str) -> dict[str, dict[str, Any]]:
    """The tenant's call record of each of ``call_ids``, once all of them are written (a worker
    thread writes them when the call ends); exactly one record per call."""
    deadline = time.monotonic() + RECORD_TIMEOUT
    while True:
        every = service.calls(TENANT)
        found = {c: [r for r in every if r.get("call_id") == c] for c in call_ids}
        if all(found.values()) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    for call_id, mine in found.items():
        assert len(mine) == 1, f"call {call_id}: {len(mine)} call records; the tenant has {every}"
    return {call_id: mine[0] for call_id, mine in found.items()}


def header(message: str, name: str) -> str | None:
    match = re.search(rf"^{name}\s*:\s*(.*?)\r?$", message, re.M | re.I)
    return match.group(1) if match else None


def gateway_call_refused(
    phones: Any, number: str, caller_number: str, call_id: str, status: int
) -> Any:
    """The trunk's gateway, from 127.0.0.2, offers a call to the tenant's ``number`` from
    ``caller_number`` and expects exactly ``status`` as the final response."""
    return phones.sipp.run(
        "gateway_uac_refused.xml",
        transport=phones.transport,
        remote=phones.proxy,
        local_ip=GATEWAY_IP,
        keys={"number": number, "caller": caller_number},
        fill={"status": str(status)},
        call_id=call_id,
    )


def assert_refused_outbound(
    phones: Any, world: Any, dialled: str, call_id: str, status: int, reason: str
) -> Any:
    """Alice dials ``dialled`` and gets exactly ``status`` with the ``reason`` code in its
    Warning header (she is the tenant's own phone), while the trunk's gateway, listening all
    along, receives nothing. Returns the refusal."""
    gateway = phones.gateway_answering(presented=world.alice_number, dialled=dialled)
    caller = phones.call(
        world.alice, dialled, call_id, "uac_refused.xml", fill={"status": str(status)}
    )
    gateway.terminate()
    if caller.returncode != 0:  # quote the gateway too: did the call go out?
        raise AssertionError(f"{caller.describe()}\n\n{gateway.result.describe()}")
    assert gateway.result.received("INVITE ") == [], (
        f"the refused call to {dialled} reached the trunk gateway\n{gateway.result.describe()}"
    )
    refusal = caller.received(f"SIP/2.0 {status}")[0]
    warning = header(refusal, "Warning")
    assert warning is not None, f"no Warning header in the refusal\n{refusal}"
    assert re.fullmatch(rf'399 \S+ "{re.escape(reason)}(: [^"]*)?"', warning), warning
    return refusal


def assert_reaches_gateway(phones: Any, world: Any, dialled: str, sent: str, call_id: str) -> Any:
    """Alice dials ``dialled``; the trunk's gateway receives an INVITE for ``sent`` (E.164, or
    the emergency number) presenting alice's number, answers, and the call completes."""
    gateway = phones.gateway_answering(presented=world.alice_number, dialled=sent)
    caller = phones.call(world.alice, dialled, call_id)
    caller, gateway = phones.conclude(caller, gateway)
    (invite,) = gateway.received("INVITE ")
    request_line = invite.splitlines()[0]
    assert request_line.startswith(f"INVITE sip:{sent}@"), request_line
    assert len(gateway.received("BYE ")) == 1
    return invite


# -- fixtures --------------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=["udp", "tcp"])
def transport(request: pytest.FixtureRequest) -> str:
    """The transport of the phones, the gateway and the trunk (module-wide here: one service
    per transport serves every test of the module)."""
    return str(request.param)


@pytest.fixture(scope="module")
def service(
    tmp_path_factory: pytest.TempPathFactory,
    transport: str,
    template: Callable[[str], Path],
    toolkit: Any,
    sipp_binary: str,
) -> Iterator[Any]:
    """The service of the module docstring, with alpha's policy and block in place. (Overrides
    the per-test ``service`` of conftest, so ``phones`` calls this one.)"""
    base = tmp_path_factory.mktemp(f"policy-{transport}")
    data_dir = base / "data"
    shutil.copytree(template(transport), data_dir)
    running = toolkit.service(data_dir, base)
    running.start()
    try:
        admin(running, "policy", "set", TENANT, "--international", "on", "--countries", "GB")
        admin(running, "block", "add", TENANT, BLOCKED_CALLER, "--treatment", "busy")
        yield running
    finally:
        if running.started:
            running.stop_cleanly()


@pytest.fixture(autouse=True)
def _quick_calls_and_log_on_failure(
    request: pytest.FixtureRequest, service: Any, phones: Any
) -> Iterator[None]:
    phones.talk_ms = TALK_MS
    failed = request.session.testsfailed
    yield
    if request.session.testsfailed > failed:
        print(f"=== ringfence serve log (module service)\n{service.log_text()}")


@pytest.fixture
def own_service(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    transport: str,
    template: Callable[[str], Path],
    toolkit: Any,
) -> Iterator[Any]:
    """A service of the test's own on a fresh copy of the template, for a change that the
    module's other tests must not see."""
    data_dir = tmp_path / "data"
    shutil.copytree(template(transport), data_dir)
    running = toolkit.service(data_dir, tmp_path)
    running.start()
    failed = request.session.testsfailed
    try:
        yield running
    finally:
        if request.session.testsfailed > failed:
            print(f"=== ringfence serve log (own service)\n{running.log_text()}")
        if running.started:
            running.stop_cleanly()


# -- outbound --------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", list(ALLOWED))
def test_allowed_call_reaches_the_trunk(
    service: Any, phones: Any, world: Any, call_id: str, case: str
) -> None:
    dialled, sent = ALLOWED[case]
    assert_reaches_gateway(phones, world, dialled, sent, call_id)

    record = records(service, call_id)[call_id]
    assert record["direction"] == "outbound"
    assert (record["caller"], record["callee"]) == (world.alice.ext, sent)
    assert record["final_status"] == 200
    assert not record["reason"], record


@pytest.mark.parametrize("case", list(REFUSED))
def test_refused_call_never_reaches_the_trunk(
    service: Any, phones: Any, world: Any, call_id: str, case: str
) -> None:
    dialled, status, reason = REFUSED[case]
    assert_refused_outbound(phones, world, dialled, call_id, status, reason)

    record = records(service, call_id)[call_id]
    assert record["direction"] == "outbound"
    assert (record["caller"], record["callee"]) == (world.alice.ext, dialled)
    assert (record["final_status"], record["reason"]) == (status, reason)
    assert record["answered_at"] is None


def test_emergency_call_goes_out_when_outbound_calls_are_off(
    own_service: Any, phones: Any, world: Any, call_id: str
) -> None:
    """With alice's outbound calls switched off, a domestic number is refused
    (``outbound_disabled``), and 911 still reaches the trunk."""
    phones = dataclasses.replace(phones, service=own_service)
    admin(own_service, "policy", "set", TENANT, "--ext", world.alice.ext, "--outbound", "off")
    domestic_call = phones.new_call_id()

    assert_refused_outbound(phones, world, world.dialled, domestic_call, 403, "outbound_disabled")
    assert_reaches_gateway(phones, world, "911", "911", call_id)

    found = records(own_service, domestic_call, call_id)
    refused, emergency = found[domestic_call], found[call_id]
    assert (refused["final_status"], refused["reason"]) == (403, "outbound_disabled")
    assert (emergency["direction"], emergency["callee"]) == ("outbound", "911")
    assert emergency["final_status"] == 200
    assert not emergency["reason"], emergency


# -- inbound ---------------------------------------------------------------------------------------


def test_blocked_caller_gets_busy_and_never_rings_the_callee(
    service: Any, phones: Any, world: Any, call_id: str
) -> None:
    """bob (1002, owner of the DID) is registered throughout: the blocked caller gets 486 and
    bob's phone receives no INVITE; then another caller from the same trunk rings him (and he
    answers), so the block is what kept the first call away."""
    bob = world.bob
    callee = phones.registered(bob, call_id)  # waits for the call with this Call-ID
    blocked_call = phones.new_call_id()

    blocked = gateway_call_refused(phones, world.bob_number, BLOCKED_CALLER, blocked_call, 486)
    if blocked.returncode != 0:  # quote bob's phone too: did the blocked call ring it?
        callee.terminate()
        raise AssertionError(f"{blocked.describe()}\n\n{callee.result.describe()}")
    busy = blocked.received("SIP/2.0 486")[0]
    # The reason is for the tenant's own phones, never for another network's caller.
    assert "caller_blocked" not in busy, busy

    allowed = phones.gateway_call(world.bob_number, OTHER_CALLER, call_id)
    allowed, callee = phones.conclude(allowed, callee)

    invites = callee.received("INVITE ")
    assert not [i for i in invites if BLOCKED_CALLER in i], "the blocked caller rang bob"
    (invite,) = invites
    assert header(invite, "Call-ID") == call_id
    assert OTHER_CALLER in (header(invite, "From") or "")

    found = records(service, blocked_call, call_id)
    refused, answered = found[blocked_call], found[call_id]
    assert refused["direction"] == "inbound"
    assert (refused["final_status"], refused["reason"]) == (486, "caller_blocked")
    assert refused["answered_at"] is None
    assert (answered["direction"], answered["callee"]) == ("inbound", bob.ext)
    assert answered["final_status"] == 200


SILENCE_SECONDS = 2.0


def test_a_silenced_caller_hears_nothing_then_480_and_never_rings_the_callee(
    tmp_path: Path,
    transport: str,
    template: Callable[[str], Path],
    toolkit: Any,
    phones: Any,
    world: Any,
    call_id: str,
) -> None:
    """``block add alpha anonymous --treatment silence``: a withheld caller from the trunk gets
    no final answer for the silence period (``serve --silence-seconds``), then 480, and bob's
    registered phone never sees the call."""
    data_dir = tmp_path / "data"
    shutil.copytree(template(transport), data_dir)
    running = toolkit.service(data_dir, tmp_path)
    running.extra_args = ["--silence-seconds", str(SILENCE_SECONDS)]
    running.start()
    try:
        phones = dataclasses.replace(phones, service=running)
        admin(running, "block", "add", TENANT, "anonymous", "--treatment", "silence")
        callee = phones.registered(world.bob, call_id)  # waits for a call that never comes
        started = time.monotonic()
        silenced = gateway_call_refused(phones, world.bob_number, "anonymous", call_id, 480)
        waited = time.monotonic() - started
        callee.terminate()
        assert silenced.returncode == 0, f"{silenced.describe()}\n\n{callee.result.describe()}"
        assert waited >= SILENCE_SECONDS, f"the 480 came after {waited:.2f}s"
        assert callee.result.received("INVITE ") == [], "the silenced caller rang bob"
        record = records(running, call_id)[call_id]
        assert (record["direction"], record["callee"]) == ("inbound", world.bob.ext)
        assert (record["final_status"], record["reason"]) == (480, "caller_blocked")
    finally:
        running.stop_cleanly()
