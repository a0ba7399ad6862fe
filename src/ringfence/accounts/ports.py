"""What the accounts services need from a store, as Protocols (the store implements them).

An admin action runs in one :class:`AccountsUnitOfWork`: one short database transaction that
commits when the ``with`` block ends normally and rolls back when it raises, so a failed action
leaves nothing half-written. Every write in it also bumps the store's admin revision, in the
same transaction, so a running service sees the change on its next poll.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Protocol

from ringfence.accounts.model import AuditEntry, Extension, PhoneNumber, Tenant, TenantId, Trunk

__all__ = ["AccountsStore", "AccountsUnitOfWork"]


class AccountsUnitOfWork(Protocol):
    """The accounts tables inside one transaction. Writes raise
    :class:`~ringfence.errors.Conflict` when a unique rule is broken."""

    # -- tenants --------------------------------------------------------------------------
    def tenants(self) -> list[Tenant]: ...

    def tenant_named(self, name: str) -> Tenant | None: ...

    def tenant_with_domain(self, domain: str) -> Tenant | None: ...

    def add_tenant(
        self,
        *,
        name: str,
        domain: str,
        encryption_required: bool,
        created_at: float,
        country: str = "US",
        timezone: str = "UTC",
    ) -> Tenant: ...

    # -- extensions -----------------------------------------------------------------------
    def extensions(self, tenant_id: TenantId) -> list[Extension]: ...

    def extension(self, tenant_id: TenantId, ext: str) -> Extension | None: ...

    def add_extension(
        self,
        tenant_id: TenantId,
        *,
        ext: str,
        display_name: str | None,
        ha1_md5: str,
        ha1_sha256: str,
        created_at: float,
    ) -> Extension: ...

    def set_credentials(
        self, tenant_id: TenantId, ext: str, *, ha1_md5: str, ha1_sha256: str
    ) -> None: ...

    def remove_extension(self, tenant_id: TenantId, ext: str) -> None:
        """Remove the extension and its registrations."""

    # -- trunks and numbers ---------------------------------------------------------------
    def trunks(self, tenant_id: TenantId) -> list[Trunk]: ...

    def trunk_with_host(self, host: str) -> Trunk | None: ...

    def add_trunk(
        self,
        tenant_id: TenantId,
        *,
        name: str,
        host: str,
        port: int,
        transport: str,
        username: str | None,
        password: str | None,
        created_at: float,
    ) -> Trunk: ...

    def numbers(self, tenant_id: TenantId) -> list[PhoneNumber]: ...

    def number(self, e164: str) -> PhoneNumber | None:
        """The number ``e164`` whichever tenant owns it (a DID is unique service-wide)."""

    def add_number(
        self, tenant_id: TenantId, *, e164: str, ext: str, created_at: float
    ) -> PhoneNumber: ...

    def remove_number(self, tenant_id: TenantId, e164: str) -> None: ...

    # -- audit ----------------------------------------------------------------------------
    def record(self, entry: AuditEntry) -> None: ...

    def audit_entries(self, tenant_id: TenantId | None, *, limit: int) -> list[AuditEntry]:
        """Newest first; ``None`` for the whole service (an operator's view)."""


class AccountsStore(Protocol):
    """A store that opens units of work."""

    def unit_of_work(self) -> AbstractContextManager[AccountsUnitOfWork]: ...
