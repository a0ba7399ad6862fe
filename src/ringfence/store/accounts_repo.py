"""The accounts tables behind :class:`ringfence.accounts.AccountsUnitOfWork`, and the
directory snapshot.

Every method that touches a tenant's data takes its :data:`TenantId` and filters on it.
A write marks the unit of work as changed; :meth:`SqlAccountsUnitOfWork.bump_revision` then
raises the admin revision in the same transaction.
"""

from __future__ import annotations

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from ringfence.accounts.directory import Directory
from ringfence.accounts.model import AuditEntry, Extension, PhoneNumber, Tenant, TenantId, Trunk
from ringfence.errors import NotFound, SchemaMismatch
from ringfence.guard.model import Ban
from ringfence.store import guard_repo
from ringfence.store.fraud_repo import SqlFraudRepo, load_holds
from ringfence.store.policy_repo import SqlPolicyRepo, load_policy, load_usage_limits
from ringfence.store.schema import (
    AuditRow,
    BindingRow,
    ExtensionRow,
    MetaRow,
    NumberRow,
    TenantRow,
    TrunkRow,
)

__all__ = ["SqlAccountsUnitOfWork", "load_directory", "read_revision"]


def _tenant(row: TenantRow) -> Tenant:
    return Tenant(
        id=TenantId(row.id),
        name=row.name,
        domain=row.domain,
        created_at=row.created_at,
        encryption_required=row.encryption_required,
        country=row.country,
        timezone=row.timezone,
        allow_from=_networks(row.allow_from),
    )


def _extension(row: ExtensionRow) -> Extension:
    return Extension(
        id=row.id,
        tenant_id=TenantId(row.tenant_id),
        ext=row.ext,
        display_name=row.display_name,
        ha1_md5=row.ha1_md5,
        ha1_sha256=row.ha1_sha256,
        pin_ha1_md5=row.pin_ha1_md5 or "",
        pin_ha1_sha256=row.pin_ha1_sha256 or "",
        allow_from=_networks(row.allow_from),
    )


def _trunk(row: TrunkRow) -> Trunk:
    return Trunk(
        id=row.id,
        tenant_id=TenantId(row.tenant_id),
        name=row.name,
        host=row.host,
        port=row.port,
        transport=row.transport,
        username=row.username,
        password=row.password,
        allow_from=_networks(row.allow_from),
    )


def _networks(text: str | None) -> tuple[str, ...]:
    return tuple(n for n in (text or "").split(",") if n)


def _number(row: NumberRow) -> PhoneNumber:
    return PhoneNumber(id=row.id, tenant_id=TenantId(row.tenant_id), e164=row.e164, ext=row.ext)


def _audit(row: AuditRow) -> AuditEntry:
    return AuditEntry(
        id=row.id,
        at=row.at,
        actor=row.actor,
        action=row.action,
        tenant_id=None if row.tenant_id is None else TenantId(row.tenant_id),
        target=row.target,
        detail=row.detail,
        old_value=row.old_value,
        new_value=row.new_value,
    )


def read_revision(session: Session) -> int:
    revision = session.scalar(select(MetaRow.revision).where(MetaRow.id == 1))
    if revision is None:
        raise SchemaMismatch("the meta table has no revision row (run: ringfence init)")
    return revision


def load_directory(session: Session) -> Directory:
    """Everything the call path looks up, read in one transaction (a consistent snapshot)."""
    return Directory(
        revision=read_revision(session),
        tenants=[_tenant(r) for r in session.scalars(select(TenantRow))],
        extensions=[_extension(r) for r in session.scalars(select(ExtensionRow))],
        trunks=[_trunk(r) for r in session.scalars(select(TrunkRow))],
        numbers=[_number(r) for r in session.scalars(select(NumberRow))],
        policy=load_policy(session),
        usage_limits=load_usage_limits(session),
        holds=load_holds(session),
    )


class SqlAccountsUnitOfWork(SqlPolicyRepo, SqlFraudRepo):
    """One transaction over the accounts and policy tables (see :class:`AccountsUnitOfWork`)."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self.changed = False

    def _write(self) -> Session:
        self.changed = True
        return self._session

    def bump_revision(self) -> None:
        """Raise the admin revision if anything was written (called just before commit)."""
        if self.changed:
            self._session.execute(
                update(MetaRow).where(MetaRow.id == 1).values(revision=MetaRow.revision + 1)
            )

    # -- tenants --------------------------------------------------------------------------

    def tenants(self) -> list[Tenant]:
        return [
            _tenant(r) for r in self._session.scalars(select(TenantRow).order_by(TenantRow.name))
        ]

    def tenant_named(self, name: str) -> Tenant | None:
        row = self._session.scalar(select(TenantRow).where(TenantRow.name == name))
        return None if row is None else _tenant(row)

    def tenant_with_domain(self, domain: str) -> Tenant | None:
        row = self._session.scalar(select(TenantRow).where(TenantRow.domain == domain.lower()))
        return None if row is None else _tenant(row)

    def add_tenant(
        self,
        *,
        name: str,
        domain: str,
        encryption_required: bool,
        created_at: float,
        country: str = "US",
        timezone: str = "UTC",
    ) -> Tenant:
        row = TenantRow(
            name=name,
            domain=domain.lower(),
            encryption_required=encryption_required,
            created_at=created_at,
            country=country,
            timezone=timezone,
        )
        session = self._write()
        session.add(row)
        session.flush()
        return _tenant(row)

    # -- extensions -----------------------------------------------------------------------

    def _extension_row(self, tenant_id: TenantId, ext: str) -> ExtensionRow | None:
        return self._session.scalar(
            select(ExtensionRow).where(ExtensionRow.tenant_id == tenant_id, ExtensionRow.ext == ext)
        )

    def extensions(self, tenant_id: TenantId) -> list[Extension]:
        rows = self._session.scalars(
            select(ExtensionRow)
            .where(ExtensionRow.tenant_id == tenant_id)
            .order_by(ExtensionRow.ext)
        )
        return [_extension(r) for r in rows]

    def extension(self, tenant_id: TenantId, ext: str) -> Extension | None:
        row = self._extension_row(tenant_id, ext)
        return None if row is None else _extension(row)

    def add_extension(
        self,
        tenant_id: TenantId,
        *,
        ext: str,
        display_name: str | None,
        ha1_md5: str,
        ha1_sha256: str,
        created_at: float,
    ) -> Extension:
        row = ExtensionRow(
            tenant_id=tenant_id,
            ext=ext,
            display_name=display_name,
            ha1_md5=ha1_md5,
            ha1_sha256=ha1_sha256,
            created_at=created_at,
        )
        session = self._write()
        session.add(row)
        session.flush()
        return _extension(row)

    def set_credentials(
        self, tenant_id: TenantId, ext: str, *, ha1_md5: str, ha1_sha256: str
    ) -> None:
        row = self._extension_row(tenant_id, ext)
        if row is None:
            raise NotFound(f"no extension {ext!r} in tenant {tenant_id}")
        session = self._write()
        row.ha1_md5 = ha1_md5
        row.ha1_sha256 = ha1_sha256
        # Phones registered with the old password are registered no more.
        session.execute(
            delete(BindingRow).where(BindingRow.tenant_id == tenant_id, BindingRow.ext == ext)
        )
        self._session.flush()

    def remove_extension(self, tenant_id: TenantId, ext: str) -> None:
        session = self._write()
        # Explicit, so that it holds even where the foreign key's cascade is not enforced.
        session.execute(
            delete(BindingRow).where(BindingRow.tenant_id == tenant_id, BindingRow.ext == ext)
        )
        self.forget_extension_policy(tenant_id, ext)
        result = session.execute(
            delete(ExtensionRow).where(ExtensionRow.tenant_id == tenant_id, ExtensionRow.ext == ext)
        )
        if getattr(result, "rowcount", 0) == 0:
            raise NotFound(f"no extension {ext!r} in tenant {tenant_id}")

    # -- trunks and numbers ---------------------------------------------------------------

    def trunks(self, tenant_id: TenantId) -> list[Trunk]:
        rows = self._session.scalars(
            select(TrunkRow).where(TrunkRow.tenant_id == tenant_id).order_by(TrunkRow.id)
        )
        return [_trunk(r) for r in rows]

    def trunk_with_host(self, host: str) -> Trunk | None:
        row = self._session.scalar(select(TrunkRow).where(TrunkRow.host == host.lower()))
        return None if row is None else _trunk(row)

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
    ) -> Trunk:
        row = TrunkRow(
            tenant_id=tenant_id,
            name=name,
            host=host.lower(),
            port=port,
            transport=transport,
            username=username,
            password=password,
            created_at=created_at,
        )
        session = self._write()
        session.add(row)
        session.flush()
        return _trunk(row)

    def numbers(self, tenant_id: TenantId) -> list[PhoneNumber]:
        rows = self._session.scalars(
            select(NumberRow).where(NumberRow.tenant_id == tenant_id).order_by(NumberRow.e164)
        )
        return [_number(r) for r in rows]

    def number(self, e164: str) -> PhoneNumber | None:
        row = self._session.scalar(select(NumberRow).where(NumberRow.e164 == e164))
        return None if row is None else _number(row)

    def add_number(
        self, tenant_id: TenantId, *, e164: str, ext: str, created_at: float
    ) -> PhoneNumber:
        row = NumberRow(tenant_id=tenant_id, e164=e164, ext=ext, created_at=created_at)
        session = self._write()
        session.add(row)
        session.flush()
        return _number(row)

    def remove_number(self, tenant_id: TenantId, e164: str) -> None:
        result = self._write().execute(
            delete(NumberRow).where(NumberRow.tenant_id == tenant_id, NumberRow.e164 == e164)
        )
        if getattr(result, "rowcount", 0) == 0:
            raise NotFound(f"no number {e164} in tenant {tenant_id}")

    # -- the perimeter --------------------------------------------------------------------

    def set_allow_from(
        self,
        tenant_id: TenantId,
        networks: tuple[str, ...],
        *,
        ext: str | None = None,
        trunk: str | None = None,
    ) -> None:
        """The networks the tenant's phones, one extension's or one trunk's requests may come
        from (canonical CIDR; empty: anywhere, the tenant's, or the trunk's host)."""
        row: TenantRow | ExtensionRow | TrunkRow | None
        if ext is not None:
            row = self._extension_row(tenant_id, ext)
        elif trunk is not None:
            row = self._session.scalar(
                select(TrunkRow).where(TrunkRow.tenant_id == tenant_id, TrunkRow.name == trunk)
            )
        else:
            row = self._session.get(TenantRow, tenant_id)
        if row is None:
            raise NotFound(f"no such {'extension' if ext else 'trunk' if trunk else 'tenant'}")
        self._write()
        row.allow_from = ",".join(networks)
        self._session.flush()

    def active_bans(self, now: float) -> list[Ban]:
        return guard_repo.active_bans(self._session, now=now)

    def put_ban(self, ban: Ban, now: float) -> None:
        # Bans are not part of the directory: no revision bump (the nodes sync them apart).
        guard_repo.put_ban(self._session, ban, now=now)

    def lift_ban(self, network: str, now: float) -> Ban | None:
        return guard_repo.lift_ban(self._session, network, now=now)

    # -- audit ----------------------------------------------------------------------------

    def record(self, entry: AuditEntry) -> None:
        self._session.add(
            AuditRow(
                at=entry.at,
                actor=entry.actor,
                action=entry.action,
                tenant_id=entry.tenant_id,
                target=entry.target,
                detail=entry.detail,
                old_value=entry.old_value,
                new_value=entry.new_value,
            )
        )

    def audit_entries(self, tenant_id: TenantId | None, *, limit: int) -> list[AuditEntry]:
        query = select(AuditRow).order_by(AuditRow.id.desc()).limit(limit)
        if tenant_id is not None:
            query = query.where(AuditRow.tenant_id == tenant_id)
        return [_audit(r) for r in self._session.scalars(query)]
