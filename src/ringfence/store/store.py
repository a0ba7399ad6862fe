"""The store: one object over the database, for the service, the admin side and the tests.

Every method runs one short transaction and returns plain values (never ORM objects); a method
that fails has written nothing. Methods are synchronous and thread-safe: the service calls them
from a worker thread, so that the event loop never waits on the database.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from types import TracebackType

from ringfence.accounts.directory import Directory
from ringfence.accounts.model import AuditEntry, TenantId
from ringfence.errors import Conflict, InvalidInput, NotFound, SchemaMismatch
from ringfence.fraud.events import Response
from ringfence.guard.model import Ban
from ringfence.store import activity, fraud_repo, guard_repo, usage_repo
from ringfence.store.accounts_repo import SqlAccountsUnitOfWork, load_directory, read_revision
from ringfence.store.database import Database
from ringfence.store.fraud_repo import Notice, OutboxEntry, Recorded
from ringfence.store.migrate import current_revision, head_revision, upgrade
from ringfence.store.records import CALL_DIRECTIONS, BindingsWrite, CallRecord, StoredBinding
from ringfence.store.usage_repo import SpendKey

__all__ = ["Migration", "Store"]

MAX_LIMIT = 10_000


def _check_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"the limit must be from 1 to {MAX_LIMIT}")
    return limit


class Migration:
    """What :meth:`Store.migrate` did: the schema revision before (``None``: empty) and after."""

    __slots__ = ("after", "before")

    def __init__(self, before: str | None, after: str) -> None:
        self.before = before
        self.after = after

    @property
    def changed(self) -> bool:
        return self.before != self.after

    def __repr__(self) -> str:
        return f"Migration(before={self.before!r}, after={self.after!r})"


class Store:
    """SQLite or PostgreSQL behind one interface. Open with :meth:`open`; close when done."""

    def __init__(self, database: Database) -> None:
        self._db = database

    @classmethod
    def open(
        cls,
        url: str,
        *,
        create: bool = True,
        sqlite_synchronous: str = "FULL",
        busy_timeout: float = 5.0,
    ) -> Store:
        """Open ``sqlite:///PATH`` or ``postgresql://USER@HOST:PORT/DB`` (psycopg 3).

        Nothing is read yet. With ``create=False`` a missing SQLite file is an error instead of
        an empty new database. ``sqlite_synchronous="NORMAL"`` trades the last commits before a
        power cut (never before a process crash) for fewer fsyncs. ``busy_timeout`` is how long
        a SQLite writer waits for another's lock, in seconds.
        """
        database = Database(
            url, create=create, sqlite_synchronous=sqlite_synchronous, busy_timeout=busy_timeout
        )
        return cls(database)

    @property
    def url(self) -> str:
        """The database URL with its password hidden, fit for messages and logs."""
        return self._db.shown_url

    @property
    def sqlite_path(self) -> Path | None:
        """The SQLite file, or ``None`` for PostgreSQL."""
        return Path(self._db.url.database or "") if self.backend == "sqlite" else None

    @property
    def backend(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self._db.backend

    def close(self) -> None:
        self._db.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # -- schema ---------------------------------------------------------------------------

    def migrate(self) -> Migration:
        """``alembic upgrade head``, in one transaction (serialised across PostgreSQL nodes)."""
        before, after = upgrade(self._db)
        return Migration(before, after)

    def check_schema(self) -> None:
        """Raise :class:`SchemaMismatch` unless the database is at this code's revision."""
        current, head = current_revision(self._db), head_revision()
        if current is None:
            raise SchemaMismatch(
                f"the database {self.url} has no ringfence schema (run: ringfence init)"
            )
        if current != head:
            raise SchemaMismatch(
                f"the database {self.url} is at schema revision {current}, this ringfence needs"
                f" {head} (run: ringfence init, which migrates it)"
            )

    # -- accounts -------------------------------------------------------------------------

    def revision(self) -> int:
        """The admin revision: it moves with every committed admin change. One cheap query."""
        with self._db.read() as session:
            return read_revision(session)

    def load_directory(self) -> Directory:
        """A snapshot of every tenant's accounts, read in one transaction."""
        with self._db.read(snapshot=True) as session:
            return load_directory(session)

    @contextmanager
    def unit_of_work(self) -> Iterator[SqlAccountsUnitOfWork]:
        """One admin transaction (:class:`ringfence.accounts.AccountsUnitOfWork`): committed,
        with the revision bumped, when the block ends; rolled back when it raises."""
        with self._db.write() as session:
            uow = SqlAccountsUnitOfWork(session)
            yield uow
            uow.bump_revision()

    def list_audit(self, tenant_id: TenantId | None, *, limit: int = 100) -> list[AuditEntry]:
        """Admin actions, newest first: of one tenant, or of the whole service (``None``)."""
        with self._db.read() as session:
            return SqlAccountsUnitOfWork(session).audit_entries(
                tenant_id, limit=_check_limit(limit)
            )

    # -- registrations --------------------------------------------------------------------

    def replace_bindings(
        self, tenant_id: TenantId, ext: str, bindings: Sequence[StoredBinding]
    ) -> None:
        """Make ``bindings`` the whole set of registrations of (tenant, ext), atomically; an
        empty sequence unregisters it. Raises :class:`NotFound` when the extension is gone."""
        try:
            with self._db.write() as session:
                activity.replace_bindings(session, tenant_id, ext, bindings)
        except Conflict as error:
            raise NotFound(f"tenant {tenant_id} has no extension {ext!r} (removed?)") from error

    def load_bindings(self) -> list[StoredBinding]:
        """Every stored binding of every tenant, expired ones included.

        For start-up only: the service fills its in-memory location store from it once. It is
        the one read that crosses tenants, on purpose; anything serving one tenant uses
        :meth:`list_bindings`.
        """
        with self._db.read() as session:
            return activity.load_bindings(session, None)

    def list_bindings(self, tenant_id: TenantId) -> list[StoredBinding]:
        """This tenant's stored bindings (expired ones included), by extension."""
        with self._db.read() as session:
            return activity.load_bindings(session, tenant_id)

    def delete_expired_bindings(self, now: float) -> int:
        """Delete bindings whose ``expires_at`` is at or before ``now``; return how many."""
        with self._db.write() as session:
            return activity.delete_expired_bindings(session, now)

    # -- call records ---------------------------------------------------------------------

    def add_call_record(self, record: CallRecord) -> CallRecord:
        """Write one call record; it is committed when this returns. Returns it with its id."""
        if record.direction not in CALL_DIRECTIONS:
            raise InvalidInput(f"direction {record.direction!r} is not one of {CALL_DIRECTIONS}")
        try:
            with self._db.write() as session:
                return activity.add_call_record(session, record)
        except Conflict as error:
            raise NotFound(f"no tenant {record.tenant_id} for call {record.call_id!r}") from error

    def write_batch(self, writes: Sequence[BindingsWrite | CallRecord]) -> None:
        """Commit several call-path writes in one transaction (group commit).

        ``writes`` holds replacements of one AOR's bindings (:class:`BindingsWrite`) and call
        records, applied in order. All are committed together or none is: the caller falls back
        to writing them one by one, so one bad write cannot sink the others.
        """
        for write in writes:
            if isinstance(write, CallRecord) and write.direction not in CALL_DIRECTIONS:
                raise InvalidInput(f"direction {write.direction!r} is not one of {CALL_DIRECTIONS}")
        try:
            with self._db.connection() as connection:
                activity.apply_writes(connection, writes)
        except Conflict as error:
            raise NotFound(f"a write of the batch names something gone: {error}") from error

    def outbound_records_since(self, since: float) -> list[CallRecord]:
        """Every tenant's outbound call records that ended at or after ``since``, oldest first:
        at start, the usage throttles rebuild their call rates and spend from them. Crosses
        tenants on purpose, like :meth:`load_bindings`."""
        with self._db.read() as session:
            return activity.outbound_records_since(session, since)

    # -- fraud incidents and the outbox ---------------------------------------------------

    def record_response(
        self,
        *,
        tenant_id: int,
        ext: str | None,
        level: Response,
        score: int,
        summary: str,
        action: str,
        at: float,
        notice: Notice | None,
        new_ha1s: Callable[[str, str], tuple[str, str]] | None = None,
    ) -> Recorded:
        """Open or escalate the scope's incident, with its hold and (once) its notices, and
        reset a contained extension's password if its tenant asked; see
        :func:`ringfence.store.fraud_repo.record_response`."""
        with self._db.write() as session:
            return fraud_repo.record_response(
                session,
                tenant_id=tenant_id,
                ext=ext,
                level=level,
                score=score,
                summary=summary,
                action=action,
                at=at,
                notice=notice,
                new_ha1s=new_ha1s,
            )

    def queue_notice(self, *, tenant_id: int, notice: Notice, at: float) -> int:
        """A security notice of no fraud incident (the perimeter's) into the outbox."""
        with self._db.write() as session:
            return fraud_repo.queue_notice(
                session, tenant_id=tenant_id, incident_id=0, notice=notice, at=at
            )

    def lift_pin_hold(self, *, tenant_id: int, ext: str, action: str, at: float) -> None:
        with self._db.write() as session:
            fraud_repo.lift_pin_hold(session, tenant_id=tenant_id, ext=ext, action=action, at=at)

    # -- bans shared by the nodes --------------------------------------------------------------

    def load_bans(self, *, since: float) -> list[Ban]:
        with self._db.read() as session:
            return guard_repo.load_bans(session, since=since)

    def sync_bans(self, *, bans: list[Ban], now: float, since: float) -> list[Ban]:
        """See :func:`ringfence.store.guard_repo.sync_bans`: one write transaction."""
        with self._db.write() as session:
            return guard_repo.sync_bans(session, bans=bans, now=now, since=since)

    # -- usage shared by the nodes -------------------------------------------------------------

    def load_spend(self, *, since: float) -> dict[SpendKey, Decimal]:
        with self._db.read() as session:
            return usage_repo.load_spend(session, since=since)

    def seed_spend(self, *, spend: dict[SpendKey, Decimal], now: float) -> bool:
        """See :func:`ringfence.store.usage_repo.seed_spend`: one write transaction."""
        with self._db.write() as session:
            return usage_repo.seed_spend(session, spend=spend, now=now)

    def sync_usage(
        self,
        *,
        node: str,
        spend: dict[SpendKey, Decimal],
        report: dict[str, int],
        now: float,
        since: float,
    ) -> tuple[dict[SpendKey, Decimal], dict[str, int]]:
        """See :func:`ringfence.store.usage_repo.sync_usage`: one write transaction."""
        with self._db.write() as session:
            return usage_repo.sync_usage(
                session, node=node, spend=spend, report=report, now=now, since=since
            )

    def close_quiet_incident(
        self, *, tenant_id: int, ext: str | None, action: str, at: float
    ) -> bool:
        with self._db.write() as session:
            return fraud_repo.close_quiet_incident(
                session, tenant_id=tenant_id, ext=ext, action=action, at=at
            )

    def pending_notifications(self, *, limit: int = 50) -> list[OutboxEntry]:
        with self._db.read() as session:
            return fraud_repo.pending_notifications(session, limit=limit)

    def finish_notification(
        self,
        notification_id: int,
        *,
        attempts: int,
        delivered_at: float | None,
        error: str | None,
        gave_up: bool,
    ) -> None:
        with self._db.write() as session:
            fraud_repo.finish_notification(
                session,
                notification_id,
                attempts=attempts,
                delivered_at=delivered_at,
                error=error,
                gave_up=gave_up,
            )

    def list_call_records(self, tenant_id: TenantId, *, limit: int = 100) -> list[CallRecord]:
        """This tenant's call records, the most recently ended first."""
        with self._db.read() as session:
            return activity.list_call_records(session, tenant_id, limit=_check_limit(limit))
