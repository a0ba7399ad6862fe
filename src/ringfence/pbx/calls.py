"""Calls in progress and their records: one record per call attempt, written when it ends.

The tracker follows each INVITE dialog that passes through the proxy: attempted, answered,
ended or refused (with its reason code). It also answers "is this an established dialog we
record-routed?", so that in-dialog requests for unknown dialogs are refused instead of relayed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ringfence.accounts import TenantId
from ringfence.store import CallRecord

__all__ = ["CallState", "CallTracker"]


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


class CallTracker:
    """Live calls by (Call-ID, From tag)."""

    def __init__(self) -> None:
        self._calls: dict[tuple[str, str], CallState] = {}

    def __len__(self) -> int:
        return len(self._calls)

    def answered_count(self) -> int:
        return sum(1 for c in self._calls.values() if c.answered_at is not None)

    def start(self, state: CallState) -> None:
        self._calls.setdefault((state.call_id, state.from_tag), state)

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
        self._calls.pop((state.call_id, state.from_tag), None)
        duration = 0.0 if state.answered_at is None else max(0.0, now - state.answered_at)
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
        )
