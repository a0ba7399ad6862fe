"""Calls in progress and their records: one record per call attempt, written when it ends.

The tracker follows each INVITE dialog that passes through the proxy: attempted, answered,
ended or refused (with its reason code). It also answers "is this an established dialog we
record-routed?", so that in-dialog requests for unknown dialogs are refused instead of relayed.

For the usage throttles it counts the outbound calls in progress (per extension, tenant and
trunk, international ones apart), prices each one as it runs, and tells the
:class:`~ringfence.fraud.UsageLedger` of every outbound start and of what each call cost.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, replace
from decimal import Decimal

from ringfence.accounts import TenantId
from ringfence.fraud import (
    CallEnded,
    Detector,
    InboundCall,
    PricedCall,
    RunningCall,
    UsageLedger,
    periods,
    usage_key,
)
from ringfence.policy import normalise
from ringfence.store import CallRecord

__all__ = ["CallState", "CallTracker"]

_CENT_FRACTION = Decimal("0.0001")


@dataclass(frozen=True, slots=True, kw_only=True)
class CallState:
    tenant_id: TenantId
    call_id: str
    from_tag: str
    caller: str
    callee: str
    direction: str
    started_at: float
    answered_at: float | None = None
    #: How far the callee side's CSeq runs ahead of the caller's: an INVITE the proxy had to send
    #: again with credentials for a trunk took the next number, so the caller's later requests in
    #: the dialog are shifted by this much on their way out and back.
    cseq_offset: int = 0
    # Outbound calls only: the trunk, whether it leaves the tenant's country, its price per
    # minute (None: unpriced) and the tenant's clock (budgets are per local day and month).
    trunk_id: int | None = None
    international: bool = False
    price: Decimal | None = None
    currency: str | None = None
    timezone: str = "UTC"
    country: str = ""  # the tenant's (for the detector's view of inbound callers)

    def cost(self, now: float) -> Decimal | None:
        """What the call has cost so far: per second, from the answer."""
        if self.price is None or self.answered_at is None:
            return None
        seconds = Decimal(str(round(max(0.0, now - self.answered_at), 3)))
        return (self.price * seconds / 60).quantize(_CENT_FRACTION)


def _keys(state: CallState) -> Iterator[tuple[object, ...]]:
    """The counters an outbound call in progress adds to."""
    yield ("ext", state.tenant_id, state.caller)
    yield ("tenant", state.tenant_id)
    yield ("trunk", state.trunk_id)
    if state.international:
        yield ("intl-ext", state.tenant_id, state.caller)
        yield ("intl-tenant", state.tenant_id)


class CallTracker:
    """Live calls by (Call-ID, From tag)."""

    def __init__(self, ledger: UsageLedger | None = None, detector: Detector | None = None) -> None:
        self._calls: dict[tuple[str, str], CallState] = {}
        self._outbound: Counter[tuple[object, ...]] = Counter()
        self.ledger = ledger if ledger is not None else UsageLedger()
        #: Told of every call that ends (outbound: what it cost, whether it was a "test"
        #: call; inbound: the bait of a wangiri scheme).
        self.detector = detector

    def outbound(self, *key: object) -> int:
        """Outbound calls in progress, on this node and the others: ``("ext", tenant, ext)``,
        ``("tenant", tenant)``, ``("trunk", trunk_id)``, ``("intl-ext", tenant, ext)`` or
        ``("intl-tenant", tenant)``."""
        return self._outbound[key] + self.ledger.others(usage_key(*map(str, key)))

    def usage_report(self, now: float) -> dict[str, int]:
        """This node's live outbound calls and call starts, for the other nodes."""
        live = {usage_key(*map(str, key)): n for key, n in self._outbound.items() if n}
        return self.ledger.report(live, now)

    def running_cost(self, tenant_id: TenantId, ext: str, now: float) -> tuple[Decimal, Decimal]:
        """What the tenant's answered outbound calls in progress have cost so far, and the
        part of it that is the extension's."""
        tenant = mine = Decimal(0)
        if not self._outbound[("tenant", tenant_id)]:
            return tenant, mine
        for state in self._calls.values():
            if state.tenant_id == tenant_id and state.direction == "outbound":
                cost = state.cost(now)
                if cost is not None:
                    tenant += cost
                    if state.caller == ext:
                        mine += cost
        return tenant, mine

    def priced(self, now: float) -> list[PricedCall]:
        """The answered outbound calls in progress that have a price, for the budget watch."""
        out = []
        for key, state in self._calls.items():
            cost = state.cost(now)
            if cost is None or state.price is None or state.price <= 0:
                continue
            out.append(
                PricedCall(
                    key=key,
                    tenant_id=state.tenant_id,
                    ext=state.caller,
                    cost=cost,
                    per_second=state.price / 60,
                    periods=periods(state.started_at, state.timezone),
                )
            )
        return out

    def running(self, now: float) -> list[RunningCall]:
        """The answered outbound calls in progress, for the anomaly detector's watch."""
        return [
            RunningCall(
                tenant_id=state.tenant_id,
                ext=state.caller,
                call_key=f"{call_id};{tag}",
                international=state.international,
                cost=state.cost(now) or Decimal(0),
            )
            for (call_id, tag), state in self._calls.items()
            if state.direction == "outbound" and state.answered_at is not None
        ]

    def __len__(self) -> int:
        return len(self._calls)

    def answered_count(self) -> int:
        return sum(1 for c in self._calls.values() if c.answered_at is not None)

    def start(self, state: CallState) -> None:
        key = (state.call_id, state.from_tag)
        if key in self._calls:
            return
        self._calls[key] = state
        if state.direction == "outbound":
            self._outbound.update(_keys(state))
            self.ledger.started(
                state.tenant_id,
                state.caller,
                international=state.international,
                at=state.started_at,
            )

    @staticmethod
    def _tell_detector(
        detector: Detector, state: CallState, cost: Decimal | None, duration: float, now: float
    ) -> None:
        if state.direction == "outbound":
            detector.ended(
                CallEnded(
                    tenant_id=state.tenant_id,
                    ext=state.caller,
                    call_key=f"{state.call_id};{state.from_tag}",
                    at=now,
                    answered=state.answered_at is not None,
                    duration=duration,
                    cost=cost,
                )
            )
        elif state.direction == "inbound" and state.caller.startswith("+") and state.country:
            detector.inbound(
                InboundCall(
                    tenant_id=state.tenant_id,
                    caller=state.caller,
                    caller_country=normalise(state.caller, state.country).country,
                    home_country=state.country,
                    at=now,
                    answered=state.answered_at is not None,
                    rang_for=max(0.0, now - state.started_at),
                )
            )

    def get(self, call_id: str, tag_a: str | None, tag_b: str | None) -> CallState | None:
        """The call of a dialog, whichever side sends (the callee's From tag is our To tag)."""
        for tag in (tag_a, tag_b):
            if tag is not None:
                state = self._calls.get((call_id, tag))
                if state is not None:
                    return state
        return None

    def answered(self, call_id: str, from_tag: str, now: float) -> None:
        state = self._calls.get((call_id, from_tag))
        if state is not None and state.answered_at is None:
            self._calls[(call_id, from_tag)] = replace(state, answered_at=now)

    def shift_cseq(self, call_id: str, from_tag: str, by: int) -> None:
        state = self._calls.get((call_id, from_tag))
        if state is not None:
            self._calls[(call_id, from_tag)] = replace(state, cseq_offset=state.cseq_offset + by)

    def end(self, state: CallState, *, status: int, reason: str | None, now: float) -> CallRecord:
        """Close the call and return its record (the caller writes it to the store)."""
        live = self._calls.pop((state.call_id, state.from_tag), None)
        if live is not None and live.direction == "outbound":
            self._outbound.subtract(_keys(live))
        if live is not None:
            state = live  # with its answer time and what it was priced at
        duration = 0.0 if state.answered_at is None else max(0.0, now - state.answered_at)
        cost = state.cost(now)
        if cost is not None:
            self.ledger.spent(
                state.tenant_id, state.caller, cost, periods(state.started_at, state.timezone)
            )
        if self.detector is not None:
            self._tell_detector(self.detector, state, cost, duration, now)
        return CallRecord(
            id=None,
            tenant_id=state.tenant_id,
            call_id=state.call_id,
            caller=state.caller,
            callee=state.callee,
            direction=state.direction,
            started_at=state.started_at,
            answered_at=state.answered_at,
            ended_at=now,
            duration=round(duration, 3),
            final_status=status,
            reason=reason,
            cost=cost,
            currency=state.currency if cost is not None else None,
        )
