"""An immutable snapshot of every tenant's accounts, for the call path.

The store builds one with :meth:`ringfence.store.Store.load_directory`. The running service
keeps the snapshot it has and polls the store's ``revision`` (one cheap query); when the number
moved, an admin change was committed and it loads a new snapshot. Lookups never touch the
database, so the event loop never waits on it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any, NoReturn

from ringfence.accounts.model import Extension, PhoneNumber, Tenant, TenantId, Trunk
from ringfence.accounts.rules import normalise_host
from ringfence.fraud.events import Response
from ringfence.fraud.incidents import Hold
from ringfence.fraud.limits import SAFE_DEFAULTS, Limits
from ringfence.guard.model import Network, in_networks, parse_network
from ringfence.policy.book import PolicyBook

__all__ = ["Directory"]


class Directory:
    """Tenants, extensions, trunks and numbers at one ``revision`` of the store.

    Each lookup that concerns a tenant's own data takes its :data:`TenantId`, so an extension of
    tenant A is never found through tenant B. The three lookups that decide *which* tenant a
    request belongs to are keyed on what the request shows: :meth:`tenant_by_domain`,
    :meth:`number` (a DID is unique across the service) and :meth:`trunk_for_source`.
    """

    __slots__ = (
        "_by_domain",
        "_extensions",
        "_holds",
        "_networks",
        "_numbers",
        "_numbers_of",
        "_policy",
        "_revision",
        "_tenants",
        "_trunk_by_source",
        "_trunk_networks",
        "_trunks",
        "_usage_limits",
    )

    _revision: int
    _tenants: Mapping[TenantId, Tenant]
    _by_domain: Mapping[str, Tenant]
    _extensions: Mapping[TenantId, Mapping[str, Extension]]
    _trunks: Mapping[TenantId, tuple[Trunk, ...]]
    _trunk_by_source: Mapping[str, Trunk]
    _trunk_networks: tuple[tuple[Network, Trunk], ...]
    _networks: Mapping[tuple[int, str], tuple[Network, ...]]
    _numbers: Mapping[str, PhoneNumber]
    _numbers_of: Mapping[TenantId, tuple[PhoneNumber, ...]]
    _policy: PolicyBook
    _usage_limits: Mapping[tuple[int, str], Limits]
    _holds: Mapping[tuple[int, str], Hold]

    def __init__(
        self,
        *,
        revision: int,
        tenants: Iterable[Tenant] = (),
        extensions: Iterable[Extension] = (),
        trunks: Iterable[Trunk] = (),
        numbers: Iterable[PhoneNumber] = (),
        policy: PolicyBook | None = None,
        usage_limits: Mapping[tuple[int, str], Limits] | None = None,
        holds: Mapping[tuple[int, str], Hold] | None = None,
    ) -> None:
        tenant_list = sorted(tenants, key=lambda t: t.id)
        extensions_of: dict[TenantId, dict[str, Extension]] = {t.id: {} for t in tenant_list}
        for extension in sorted(extensions, key=lambda e: e.ext):
            extensions_of.setdefault(extension.tenant_id, {})[extension.ext] = extension
        trunks_of: dict[TenantId, list[Trunk]] = {}
        by_source: dict[str, Trunk] = {}
        for trunk in sorted(trunks, key=lambda t: t.id):
            trunks_of.setdefault(trunk.tenant_id, []).append(trunk)
            by_source.setdefault(normalise_host(trunk.host) or trunk.host.lower(), trunk)
        trunk_networks = tuple(
            (parse_network(net), trunk)
            for ts in trunks_of.values()
            for trunk in ts
            for net in trunk.allow_from
        )
        # Source ACLs, parsed once: the tenant's under "", an extension's under its name.
        networks: dict[tuple[int, str], tuple[Network, ...]] = {
            (t.id, ""): tuple(parse_network(n) for n in t.allow_from)
            for t in tenant_list
            if t.allow_from
        }
        for tenant_id, exts in extensions_of.items():
            for ext, extension in exts.items():
                if extension.allow_from:
                    networks[(tenant_id, ext)] = tuple(
                        parse_network(n) for n in extension.allow_from
                    )
        number_list = sorted(numbers, key=lambda n: n.e164)
        numbers_of: dict[TenantId, list[PhoneNumber]] = {}
        for number in number_list:
            numbers_of.setdefault(number.tenant_id, []).append(number)
        fields: dict[str, Any] = {
            "_revision": revision,
            "_tenants": MappingProxyType({t.id: t for t in tenant_list}),
            "_by_domain": MappingProxyType({t.domain.lower(): t for t in tenant_list}),
            "_extensions": MappingProxyType(
                {tid: MappingProxyType(exts) for tid, exts in extensions_of.items()}
            ),
            "_trunks": MappingProxyType({tid: tuple(ts) for tid, ts in trunks_of.items()}),
            "_trunk_by_source": MappingProxyType(by_source),
            "_trunk_networks": trunk_networks,
            "_networks": MappingProxyType(networks),
            "_numbers": MappingProxyType({n.e164: n for n in number_list}),
            "_numbers_of": MappingProxyType({tid: tuple(ns) for tid, ns in numbers_of.items()}),
            "_policy": policy if policy is not None else PolicyBook(),
            "_usage_limits": MappingProxyType(dict(usage_limits or {})),
            "_holds": MappingProxyType(dict(holds or {})),
        }
        for name, value in fields.items():
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise AttributeError("a Directory is immutable; load a new one from the store")

    def __delattr__(self, name: str) -> NoReturn:
        raise AttributeError("a Directory is immutable; load a new one from the store")

    def __repr__(self) -> str:
        return f"Directory(revision={self._revision}, tenants={len(self._tenants)})"

    @property
    def revision(self) -> int:
        """The store's admin revision this snapshot was read at."""
        return self._revision

    @property
    def policy(self) -> PolicyBook:
        """Every tenant's call-policy settings, blocked callers and rates, at this revision."""
        return self._policy

    def hold(self, tenant_id: TenantId, ext: str) -> Response:
        """What the fraud guard's open incidents impose on the extension's international
        calls: ``PIN``, ``CONTAIN`` (its own, or its tenant's) or ``NONE``."""
        if not self._holds:
            return Response.NONE
        levels = [
            h.level
            for h in (self._holds.get((tenant_id, ext)), self._holds.get((tenant_id, "")))
            if h
        ]
        return max(levels, default=Response.NONE)

    def holds(self) -> tuple[Hold, ...]:
        return tuple(self._holds.values())

    def usage_limits(self, tenant_id: TenantId, ext: str | None = None) -> Limits:
        """The limits in effect for the tenant (``ext`` None: its own, over the safe defaults)
        or what one extension set itself (empty when nothing)."""
        if ext:
            return self._usage_limits.get((tenant_id, ext), Limits())
        return self._usage_limits.get((tenant_id, ""), Limits()).over(SAFE_DEFAULTS)

    def tenants(self) -> tuple[Tenant, ...]:
        return tuple(self._tenants.values())

    def tenant(self, tenant_id: TenantId) -> Tenant | None:
        return self._tenants.get(tenant_id)

    def tenant_by_domain(self, domain: str) -> Tenant | None:
        """The tenant whose SIP domain is ``domain``, compared case-insensitively (IP literals
        in canonical form, with or without brackets)."""
        found = self._by_domain.get(domain.lower())
        if found is None and (key := normalise_host(domain)) is not None:
            found = self._by_domain.get(key)
        return found

    def extension(self, tenant_id: TenantId, ext: str) -> Extension | None:
        """The extension ``ext`` of this tenant only. SIP user parts compare case-sensitively
        (RFC 3261 §19.1.4)."""
        return self._extensions.get(tenant_id, {}).get(ext)

    def extensions(self, tenant_id: TenantId) -> tuple[Extension, ...]:
        return tuple(self._extensions.get(tenant_id, {}).values())

    def number(self, e164: str) -> PhoneNumber | None:
        """The DID ``e164`` (``+`` and digits), whichever tenant owns it."""
        return self._numbers.get(e164)

    def numbers_of(self, tenant_id: TenantId) -> tuple[PhoneNumber, ...]:
        """The numbers this tenant owns, in E.164 order."""
        return self._numbers_of.get(tenant_id, ())

    def trunks(self, tenant_id: TenantId) -> tuple[Trunk, ...]:
        """This tenant's trunks, oldest first (the first is the default route out)."""
        return self._trunks.get(tenant_id, ())

    def trunk_for_source(self, host: str) -> Trunk | None:
        """The trunk whose host is ``host``, or one of whose accepted networks (``acl set
        --trunk``) holds it: a request from there belongs to its tenant.

        Host comparison is literal (case-insensitive names, canonical IP literals); nothing is
        resolved, so a trunk given by name matches only a source written the same way.
        """
        found = self._trunk_by_source.get(host.lower())
        if found is None and (key := normalise_host(host)) is not None:
            found = self._trunk_by_source.get(key)
        if found is None and self._trunk_networks:
            for net, trunk in self._trunk_networks:
                if in_networks(host, (net,)):
                    return trunk
        return found

    def trunk_sources(self) -> tuple[frozenset[str], tuple[Network, ...]]:
        """Every trunk's host and accepted networks: known-good sources for the perimeter."""
        hosts = frozenset(
            normalise_host(t.host) or t.host.lower() for ts in self._trunks.values() for t in ts
        )
        return hosts, tuple(net for net, _ in self._trunk_networks)

    def may_connect_from(self, tenant_id: TenantId, ext: str, host: str) -> bool:
        """Whether the extension's phones may register and call from ``host``: inside its own
        networks if it has any, else the tenant's, else from anywhere."""
        networks = self._networks.get((tenant_id, ext)) or self._networks.get((tenant_id, ""))
        return networks is None or in_networks(host, networks)
