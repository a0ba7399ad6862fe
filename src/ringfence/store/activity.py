"""What the call path writes: registrations (bindings) and call records.

Each function runs inside a transaction the caller opened (see :class:`ringfence.store.Store`).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from sqlalchemy import bindparam, delete, insert, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from ringfence.accounts.model import TenantId
from ringfence.store.records import BindingsWrite, CallRecord, StoredBinding
from ringfence.store.schema import BindingRow, CallRecordRow

__all__ = [
    "add_call_record",
    "apply_writes",
    "delete_expired_bindings",
    "list_call_records",
    "load_bindings",
    "outbound_records_since",
    "replace_bindings",
]


def _binding(row: BindingRow) -> StoredBinding:
    return StoredBinding(
        tenant_id=TenantId(row.tenant_id),
        ext=row.ext,
        contact=row.contact,
        expires_at=row.expires_at,
        call_id=row.call_id,
        cseq=row.cseq,
        q=row.q,
        instance=row.instance,
        reg_id=row.reg_id,
        transport=row.transport,
        source_host=row.source_host,
        source_port=row.source_port,
        user_agent=row.user_agent,
    )


def _record(row: CallRecordRow) -> CallRecord:
    return CallRecord(
        id=row.id,
        tenant_id=TenantId(row.tenant_id),
        call_id=row.call_id,
        caller=row.caller,
        callee=row.callee,
        direction=row.direction,
        started_at=row.started_at,
        answered_at=row.answered_at,
        ended_at=row.ended_at,
        duration=row.duration,
        final_status=row.final_status,
        reason=row.reason,
        cost=None if row.cost is None else Decimal(row.cost),
        currency=row.currency,
    )


def _binding_values(b: StoredBinding) -> dict[str, object]:
    return {
        "tenant_id": b.tenant_id,
        "ext": b.ext,
        "contact": b.contact,
        "expires_at": b.expires_at,
        "call_id": b.call_id,
        "cseq": b.cseq,
        "q": b.q,
        "instance": b.instance,
        "reg_id": b.reg_id,
        "transport": b.transport,
        "source_host": b.source_host,
        "source_port": b.source_port,
        "user_agent": b.user_agent,
    }


def _record_values(record: CallRecord) -> dict[str, object]:
    return {
        "tenant_id": record.tenant_id,
        "call_id": record.call_id,
        "caller": record.caller,
        "callee": record.callee,
        "direction": record.direction,
        "started_at": record.started_at,
        "answered_at": record.answered_at,
        "ended_at": record.ended_at,
        "duration": record.duration,
        "final_status": record.final_status,
        "reason": record.reason,
        "cost": None if record.cost is None else str(record.cost),
        "currency": record.currency,
    }


def _check_owner(tenant_id: TenantId, ext: str, bindings: Sequence[StoredBinding]) -> None:
    for binding in bindings:
        if binding.tenant_id != tenant_id or binding.ext != ext:
            raise ValueError(
                f"a binding of ({binding.tenant_id}, {binding.ext}) given to replace the"
                f" bindings of ({tenant_id}, {ext})"
            )


def replace_bindings(
    session: Session, tenant_id: TenantId, ext: str, bindings: Sequence[StoredBinding]
) -> None:
    """Make ``bindings`` the whole set of the address-of-record (tenant, ext)."""
    apply_writes(
        session.connection(),
        [BindingsWrite(tenant_id=tenant_id, ext=ext, bindings=tuple(bindings))],
    )


_BINDINGS = BindingRow.metadata.tables[BindingRow.__tablename__]
_CALL_RECORDS = CallRecordRow.metadata.tables[CallRecordRow.__tablename__]
_DELETE_AOR = delete(_BINDINGS).where(
    _BINDINGS.c.tenant_id == bindparam("aor_tenant"), _BINDINGS.c.ext == bindparam("aor_ext")
)


def apply_writes(connection: Connection, writes: Sequence[BindingsWrite | CallRecord]) -> None:
    """Apply the call path's writes of one group commit, in a transaction the caller opened.

    Only the last replacement of each address-of-record counts (a later one replaces the whole
    set anyway), and each kind of write goes to the database as one executemany statement: the
    cost of a group is a handful of statements, whatever its size.
    """
    latest: dict[tuple[int, str], BindingsWrite] = {}
    records: list[dict[str, object]] = []
    for write in writes:
        if isinstance(write, CallRecord):
            records.append(_record_values(write))
        else:
            _check_owner(write.tenant_id, write.ext, write.bindings)
            latest.pop((write.tenant_id, write.ext), None)
            latest[(write.tenant_id, write.ext)] = write
    if latest:
        connection.execute(_DELETE_AOR, [{"aor_tenant": t, "aor_ext": e} for t, e in latest])
        rows = [_binding_values(b) for w in latest.values() for b in w.bindings]
        if rows:
            connection.execute(insert(_BINDINGS), rows)
    if records:
        connection.execute(insert(_CALL_RECORDS), records)


def load_bindings(session: Session, tenant_id: TenantId | None) -> list[StoredBinding]:
    query = select(BindingRow).order_by(BindingRow.tenant_id, BindingRow.ext, BindingRow.id)
    if tenant_id is not None:
        query = query.where(BindingRow.tenant_id == tenant_id)
    return [_binding(r) for r in session.scalars(query)]


def delete_expired_bindings(session: Session, now: float) -> int:
    result = session.execute(delete(BindingRow).where(BindingRow.expires_at <= now))
    return int(getattr(result, "rowcount", 0) or 0)


def add_call_record(session: Session, record: CallRecord) -> CallRecord:
    row = CallRecordRow(**_record_values(record))
    session.add(row)
    session.flush()
    return _record(row)


def outbound_records_since(session: Session, since: float) -> list[CallRecord]:
    """Every tenant's outbound call records that ended at or after ``since`` (for the usage
    throttles after a restart)."""
    rows = session.scalars(
        select(CallRecordRow)
        .where(CallRecordRow.ended_at >= since, CallRecordRow.direction == "outbound")
        .order_by(CallRecordRow.ended_at)
    )
    return [_record(r) for r in rows]


def list_call_records(session: Session, tenant_id: TenantId, *, limit: int) -> list[CallRecord]:
    """This tenant's records, the most recently ended first."""
    rows = session.scalars(
        select(CallRecordRow)
        .where(CallRecordRow.tenant_id == tenant_id)
        .order_by(CallRecordRow.ended_at.desc(), CallRecordRow.id.desc())
        .limit(limit)
    )
    return [_record(r) for r in rows]
