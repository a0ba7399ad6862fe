"""Values the call path writes: registrations (bindings) and call records."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from ringfence.accounts.model import TenantId

__all__ = ["CALL_DIRECTIONS", "BindingsWrite", "CallRecord", "StoredBinding"]

CALL_DIRECTIONS = ("internal", "outbound", "inbound")


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredBinding:
    """One registered contact of an extension, as the store keeps it.

    ``contact`` is the Contact value as text (name-addr with its parameters); ``expires_at``
    is wall-clock epoch seconds. ``transport``, ``source_host`` and ``source_port`` say where
    the REGISTER came from: a phone behind NAT is reached there (RFC 3581, RFC 5626 §5).
    """

    tenant_id: TenantId
    ext: str
    contact: str
    expires_at: float
    call_id: str
    cseq: int
    q: float | None = None
    instance: str | None = None
    reg_id: str | None = None
    transport: str
    source_host: str
    source_port: int
    user_agent: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CallRecord:
    """One call attempt: who called whom, which way, when, and how it ended.

        ``direction`` is ``internal``, ``outbound`` or ``inbound``. Times are epoch seconds;
        ``answered_at`` is ``None`` for a call never answered, and ``duration`` counts seconds from
        answer to end (0 when unanswered). ``reason`` is the reason code of a refused call (for
        example ``intl_disabled``). ``cost`` is what a priced call cost (rate table currency), for
    the spend budgets. ``id`` is ``None`` until the store has written the record.
    """

    id: int | None
    tenant_id: TenantId
    call_id: str
    caller: str
    callee: str
    direction: str
    started_at: float
    answered_at: float | None
    ended_at: float
    duration: float
    final_status: int
    reason: str | None = None
    cost: Decimal | None = None  # what an outbound call cost, from the rate table
    currency: str | None = None

    def __post_init__(self) -> None:
        if self.direction not in CALL_DIRECTIONS:
            raise ValueError(
                f"direction {self.direction!r} is not one of {', '.join(CALL_DIRECTIONS)}"
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class BindingsWrite:
    """Make ``bindings`` the whole set of registrations of (tenant, ext): one write of a batch."""

    tenant_id: TenantId
    ext: str
    bindings: tuple[StoredBinding, ...]
