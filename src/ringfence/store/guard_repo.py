"""Bans shared by every node.

A node writes the bans it decided (merged with what the store holds: the longer ban and the
higher offence count win) and reads back every row changed since its last sync, so a ban made
on one node holds on all within a couple of seconds, and across a restart. An operator's
``bans remove`` marks the row lifted rather than deleting it, so that a node which still holds
the ban drops it, and the row goes once it is old.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from sqlalchemy import and_, case, delete, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from ringfence.guard.model import Ban
from ringfence.store.schema import BanRow

__all__ = ["KEEP_LAPSED", "active_bans", "lift_ban", "load_bans", "put_ban", "sync_bans"]

#: A lapsed or lifted ban's row is kept this long (seconds): the ladder of repeat offences
#: reads it after a restart, and a node that was away learns of a lift.
KEEP_LAPSED = 8 * 86400.0


def _ban(row: BanRow) -> Ban:
    return Ban(
        network=row.network,
        since=row.since,
        until=math.inf if row.until is None else row.until,
        reason=row.reason,
        offences=row.offences,
        lifted=row.lifted,
    )


def _until(ban: Ban) -> float | None:
    return None if math.isinf(ban.until) else ban.until


def load_bans(session: Session, *, since: float) -> list[Ban]:
    """Every row changed since ``since``, oldest change first."""
    rows = session.scalars(
        select(BanRow).where(BanRow.updated_at >= since).order_by(BanRow.updated_at)
    )
    return [_ban(r) for r in rows]


def active_bans(session: Session, *, now: float) -> list[Ban]:
    """The bans in force, longest-lasting first (a ban without end leads)."""
    rows = session.scalars(
        select(BanRow).where(
            BanRow.lifted.is_(False), or_(BanRow.until.is_(None), BanRow.until > now)
        )
    )
    return sorted((_ban(r) for r in rows), key=lambda b: (-b.until, b.network))


def sync_bans(session: Session, *, bans: Iterable[Ban], now: float, since: float) -> list[Ban]:
    """Write this node's new bans and lifts, drop rows long lapsed, and return every row
    changed since ``since`` (this node's own included)."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    # In key order: two nodes lock the same rows in the same order, so they never deadlock.
    for ban in sorted(bans, key=lambda b: b.network):
        if ban.lifted:
            _lift(session, ban.network, at=ban.until, now=now)
            continue
        statement = insert(BanRow).values(
            network=ban.network,
            since=ban.since,
            until=_until(ban),
            reason=ban.reason,
            offences=ban.offences,
            lifted=False,
            updated_at=now,
        )
        new = statement.excluded
        # A row lifted or lapsed takes the new ban whole; one in force keeps the longer end
        # (NULL, no end, is the longest) and the higher count of offences.
        stale = or_(BanRow.lifted.is_(True), and_(BanRow.until.is_not(None), BanRow.until <= now))
        session.execute(
            statement.on_conflict_do_update(
                index_elements=["network"],
                set_={
                    "since": new.since,
                    "reason": case((stale, new.reason), else_=BanRow.reason),
                    "until": case(
                        (stale, new.until),
                        (or_(BanRow.until.is_(None), new.until.is_(None)), None),
                        (new.until > BanRow.until, new.until),
                        else_=BanRow.until,
                    ),
                    "offences": case(
                        (new.offences > BanRow.offences, new.offences), else_=BanRow.offences
                    ),
                    "lifted": False,
                    "updated_at": now,
                },
            )
        )
    session.execute(
        delete(BanRow).where(
            BanRow.updated_at < now - KEEP_LAPSED,
            or_(BanRow.lifted.is_(True), and_(BanRow.until.is_not(None), BanRow.until < now)),
        )
    )
    session.flush()
    return load_bans(session, since=since)


def put_ban(session: Session, ban: Ban, *, now: float) -> None:
    """An operator's ban, exactly as given (it replaces whatever the row held)."""
    row = session.get(BanRow, ban.network)
    if row is None:
        row = BanRow(network=ban.network)
        session.add(row)
    previous = 0 if row.offences is None or row.lifted else row.offences
    row.since, row.until, row.reason = ban.since, _until(ban), ban.reason
    row.offences, row.lifted, row.updated_at = max(ban.offences, previous), False, now
    session.flush()


def lift_ban(session: Session, network: str, *, now: float) -> Ban | None:
    """Lift the ban on ``network`` (in canonical form); the ban that was in force, if any."""
    row = session.get(BanRow, network)
    if row is None or row.lifted or (row.until is not None and row.until <= now):
        return None
    was = _ban(row)
    _lift(session, network, at=now, now=now)
    return was


def _lift(session: Session, network: str, *, at: float, now: float) -> None:
    # A lift decided before the row's ban was made (another node banned it again since)
    # leaves the newer ban alone.
    session.execute(
        update(BanRow)
        .where(BanRow.network == network, BanRow.since <= at)
        .values(lifted=True, until=at, updated_at=now)
    )
