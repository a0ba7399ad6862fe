"""Admin actions on tenants, extensions, trunks and numbers.

:class:`AccountsService` validates the input (:mod:`ringfence.accounts.rules`), then does the
whole action in one unit of work of the store: the change, its audit entry and the revision
bump commit together or not at all. Tenants are named by their name, as an operator types it.

Passwords: a password that the service generates is returned once, in
:class:`IssuedCredentials`, and never stored; only its HA1 values are. Nothing secret goes into
an audit entry.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

from ringfence.accounts.model import AuditEntry, Extension, PhoneNumber, Tenant, TenantId, Trunk
from ringfence.accounts.ports import AccountsStore, AccountsUnitOfWork
from ringfence.accounts.rules import (
    RandomSource,
    check_country,
    check_display_name,
    check_ext,
    check_name,
    check_password,
    check_timezone,
    check_transport,
    check_trunk_credentials,
    generate_password,
    normalise_domain,
    normalise_e164,
    parse_host_port,
)
from ringfence.errors import Conflict, InvalidInput, NotFound
from ringfence.fraud.limits import Limits, limits_to_json
from ringfence.sip.digest import Algorithm, compute_ha1

__all__ = [
    "DEMO_EXTENSIONS",
    "DEMO_TENANT",
    "AccountsService",
    "DemoAccounts",
    "IssuedCredentials",
    "find_extension",
    "find_tenant",
    "unknown_password_ha1s",
]

DEMO_TENANT = "demo"
DEMO_EXTENSIONS = ("1001", "1002")


@dataclass(frozen=True, slots=True, kw_only=True)
class IssuedCredentials:
    """An extension after an action that set its password.

    ``password`` is the generated password, to be shown once; ``None`` when the operator
    chose the password (it is not echoed back).
    """

    tenant: Tenant
    extension: Extension
    password: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class DemoAccounts:
    """The demo tenant and its extensions. ``created`` is false when it existed already; the
    extensions that existed carry no password then (it was shown when they were made)."""

    tenant: Tenant
    credentials: tuple[IssuedCredentials, ...]
    created: bool


def find_tenant(uow: AccountsUnitOfWork, name: str) -> Tenant:
    """The tenant named ``name``, or :class:`NotFound` that says where to look."""
    tenant = uow.tenant_named(name)
    if tenant is None:
        raise NotFound(f"no tenant named {name!r} (see: ringfence tenant list)")
    return tenant


def find_extension(uow: AccountsUnitOfWork, tenant: Tenant, ext: str) -> Extension:
    """The extension ``ext`` of ``tenant``, or :class:`NotFound`."""
    extension = uow.extension(tenant.id, ext)
    if extension is None:
        raise NotFound(
            f"{tenant.name} has no extension {ext!r} (see: ringfence ext list {tenant.name})"
        )
    return extension


def _ha1s(ext: str, domain: str, password: str) -> tuple[str, str]:
    """HA1 for MD5 and SHA-256 over ext:domain:password; the realm is the tenant's domain."""
    return (
        compute_ha1(username=ext, realm=domain, password=password, algorithm=Algorithm.MD5),
        compute_ha1(username=ext, realm=domain, password=password, algorithm=Algorithm.SHA_256),
    )


def unknown_password_ha1s(ext: str, domain: str) -> tuple[str, str]:
    """The HA1s of a fresh random password nobody is told: a reset that shuts out whoever
    holds the old one (the admin then sets a new one)."""
    return _ha1s(ext, domain, generate_password(secrets.SystemRandom()))


class AuditedService:
    """What every admin service shares: the store, who acts (``actor``, in the audit log) and
    the clock, and one way to write an audit entry in the action's own unit of work."""

    def __init__(self, store: AccountsStore, *, actor: str, clock: Callable[[], float]) -> None:
        self._store = store
        self._actor = actor
        self._clock = clock

    def _audit(
        self,
        uow: AccountsUnitOfWork,
        action: str,
        tenant_id: TenantId | None,
        target: str,
        *,
        detail: str = "",
        old: str | None = None,
        new: str | None = None,
    ) -> None:
        uow.record(
            AuditEntry(
                id=None,
                at=self._clock(),
                actor=self._actor,
                action=action,
                tenant_id=tenant_id,
                target=target,
                detail=detail,
                old_value=old,
                new_value=new,
            )
        )


class AccountsService(AuditedService):
    """The admin side of accounts. ``actor`` names who acts, in the audit log (``"cli"`` for
    the command line); ``clock`` gives wall-clock seconds; ``random`` feeds passwords."""

    def __init__(
        self,
        store: AccountsStore,
        *,
        actor: str,
        clock: Callable[[], float],
        random: RandomSource,
    ) -> None:
        super().__init__(store, actor=actor, clock=clock)
        self._random = random

    # -- tenants --------------------------------------------------------------------------

    def add_tenant(
        self,
        name: str,
        *,
        domain: str,
        encryption_required: bool = False,
        country: str = "US",
        timezone: str = "UTC",
        limits: Limits | None = None,
    ) -> Tenant:
        """Add a tenant; ``limits`` (its budgets, say) in the same unit of work, so a tenant
        never exists without the ceiling it was created with."""
        name = check_name(name)
        domain = normalise_domain(domain)
        country = check_country(country)
        timezone = check_timezone(timezone)
        with self._store.unit_of_work() as uow:
            tenant = self._add_tenant(uow, name, domain, encryption_required, country, timezone)
            if limits is not None and limits != Limits():
                uow.set_usage_limits(tenant.id, None, limits)
                self._audit(
                    uow,
                    "limits.set",
                    tenant.id,
                    "tenant",
                    old=json.dumps(limits_to_json(Limits()), sort_keys=True),
                    new=json.dumps(limits_to_json(limits), sort_keys=True),
                )
            return tenant

    def tenants(self) -> list[Tenant]:
        with self._store.unit_of_work() as uow:
            return uow.tenants()

    def tenant(self, name: str) -> Tenant:
        with self._store.unit_of_work() as uow:
            return self._tenant(uow, name)

    # -- extensions -----------------------------------------------------------------------

    def add_extension(
        self,
        tenant: str,
        ext: str,
        *,
        display_name: str | None = None,
        password: str | None = None,
    ) -> IssuedCredentials:
        """Add an extension; generate its password unless one is given."""
        ext = check_ext(ext)
        display_name = check_display_name(display_name)
        if password is not None:
            check_password(password, ext=ext)
        with self._store.unit_of_work() as uow:
            owner = self._tenant(uow, tenant)
            return self._add_extension(uow, owner, ext, display_name, password)

    def extensions(self, tenant: str) -> list[Extension]:
        with self._store.unit_of_work() as uow:
            return uow.extensions(self._tenant(uow, tenant).id)

    def remove_extension(self, tenant: str, ext: str) -> None:
        """Remove an extension and its registrations. Numbers must be moved off it first."""
        with self._store.unit_of_work() as uow:
            owner = self._tenant(uow, tenant)
            self._extension(uow, owner, ext)
            routed = [n.e164 for n in uow.numbers(owner.id) if n.ext == ext]
            if routed:
                raise Conflict(
                    f"extension {ext} of {owner.name} receives {', '.join(routed)}; remove"
                    f" {'that number' if len(routed) == 1 else 'those numbers'} first"
                    f" (ringfence number remove {owner.name} {routed[0]})"
                )
            uow.remove_extension(owner.id, ext)
            self._audit(uow, "extension.remove", owner.id, ext)

    def set_password(
        self, tenant: str, ext: str, *, password: str | None = None
    ) -> IssuedCredentials:
        """Set an extension's password: generate one unless given. Phones registered with the
        old password lose their registrations (on every node, within a second) and must use
        the new one to register again."""
        if password is not None:
            check_password(password, ext=ext)
        with self._store.unit_of_work() as uow:
            owner = self._tenant(uow, tenant)
            extension = self._extension(uow, owner, ext)
            generated = password is None
            secret = generate_password(self._random) if password is None else password
            ha1_md5, ha1_sha256 = _ha1s(ext, owner.domain, secret)
            uow.set_credentials(owner.id, ext, ha1_md5=ha1_md5, ha1_sha256=ha1_sha256)
            detail = "generated" if generated else "set by operator"
            self._audit(uow, "extension.password", owner.id, ext, detail=detail)
            updated = uow.extension(owner.id, ext) or extension
            return IssuedCredentials(
                tenant=owner, extension=updated, password=secret if generated else None
            )

    # -- trunks and numbers ---------------------------------------------------------------

    def add_trunk(
        self,
        tenant: str,
        name: str,
        *,
        host: str,
        transport: str = "udp",
        username: str | None = None,
        password: str | None = None,
    ) -> Trunk:
        """Add a gateway given as ``HOST[:PORT]`` (5060, or 5061 for TLS, when left out)."""
        name = check_name(name, what="trunk name")
        transport = check_transport(transport)
        address, port = parse_host_port(host, default_port=5061 if transport == "tls" else 5060)
        username, password = check_trunk_credentials(username, password)
        with self._store.unit_of_work() as uow:
            owner = self._tenant(uow, tenant)
            if any(t.name == name for t in uow.trunks(owner.id)):
                raise Conflict(f"{owner.name} has a trunk named {name!r} already")
            holder = uow.trunk_with_host(address)
            if holder is not None:
                whose = "this tenant" if holder.tenant_id == owner.id else "another tenant"
                raise Conflict(
                    f"{address} is the host of trunk {holder.name!r} of {whose} already:"
                    " requests from a gateway's address identify one tenant, so a host can be"
                    " the trunk of one tenant only"
                )
            trunk = uow.add_trunk(
                owner.id,
                name=name,
                host=address,
                port=port,
                transport=transport,
                username=username,
                password=password,
                created_at=self._clock(),
            )
            detail = f"host={address}:{port} transport={transport}"
            if username is not None:
                detail += f" username={username} (digest credentials kept)"
            self._audit(uow, "trunk.add", owner.id, name, detail=detail)
            return trunk

    def trunks(self, tenant: str) -> list[Trunk]:
        with self._store.unit_of_work() as uow:
            return uow.trunks(self._tenant(uow, tenant).id)

    def add_number(self, tenant: str, e164: str, *, ext: str) -> PhoneNumber:
        """Give the tenant the number (DID) ``e164``, ringing extension ``ext``."""
        e164 = normalise_e164(e164)
        with self._store.unit_of_work() as uow:
            owner = self._tenant(uow, tenant)
            self._extension(uow, owner, ext)
            holder = uow.number(e164)
            if holder is not None:
                whose = (
                    f"{owner.name} already (extension {holder.ext})"
                    if holder.tenant_id == owner.id
                    else "another tenant"
                )
                raise Conflict(f"{e164} belongs to {whose}")
            number = uow.add_number(owner.id, e164=e164, ext=ext, created_at=self._clock())
            self._audit(uow, "number.add", owner.id, e164, detail=f"ext={ext}")
            return number

    def numbers(self, tenant: str) -> list[PhoneNumber]:
        with self._store.unit_of_work() as uow:
            return uow.numbers(self._tenant(uow, tenant).id)

    def remove_number(self, tenant: str, e164: str) -> None:
        e164 = normalise_e164(e164)
        with self._store.unit_of_work() as uow:
            owner = self._tenant(uow, tenant)
            holder = uow.number(e164)
            if holder is None or holder.tenant_id != owner.id:
                raise NotFound(f"{owner.name} has no number {e164} (see: ringfence number list)")
            uow.remove_number(owner.id, e164)
            self._audit(uow, "number.remove", owner.id, e164)

    # -- the demo and the audit log -------------------------------------------------------

    def ensure_demo(self, *, domain: str) -> DemoAccounts:
        """Tenant ``demo`` at ``domain`` with extensions 1001 and 1002, in one transaction.

        Idempotent: what exists is kept (with its password), what is missing is added.
        """
        domain = normalise_domain(domain)
        with self._store.unit_of_work() as uow:
            existing = uow.tenant_named(DEMO_TENANT)
            tenant = existing or self._add_tenant(uow, DEMO_TENANT, domain, False, "US", "UTC")
            issued = []
            for ext in DEMO_EXTENSIONS:
                found = uow.extension(tenant.id, ext)
                if found is not None:
                    issued.append(IssuedCredentials(tenant=tenant, extension=found))
                else:
                    name = f"Demo {ext}"
                    issued.append(self._add_extension(uow, tenant, ext, name, None))
            return DemoAccounts(tenant=tenant, credentials=tuple(issued), created=existing is None)

    def audit_log(self, tenant: str | None = None, *, limit: int = 100) -> list[AuditEntry]:
        """The newest admin actions first, of one tenant or (``None``) of the whole service."""
        if not 1 <= limit <= 10_000:
            raise InvalidInput("the limit must be from 1 to 10000")
        with self._store.unit_of_work() as uow:
            tenant_id = None if tenant is None else self._tenant(uow, tenant).id
            return uow.audit_entries(tenant_id, limit=limit)

    # -- helpers, inside one unit of work -------------------------------------------------

    _tenant = staticmethod(find_tenant)
    _extension = staticmethod(find_extension)

    def _add_tenant(  # noqa: PLR0917 - the columns of a tenant
        self,
        uow: AccountsUnitOfWork,
        name: str,
        domain: str,
        encryption_required: bool,
        country: str,
        timezone: str,
    ) -> Tenant:
        if uow.tenant_named(name) is not None:
            raise Conflict(f"a tenant named {name!r} exists already; choose another name")
        holder = uow.tenant_with_domain(domain)
        if holder is not None:
            raise Conflict(
                f"domain {domain} belongs to tenant {holder.name!r} already; each tenant needs"
                " its own SIP domain"
            )
        tenant = uow.add_tenant(
            name=name,
            domain=domain,
            encryption_required=encryption_required,
            created_at=self._clock(),
            country=country,
            timezone=timezone,
        )
        detail = f"domain={domain} country={country} timezone={timezone}" + (
            " encryption=required" if encryption_required else ""
        )
        self._audit(uow, "tenant.add", tenant.id, name, detail=detail)
        return tenant

    def _add_extension(
        self,
        uow: AccountsUnitOfWork,
        tenant: Tenant,
        ext: str,
        display_name: str | None,
        password: str | None,
    ) -> IssuedCredentials:
        if uow.extension(tenant.id, ext) is not None:
            raise Conflict(f"{tenant.name} has an extension {ext} already")
        secret = generate_password(self._random) if password is None else password
        ha1_md5, ha1_sha256 = _ha1s(ext, tenant.domain, secret)
        extension = uow.add_extension(
            tenant.id,
            ext=ext,
            display_name=display_name,
            ha1_md5=ha1_md5,
            ha1_sha256=ha1_sha256,
            created_at=self._clock(),
        )
        detail = "password generated" if password is None else "password set by operator"
        self._audit(uow, "extension.add", tenant.id, ext, detail=detail)
        return IssuedCredentials(
            tenant=tenant, extension=extension, password=secret if password is None else None
        )
