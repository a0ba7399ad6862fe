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
from ringfence.fraud.incidents import Incident
from ringfence.fraud.limits import Limits
from ringfence.guard.model import Ban
from ringfence.policy.book import PolicyBook
from ringfence.policy.model import BlockTreatment, CallerBlock, PolicySettings
from ringfence.policy.tables import HighRiskRange, HighRiskRanges, Rate

__all__ = ["AccountsStore", "AccountsUnitOfWork", "FraudUnitOfWork", "PolicyUnitOfWork"]


class PolicyUnitOfWork(Protocol):
    """The call-policy tables inside the same transaction as the accounts."""

    def policy_book(self) -> PolicyBook:
        """Every tenant's policy data as the call path sees it."""

    def policy_settings(self, tenant_id: int, ext: str | None) -> PolicySettings: ...

    def set_policy_settings(
        self, tenant_id: int, ext: str | None, settings: PolicySettings
    ) -> None: ...

    def usage_limits(self, tenant_id: int, ext: str | None) -> Limits:
        """What the tenant (``ext`` None) or the extension set itself (empty when nothing)."""

    def set_usage_limits(self, tenant_id: int, ext: str | None, limits: Limits) -> None: ...

    def caller_blocks(self, tenant_id: int) -> list[CallerBlock]: ...

    def add_caller_block(
        self,
        tenant_id: int,
        *,
        ext: str | None,
        pattern: str,
        treatment: BlockTreatment,
        created_at: float,
    ) -> CallerBlock: ...

    def remove_caller_block(self, tenant_id: int, *, ext: str | None, pattern: str) -> None: ...

    def rates(self, tenant_id: int) -> list[Rate]:
        """A tenant's rates, or the global table's (tenant id 0)."""

    def replace_rates(self, tenant_id: int, rates: list[Rate]) -> int:
        """Replace the whole table; return how many rates it held before."""

    def high_risk_ranges(self) -> HighRiskRanges: ...

    def replace_high_risk(self, ranges: list[HighRiskRange]) -> None: ...


class FraudUnitOfWork(Protocol):
    """The fraud tables inside the accounts unit of work."""

    def incidents(
        self, tenant_id: int | None, *, open_only: bool = False, limit: int = 100
    ) -> list[Incident]: ...

    def release(self, tenant_id: int, ext: str | None, *, by: str, at: float) -> list[Incident]:
        """Close the open incidents of the scope and lift their holds."""

    def contacts(self, tenant_id: int) -> list[str]: ...

    def add_contact(self, tenant_id: int, email: str) -> None: ...

    def remove_contact(self, tenant_id: int, email: str) -> None: ...

    def webhook(self, tenant_id: int) -> tuple[str, str] | None: ...

    def set_webhook(self, tenant_id: int, url: str | None, secret: str | None) -> None: ...

    def set_pin(
        self, tenant_id: int, ext: str, *, ha1_md5: str | None, ha1_sha256: str | None
    ) -> None: ...

    def reset_password_on_contain(self, tenant_id: int) -> bool: ...

    def set_reset_password_on_contain(self, tenant_id: int, on: bool) -> None: ...


class AccountsUnitOfWork(PolicyUnitOfWork, FraudUnitOfWork, Protocol):
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

    def set_allow_from(
        self,
        tenant_id: TenantId,
        networks: tuple[str, ...],
        *,
        ext: str | None = None,
        trunk: str | None = None,
    ) -> None: ...

    def active_bans(self, now: float) -> list[Ban]: ...

    def put_ban(self, ban: Ban, now: float) -> None: ...

    def lift_ban(self, network: str, now: float) -> Ban | None:
        """Lift the ban on the network (canonical form); the ban that was in force, if any."""

    # -- audit ----------------------------------------------------------------------------
    def record(self, entry: AuditEntry) -> None: ...

    def audit_entries(self, tenant_id: TenantId | None, *, limit: int) -> list[AuditEntry]:
        """Newest first; ``None`` for the whole service (an operator's view)."""


class AccountsStore(Protocol):
    """A store that opens units of work."""

    def unit_of_work(self) -> AbstractContextManager[AccountsUnitOfWork]: ...
