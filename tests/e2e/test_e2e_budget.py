"""Spend budgets, enforced by the running service over UDP and TCP.

alpha (a US tenant) gets a daily budget of 0.50 and a global rate that prices the domestic
number alice dials at 6.00 a minute (0.10 a second). Every second the service looks at the
answered calls and ends those that would cross a budget within the next 2 s: alice's call to
the trunk is answered by the SIPp gateway, neither side ever hangs up, and the proxy itself
sends a BYE on both legs with ``Reason: Q.850;cause=21;text="budget_exceeded"`` (RFC 3326).
The call record says why the call ended and what it cost, which stays within the budget. The
next call alice places is refused 403 ``budget_exceeded`` and never reaches the gateway.
"""

from __future__ import annotations

import re
import time
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

TENANT = "alpha"
GATEWAY_IP = "127.0.0.2"  # the trunk gateway's address (conftest.GATEWAY_IP)
RELOAD_TIMEOUT = 6.0  # the service polls the store's revision every second
RECORD_TIMEOUT = 6.0

CURRENCY = "USD"
PRICE_PER_MINUTE = Decimal("6.00")  # 0.10 a second
PRICE_PER_SECOND = PRICE_PER_MINUTE / 60
DAILY_BUDGET = Decimal("0.5")
MONTHLY_BUDGET = Decimal("10")
LOOKAHEAD = 2.0  # seconds: the watch ends a call that would cross a budget this soon
REASON = "budget_exceeded"
BYE_REASON = f'Q.850;cause=21;text="{REASON}"'

#: The answered call lasts until the budget is spent, less the look-ahead, plus up to the one
#: second between two looks: 3 s to 4 s here. The window is generous; timings are never exact.
BUDGET_SECONDS = float(DAILY_BUDGET / PRICE_PER_SECOND)
ANSWERED_SECONDS = (BUDGET_SECONDS - LOOKAHEAD - 1.0, BUDGET_SECONDS + 2.0)
BYE_WITHIN_MS = 12_000  # how long each side waits for the proxy's BYE once the call is up


# -- helpers ---------------------------------------------------------------------------------------


def admin(service: Any, *args: str) -> None:
    """Run an admin change through the command line and wait until the running service has
    loaded it (its log says ``directory_reloaded``), as test_e2e_policy.py does. Changes are
    made one at a time, each waited for, so a reload logged after a change started loaded it."""
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


def headers(message: str, name: str) -> list[str]:
    return re.findall(rf"^{name}\s*:\s*(.*?)\r?$", message, re.M | re.I)


def header(message: str, name: str) -> str | None:
    found = headers(message, name)
    return found[0] if found else None


def tag(value: str | None) -> str | None:
    match = re.search(r";\s*tag=([^;>\s]+)", value or "")
    return match.group(1) if match else None


def records(service: Any, *call_ids: str) -> dict[str, dict[str, Any]]:
    """The tenant's call record of each of ``call_ids``, once all of them are written (a worker
    thread writes them when a call ends), in one look at a time: each look is a CLI run."""
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


_TRACED = re.compile(
    r"^-{20,} (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+)\s*\n"
    r"\s*(?:UDP|TCP) message (sent|received)[^\n]*\n\s*([^\r\n]+)",
    re.M,
)


def answered_seconds(caller: Any) -> float:
    """From the 200 to the INVITE to the proxy's BYE, by the clock of the caller's trace."""
    received = [
        (datetime.fromisoformat(stamp).timestamp(), first_line)
        for stamp, direction, first_line in _TRACED.findall(caller.trace)
        if direction == "received"
    ]
    answered = [at for at, line in received if line.startswith("SIP/2.0 200")]
    hung_up = [at for at, line in received if line.startswith("BYE ")]
    assert answered, f"no 200 in the caller's trace\n{caller.describe()}"
    assert hung_up, f"no BYE in the caller's trace\n{caller.describe()}"
    return hung_up[0] - answered[0]


def assert_the_proxys_own_bye(service: Any, result: Any, side: str, call_id: str) -> str:
    """``result`` (a SIPp run) sent no BYE and received exactly one, from the proxy itself
    (its only Via is the proxy's: a relayed BYE would carry the other side's Via below it),
    with the budget reason. Returns that BYE."""
    sent = [m for m in result.messages("sent") if m.startswith("BYE ")]
    assert sent == [], f"the {side} hung up itself\n{result.describe()}"
    byes = result.received("BYE ")
    assert len(byes) == 1, f"the {side} received {len(byes)} BYEs\n{result.describe()}"
    (bye,) = byes
    vias = headers(bye, "Via") + headers(bye, "v")
    proxy = f"{service.host}:{service.sip_port}"
    assert len(vias) == 1, f"the {side}'s BYE is not the proxy's own\n{bye}"
    assert proxy in vias[0], f"the {side}'s BYE is not the proxy's own\n{bye}"
    assert header(bye, "Reason") == BYE_REASON, bye
    assert header(bye, "Call-ID") == call_id, bye
    return bye


# -- the test --------------------------------------------------------------------------------------


def test_call_crossing_the_budget_is_ended_on_both_legs_and_the_next_call_is_refused(
    service: Any, phones: Any, world: Any, call_id: str, toolkit: Any, tmp_path: Path
) -> None:
    rates = tmp_path / "rates.csv"
    rates.write_text(f"prefix,price,currency\n1212,{PRICE_PER_MINUTE},{CURRENCY}\n")
    admin(service, "rates", "import", "--global", str(rates))
    admin(service, "budget", "set", TENANT, "--daily", str(DAILY_BUDGET),
          "--monthly", str(MONTHLY_BUDGET))  # fmt: skip

    # The call is answered and neither side hangs up: the proxy does, on both legs.
    waits = {"reason": REASON, "bye_within_ms": str(BYE_WITHIN_MS)}
    gateway = phones.sipp.start(
        "gateway_uas_hungup.xml",
        transport=phones.transport,
        local_ip=GATEWAY_IP,
        local_port=world.gateway_port,
        fill={
            "presented": re.escape(world.alice_number),
            "dialled": re.escape(world.dialled),
            **waits,
        },
    )
    toolkit.wait_bound(GATEWAY_IP, world.gateway_port, phones.transport)
    caller = phones.call(world.alice, world.dialled, call_id, "uac_call_hungup.xml", fill=waits)
    caller, gateway = phones.conclude(caller, gateway)

    to_caller = assert_the_proxys_own_bye(service, caller, "caller", call_id)
    to_gateway = assert_the_proxys_own_bye(service, gateway, "gateway", call_id)
    # Each BYE is in its leg's dialog (RFC 3261 §12.2.1.1): the caller's tag and the
    # gateway's, the right way round for each side.
    caller_tag = tag(header(caller.messages("sent")[0], "From"))
    gateway_tag = tag(header(gateway.received("ACK ")[0], "To"))
    assert (tag(header(to_caller, "From")), tag(header(to_caller, "To"))) == (
        gateway_tag,
        caller_tag,
    ), to_caller
    assert (tag(header(to_gateway, "From")), tag(header(to_gateway, "To"))) == (
        caller_tag,
        gateway_tag,
    ), to_gateway

    low, high = ANSWERED_SECONDS
    talked = answered_seconds(caller)
    assert low <= talked <= high, f"answered for {talked:.2f}s\n{caller.describe()}"

    # The next call: refused before it reaches the trunk, whose gateway listens all along.
    next_call = phones.new_call_id()
    listening = phones.gateway_answering(presented=world.alice_number, dialled=world.dialled)
    refused = phones.call(
        world.alice, world.dialled, next_call, "uac_refused.xml", fill={"status": "403"}
    )
    listening.terminate()
    assert listening.result.received("INVITE ") == [], (
        "the call after the budget was spent reached the trunk gateway\n"
        f"{refused.describe()}\n\n{listening.result.describe()}"
    )
    assert refused.returncode == 0, f"{refused.describe()}\n\n{listening.result.describe()}"
    warning = header(refused.received("SIP/2.0 403")[0], "Warning")
    assert warning is not None, refused.describe()
    assert re.fullmatch(rf'399 \S+ "{REASON}(: [^"]*)?"', warning), warning

    found = records(service, call_id, next_call)
    record, second = found[call_id], found[next_call]
    assert (record["direction"], record["callee"]) == ("outbound", world.dialled), record
    assert (record["final_status"], record["reason"]) == (200, REASON), record
    assert low <= record["duration"] <= high, record
    assert (second["final_status"], second["reason"]) == (403, REASON), second
    assert second["answered_at"] is None, second
    # What the ended call cost: priced per second, and within the budget.
    assert "cost" in record, f"the call record has no cost: {record}"
    assert "currency" in record, f"the call record has no currency: {record}"
    cost = Decimal(str(record["cost"]))
    assert Decimal(0) < cost <= DAILY_BUDGET, record
    assert abs(cost - PRICE_PER_SECOND * Decimal(str(record["duration"]))) <= Decimal("0.01")
    assert record["currency"] == CURRENCY, record
