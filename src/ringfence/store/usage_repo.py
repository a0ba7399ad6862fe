"""Usage shared by every node: spend counters and each node's live calls and call starts.

A node adds what its calls cost with one ``INSERT … ON CONFLICT DO UPDATE SET micros = micros +
…`` per counter, so two nodes adding at once both count, on SQLite and PostgreSQL alike; the
counters are kept in millionths so that the database adds integers. Each node rewrites its own
live counts every second; the others read those younger than :data:`STALE` seconds, so a node
that died stops counting within a few seconds.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from sqlalchemy import delete, func, or_, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from ringfence.store.schema import TenantRow, UsageNodeRow, UsageSpendRow

__all__ = ["STALE", "SpendKey", "load_spend", "seed_spend", "sync_usage"]

SpendKey = tuple[int, str, str]  # tenant, extension ("" for the tenant), period

#: A node's live counts older than this (seconds) are a dead node's: not counted.
STALE = 5.0
_MICROS = Decimal(1_000_000)


def _micros(amount: Decimal) -> int:
    return int((amount * _MICROS).to_integral_value())


def _spend(rows: Iterable[UsageSpendRow]) -> dict[SpendKey, Decimal]:
    return {(r.tenant_id, r.ext, r.period): Decimal(r.micros) / _MICROS for r in rows}


def load_spend(session: Session, *, since: float) -> dict[SpendKey, Decimal]:
    """Every counter written since ``since`` (at start: the last month or so)."""
    return _spend(session.scalars(select(UsageSpendRow).where(UsageSpendRow.updated_at >= since)))


def seed_spend(session: Session, *, spend: dict[SpendKey, Decimal], now: float) -> bool:
    """Fill the counters with ``spend`` (what the call records say was spent) when they have
    none at all, as on the first start after the upgrade that brought them; whether it did.

    Whichever node comes first fills them, once: the check and the fill hold the counters'
    table locked (SQLite's write transaction does; on PostgreSQL a lock in exclusive mode
    that lets readers on), so two nodes starting together do not both add the records."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"LOCK TABLE {UsageSpendRow.__tablename__} IN EXCLUSIVE MODE"))
    if session.scalar(select(UsageSpendRow.tenant_id).limit(1)) is not None:
        return False
    tenants = {tenant_id for tenant_id, _, _ in spend}
    existing = (
        set(session.scalars(select(TenantRow.id).where(TenantRow.id.in_(tenants))))
        if tenants
        else set()
    )
    session.add_all(
        UsageSpendRow(
            tenant_id=tenant_id, ext=ext, period=period, micros=_micros(amount), updated_at=now
        )
        for (tenant_id, ext, period), amount in sorted(spend.items())
        if tenant_id in existing and amount > 0
    )
    session.flush()
    return True


def sync_usage(
    session: Session,
    *,
    node: str,
    spend: dict[SpendKey, Decimal],
    report: dict[str, int],
    now: float,
    since: float,
) -> tuple[dict[SpendKey, Decimal], dict[str, int]]:
    """Add this node's new spend to the counters, replace its live counts, and return the
    counters written since ``since`` (by any node) and the other nodes' live counts, summed."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    # Spend of a tenant removed while its call ran has nowhere to go: dropped, not let fail
    # (the foreign key would refuse the whole sync, every node's counters with it, for good).
    tenants = {tenant_id for tenant_id, _, _ in spend}
    existing = (
        set(session.scalars(select(TenantRow.id).where(TenantRow.id.in_(tenants))))
        if tenants
        else set()
    )
    # In key order: two nodes lock the same rows in the same order, so they never deadlock.
    for (tenant_id, ext, period), amount in sorted(spend.items()):
        if tenant_id not in existing:
            continue
        statement = insert(UsageSpendRow).values(
            tenant_id=tenant_id, ext=ext, period=period, micros=_micros(amount), updated_at=now
        )
        session.execute(
            statement.on_conflict_do_update(
                index_elements=["tenant_id", "ext", "period"],
                set_={
                    "micros": UsageSpendRow.micros + statement.excluded.micros,
                    "updated_at": now,
                },
            )
        )
    session.execute(
        delete(UsageNodeRow).where(
            or_(UsageNodeRow.node == node, UsageNodeRow.at < now - 60 * STALE)
        )
    )
    session.add_all(
        UsageNodeRow(node=node, key=key, count=count, at=now) for key, count in report.items()
    )
    session.flush()
    totals = _spend(session.scalars(select(UsageSpendRow).where(UsageSpendRow.updated_at >= since)))
    others = {
        key: int(count)
        for key, count in session.execute(
            select(UsageNodeRow.key, func.sum(UsageNodeRow.count))
            .where(UsageNodeRow.node != node, UsageNodeRow.at >= now - STALE)
            .group_by(UsageNodeRow.key)
        )
    }
    return totals, others
