"""The toll-fraud guard, seen by its users: the running service over UDP, a real SMTP server and
a real webhook receiver on loopback.

alpha (a US tenant, no call history: no baseline) may call GB, and a global rate prices GB at
1.50 a minute. alice (1001, no PIN) has a phone at her usual address, 127.0.0.1. An attacker
guesses her password from another network (127.0.1.7): a burst of failed REGISTERs, then one
that succeeds. That alone scores ``new_network_after_failures`` (50): an incident opens at the
notify level and is notified. The attacker's first call abroad adds ``new_network`` 20,
``new_country`` 15, ``high_cost`` 15 and, for a day, the suspicion again (50): far past the
containment level (80), so it is refused 403 ``fraud_contained`` and never reaches the gateway.
The security contact gets exactly one e-mail and the webhook exactly one signed POST for the
incident, though it escalated. alice's domestic calls still go out while she is contained; an
admin's ``fraud release`` lets her international calls through again.
"""

from __future__ import annotations

import json
import re
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from ringfence.notify import SIGNATURE_HEADER, verify

pytestmark = pytest.mark.slow

TENANT = "alpha"
TENANT_COUNTRY = "US"
TENANT_TIMEZONE = "UTC"  # the template's tenants are added without --timezone
GATEWAY_IP = "127.0.0.2"  # the trunk gateway's address (conftest.GATEWAY_IP)
RELOAD_TIMEOUT = 6.0  # the service polls the store's revision every second
NOTICE_TIMEOUT = 12.0  # a new incident wakes the outbox; it is looked at every 5 s anyway
OUTBOX_EVERY = 5.0
TALK_MS = 300

ABROAD = "+442079460018"  # GB, allowed to alpha
PRICE_PER_MINUTE = Decimal("1.50")
CONTACT = "sec@alpha.example"
SENDER = "pbx@ringfence.test"
SECRET = "0123456789abcdef0123"
REASON = "fraud_contained"

NOTIFY_AT, PIN_AT, CONTAIN_AT = 45, 60, 80
ATTACKER_IP = "127.0.1.7"  # loopback, on another /24 than the phones' 127.0.0.1
FAILED_LOGINS = 5


# -- the receivers -------------------------------------------------------------------------------


@dataclass
class Mailbox:
    """An aiosmtpd handler that keeps every message it is given."""

    messages: list[tuple[str, list[str], bytes]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(
            (envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.original_content))
        )
        return "250 OK"


@dataclass
class Hook:
    """What the webhook receiver was POSTed: (path, headers, body, time received)."""

    posts: list[tuple[str, dict[str, str], bytes, float]] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.server_address[1])


def _hook_handler(hook: Hook) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            hook.posts.append((self.path, dict(self.headers.items()), body, time.time()))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


@pytest.fixture
def transport() -> str:
    """One transport is enough here: the fraud guard does not depend on it."""
    return "udp"


@pytest.fixture
def mailbox(free_port: Any) -> Iterator[tuple[Mailbox, int]]:
    handler = Mailbox()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


@pytest.fixture
def hook() -> Iterator[Hook]:
    received = Hook()
    received.server = ThreadingHTTPServer(("127.0.0.1", 0), _hook_handler(received))
    thread = threading.Thread(target=received.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield received
    finally:
        received.server.shutdown()
        received.server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def service(
    tmp_path: Path,
    transport: str,
    template: Callable[[str], Path],
    toolkit: Any,
    mailbox: tuple[Mailbox, int],
    sipp_binary: str,
) -> Iterator[Any]:
    """Like conftest's ``service``, started with ``--smtp`` toward the test's SMTP server."""
    data_dir = tmp_path / "data"
    shutil.copytree(template(transport), data_dir)
    running = toolkit.service(data_dir, tmp_path)
    running.extra_args = ["--smtp", f"127.0.0.1:{mailbox[1]}", "--smtp-from", SENDER]
    running.start()
    yield running
    if running.started:
        running.stop_cleanly()


# -- helpers ---------------------------------------------------------------------------------------


def admin(service: Any, *args: str) -> None:
    """Run an admin change through the command line and wait until the running service has
    loaded it (its log says ``directory_reloaded``), as test_e2e_policy.py does."""
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


def header(message: str, name: str) -> str | None:
    found = re.findall(rf"^{name}\s*:\s*(.*?)\r?$", message, re.M | re.I)
    return found[0] if found else None


def wait_for(what: str, check: Any, timeout: float, service: Any) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} within {timeout}s\n{service.log_text()[-6000:]}")
        time.sleep(0.1)


def answered(phones: Any, world: Any, dialled: str) -> Any:
    """alice calls ``dialled``; the trunk's gateway answers; both runs must succeed."""
    call_id = phones.new_call_id()
    gateway = phones.gateway_answering(presented=world.alice_number, dialled=dialled)
    caller = phones.call(world.alice, dialled, call_id)
    caller, gateway = phones.conclude(caller, gateway)
    assert len(gateway.received("INVITE ")) == 1, gateway.describe()
    return caller


def refused(phones: Any, world: Any, dialled: str, status: str, local_ip: str) -> Any:
    """alice's credentials call ``dialled`` from ``local_ip`` and are refused ``status``; the
    listening gateway gets nothing."""
    call_id = phones.new_call_id()
    listening = phones.gateway_answering(presented=world.alice_number, dialled=dialled)
    result = phones.call(
        world.alice,
        dialled,
        call_id,
        "uac_refused.xml",
        fill={"status": status},
        local_ip=local_ip,
    )
    listening.terminate()
    assert listening.result.received("INVITE ") == [], (
        f"a refused call reached the trunk gateway\n{result.describe()}\n\n"
        f"{listening.result.describe()}"
    )
    return result


def outcome(phones: Any, world: Any, dialled: str, local_ip: str) -> tuple[str, Any]:
    """alice's credentials call ``dialled`` from ``local_ip`` with the gateway listening: the
    refusal ``(reason, run)`` read from the Warning header of the final response, or
    ``("other", run)``."""
    call_id = phones.new_call_id()
    listening = phones.gateway_answering(presented=world.alice_number, dialled=dialled)
    result = phones.call(
        world.alice,
        dialled,
        call_id,
        "uac_refused.xml",
        fill={"status": "403"},
        local_ip=local_ip,
    )
    if result.returncode == 0:
        listening.terminate()
        assert listening.result.received("INVITE ") == [], listening.result.describe()
        warning = header(result.received("SIP/2.0 403")[0], "Warning") or ""
        match = re.fullmatch(r'399 \S+ "(\w+)(: [^"]*)?"', warning)
        assert match, f"403 without the proxy's Warning\n{result.describe()}"
        return match.group(1), result
    listening.terminate()
    return "other", result


def register(
    service: Any,
    sipp: Any,
    transport: str,
    phone: Any,
    source: str,
    *,
    right: bool,
    password: str | None = None,
) -> Any:
    """A REGISTER of ``phone`` from ``source``: with its password (200) or a wrong one (403);
    ``password``, when given, is tried and expected to be refused."""
    scenario = "register.xml" if right else "register_refused.xml"
    result = sipp.run(
        scenario,
        transport=transport,
        remote=(service.host, service.sip_port),
        local_ip=source,
        keys={
            "domain": phone.domain,
            "user": phone.ext,
            "contact": f"sip:{phone.ext}@{source}:45071;transport={transport}",
            "expires": "300",
        },
        fill={} if right else {"status": "403"},
        auth=(
            phone.ext,
            password if password is not None else phone.password + ("" if right else "x"),
            phone.domain,
        ),
    )
    return result.assert_ok()


def fraud_lines(service: Any) -> list[str]:
    return [line for line in service.log_text().splitlines() if "fraud_response" in line]


# -- the test --------------------------------------------------------------------------------------


def test_fraud_is_contained_notified_once_and_released(
    service: Any,
    phones: Any,
    sipp: Any,
    transport: str,
    world: Any,
    mailbox: tuple[Mailbox, int],
    hook: Hook,
    tmp_path: Path,
) -> None:
    inbox, _ = mailbox
    phones.talk_ms = TALK_MS

    rates = tmp_path / "rates.csv"
    rates.write_text(f"prefix,price,currency\n44,{PRICE_PER_MINUTE},USD\n")
    admin(service, "policy", "set", TENANT, "--international", "on", "--countries", "GB")
    admin(service, "rates", "import", "--global", str(rates))
    admin(service, "contact", "add", TENANT, "--email", CONTACT)
    admin(service, "webhook", "set", TENANT, f"http://127.0.0.1:{hook.port}/hook",
          "--secret", SECRET)  # fmt: skip
    home = "127.0.0.1"

    # alice's phone at her usual address; then her password guessed from another network.
    register(service, sipp, transport, world.alice, home, right=True)
    for _ in range(FAILED_LOGINS):
        register(service, sipp, transport, world.alice, ATTACKER_IP, right=False)
    register(service, sipp, transport, world.alice, ATTACKER_IP, right=True)
    wait_for("no notify response logged", lambda: fraud_lines(service), 5.0, service)
    wait_for("no e-mail", lambda: inbox.messages, NOTICE_TIMEOUT, service)
    wait_for("no webhook POST", lambda: hook.posts, NOTICE_TIMEOUT, service)

    # The attacker's first call abroad: straight to containment (no PIN step).
    assert CONTAIN_AT <= 50 + 20 + 15 + 15 + 50
    reason, second = outcome(phones, world, ABROAD, ATTACKER_IP)
    assert reason == REASON, f"first call from the new network: {reason}\n{second.describe()}"
    contained_at = time.monotonic()
    responses = [re.search(r"response=(\w+)", line) for line in fraud_lines(service)]
    assert [m.group(1) for m in responses if m] == ["notify", "contain"], service.log_text()

    # Another international call, from anywhere, is refused by the hold and reaches no gateway.
    for source in (ATTACKER_IP, home):
        again = refused(phones, world, ABROAD, "403", source)
        assert again.returncode == 0, again.describe()
        warning = header(again.received("SIP/2.0 403")[0], "Warning")
        assert warning is not None, again.describe()
        assert f'"{REASON}' in warning, again.describe()

    # The incident: one, open, for alice, contained, its signals in the summary and actions.
    incidents = service.cli_json("fraud", "incidents", TENANT)
    assert len(incidents) == 1, incidents
    (incident,) = incidents
    assert (incident["ext"], incident["status"], incident["level"]) == (
        world.alice.ext,
        "open",
        "contain",
    ), incident
    assert "new_network" in incident["summary"], incident
    assert "high_cost" in incident["summary"], incident
    assert incident["score"] >= CONTAIN_AT, incident
    actions = " ".join(incident["actions"])
    assert "failed logins" in actions, incident
    assert "notify" in actions, incident

    # Domestic calls still go out while alice is contained.
    answered(phones, world, world.dialled)

    # Once per incident: no second e-mail or POST, though the incident escalated, after at
    # least one more look at the outbox.
    rest = OUTBOX_EVERY + 1.0 - (time.monotonic() - contained_at)
    if rest > 0:
        time.sleep(rest)
    assert len(inbox.messages) == 1, inbox.messages
    sender, recipients, raw = inbox.messages[0]
    mail = message_from_bytes(raw)
    assert sender == SENDER, sender
    assert recipients == [CONTACT], recipients
    assert "suspected toll fraud" in mail["Subject"], mail["Subject"]
    assert world.alice.ext in mail["Subject"], mail["Subject"]

    assert len(hook.posts) == 1, hook.posts
    path, got, body, received_at = hook.posts[0]
    assert path == "/hook", path
    signature = {k.lower(): v for k, v in got.items()}.get(SIGNATURE_HEADER.lower())
    assert signature is not None, got
    assert verify(SECRET, signature, body, received_at), (signature, body)
    assert not verify("another-secret-0123456", signature, body, received_at)
    payload = json.loads(body)
    assert (payload["event"], payload["ext"], payload["response"]) == (
        "fraud.incident",
        world.alice.ext,
        "notify",
    ), payload
    signals = {s["signal"] for s in payload["signals"]}
    assert signals == {"new_network_after_failures"}, payload

    # An admin's release lets alice's international call through again, within a second or
    # so (from her usual address: a new country at a high price alone does not notify).
    start = len(service.log_text())
    released = service.cli_json("fraud", "release", TENANT, "--ext", world.alice.ext)
    assert [(i["id"], i["status"]) for i in released] == [(incident["id"], "released")], released
    wait_for(
        "the release was not loaded",
        lambda: "directory_reloaded" in service.log_text()[start:],
        RELOAD_TIMEOUT,
        service,
    )
    answered(phones, world, ABROAD)


def test_a_containment_resets_the_stolen_password_where_the_tenant_asked(
    service: Any,
    phones: Any,
    sipp: Any,
    transport: str,
    world: Any,
    tmp_path: Path,
) -> None:
    """With ``fraud settings --reset-password-on-contain``, the containment also gives alice a
    password nobody knows: the attacker's stolen one registers no more, and her phone works
    again once an admin gives it a new one."""
    phones.talk_ms = TALK_MS
    rates = tmp_path / "rates.csv"
    rates.write_text(f"prefix,price,currency\n44,{PRICE_PER_MINUTE},USD\n")
    admin(service, "policy", "set", TENANT, "--international", "on", "--countries", "GB")
    admin(service, "rates", "import", "--global", str(rates))
    admin(service, "fraud", "settings", TENANT, "--reset-password-on-contain")
    shown = service.cli_json("fraud", "settings", TENANT)
    assert shown == {"tenant": TENANT, "reset_password_on_contain": True}, shown

    register(service, sipp, transport, world.alice, "127.0.0.1", right=True)
    for _ in range(FAILED_LOGINS):
        register(service, sipp, transport, world.alice, ATTACKER_IP, right=False)
    register(service, sipp, transport, world.alice, ATTACKER_IP, right=True)
    wait_for("no notify response logged", lambda: fraud_lines(service), 5.0, service)
    start = len(service.log_text())
    reason, run = outcome(phones, world, ABROAD, ATTACKER_IP)
    assert reason == REASON, f"the attacker's call abroad: {reason}\n{run.describe()}"
    wait_for(
        "the reset was not loaded",
        lambda: (
            "fraud_password_reset" in service.log_text()[start:]
            and "directory_reloaded" in service.log_text()[start:]
        ),
        RELOAD_TIMEOUT,
        service,
    )
    # The stolen password is refused now (403, as any wrong password), wherever it comes from.
    for source in (ATTACKER_IP, "127.0.0.1"):
        register(
            service, sipp, transport, world.alice, source, right=False,
            password=world.alice.password,
        )  # fmt: skip
    audit = service.cli_json("audit", TENANT)
    resets = [e for e in audit if e["action"] == "extension.password" and e["actor"] == "ringfence"]
    assert len(resets) == 1, audit
    assert "reset on containment" in resets[0]["detail"], resets

    # An admin gives the phone its password back (here the same one): it registers again.
    admin(service, "ext", "passwd", TENANT, world.alice.ext, "--password", world.alice.password)
    register(service, sipp, transport, world.alice, "127.0.0.1", right=True)
