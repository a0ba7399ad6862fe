"""The operator's side, over one opened store: what the command line (and later the web API)
calls. Adapters import this module, never :mod:`ringfence.store` itself.

* :func:`initialise` prepares a data directory and database (``ringfence init``): idempotent.
* :func:`open_admin` opens the store named by the settings, checks that its schema is current,
  and returns an :class:`Admin` with the accounts service and the activity views.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from ringfence.accounts import (
    AccountsService,
    FraudService,
    GuardService,
    PolicyService,
    RandomSource,
    Tenant,
)
from ringfence.config import (
    Settings,
    certificate_hosts,
    ensure_certificate,
    ensure_data_dir,
    ensure_secret,
)
from ringfence.errors import InvalidInput
from ringfence.store import CallRecord, Store, StoredBinding

__all__ = [
    "Admin",
    "CallRecord",
    "InitReport",
    "StoredBinding",
    "TenantCall",
    "TenantRegistration",
    "initialise",
    "open_admin",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class InitReport:
    """What ``ringfence init`` found and did."""

    data_dir_created: bool
    secret_created: bool
    certificate_created: bool
    certificate_hosts: tuple[str, ...]
    schema_before: str | None
    schema_after: str
    database: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TenantCall:
    tenant: Tenant
    record: CallRecord


@dataclass(frozen=True, slots=True, kw_only=True)
class TenantRegistration:
    tenant: Tenant
    binding: StoredBinding


def initialise(settings: Settings, *, tls_hosts: Iterable[str] = ()) -> InitReport:
    """Create what is missing: data directory, secret, TLS certificate, database schema.

    What exists is kept: an existing certificate is not replaced, and the schema is migrated
    up to this version of ringfence, never down.
    """
    dir_created = ensure_data_dir(settings)
    secret_created = ensure_secret(settings)
    cert_created = ensure_certificate(settings, tls_hosts)
    with Store.open(settings.db_url) as store:
        migration = store.migrate()
        database = store.url
        if store.sqlite_path is not None:
            _owner_only(store.sqlite_path)
    return InitReport(
        data_dir_created=dir_created,
        secret_created=secret_created,
        certificate_created=cert_created,
        certificate_hosts=certificate_hosts(settings),
        schema_before=migration.before,
        schema_after=migration.after,
        database=database,
    )


def _owner_only(database: Path) -> None:
    """The database holds HA1 values (password equivalents): owner access only."""
    for path in database.parent.glob(database.name + "*"):
        with contextlib.suppress(OSError):
            path.chmod(0o600)


class Admin:
    """Admin services over one open store. Close it (or use ``with``) when done."""

    def __init__(
        self,
        store: Store,
        *,
        actor: str,
        clock: Callable[[], float],
        random: RandomSource,
    ) -> None:
        self._store = store
        self._clock = clock
        self.accounts = AccountsService(store, actor=actor, clock=clock, random=random)
        self.policy = PolicyService(store, actor=actor, clock=clock)
        self.fraud = FraudService(store, actor=actor, clock=clock)
        self.guard = GuardService(store, actor=actor, clock=clock)

    def close(self) -> None:
        self._store.close()

    def __enter__(self) -> Admin:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _tenants(self, tenant: str | None) -> list[Tenant]:
        return self.accounts.tenants() if tenant is None else [self.accounts.tenant(tenant)]

    def calls(self, tenant: str | None = None, *, limit: int = 50) -> list[TenantCall]:
        """Call records, the most recently ended first, of one tenant or of all."""
        if not 1 <= limit <= 10_000:
            raise InvalidInput("--limit must be from 1 to 10000")
        found = [
            TenantCall(tenant=t, record=r)
            for t in self._tenants(tenant)
            for r in self._store.list_call_records(t.id, limit=limit)
        ]
        found.sort(key=lambda c: (c.record.ended_at, c.record.id or 0), reverse=True)
        return found[:limit]

    def registrations(self, tenant: str | None = None) -> list[TenantRegistration]:
        """Live registrations (expired ones left out), by tenant and extension."""
        now = self._clock()
        return [
            TenantRegistration(tenant=t, binding=b)
            for t in self._tenants(tenant)
            for b in self._store.list_bindings(t.id)
            if b.expires_at > now
        ]

    def now(self) -> float:
        return self._clock()


def open_admin(
    settings: Settings,
    *,
    actor: str = "cli",
    clock: Callable[[], float] = time.time,
    random: RandomSource | None = None,
) -> Admin:
    """Open the store of ``settings`` for admin work; its schema must be current."""
    store = Store.open(settings.db_url, create=False)
    try:
        store.check_schema()
    except BaseException:
        store.close()
        raise
    return Admin(
        store,
        actor=actor,
        clock=clock,
        random=random if random is not None else secrets.SystemRandom(),
    )
