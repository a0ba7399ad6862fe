"""The location service: live registrations of every extension, in memory.

Registrations are kept in memory for the call path and written through to the store by the
registrar (see :mod:`ringfence.pbx.registrar`), so a restart loses nothing that was committed.
Each registration remembers the address its REGISTER came from: a phone behind NAT is reached
there, not at the private address in its Contact (RFC 3581, RFC 5626 §5).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ringfence.accounts import TenantId
from ringfence.sip.effects import Peer
from ringfence.sip.registrar import Binding
from ringfence.sip.uri import Uri

__all__ = ["LocationStore", "Registration"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Registration:
    """One binding of an extension and the flow it arrived on."""

    binding: Binding
    source: Peer
    user_agent: str | None = None


class LocationStore:
    """Bindings by (tenant, extension). Expired ones are never returned."""

    def __init__(self) -> None:
        self._by_aor: dict[tuple[TenantId, str], tuple[Registration, ...]] = {}
        # Contact URI -> registrations that bound it: in-dialog requests find a phone's flow by
        # the URI they are sent to, in constant time (URIs hash by RFC 3261 §19.1.4 equality).
        self._by_contact: dict[Uri, list[Registration]] = {}

    def lookup(self, tenant: TenantId, ext: str, now: float) -> tuple[Registration, ...]:
        return tuple(r for r in self._by_aor.get((tenant, ext), ()) if r.binding.expires_at > now)

    def replace(self, tenant: TenantId, ext: str, registrations: tuple[Registration, ...]) -> None:
        for old in self._by_aor.get((tenant, ext), ()):
            self._unindex(old)
        if registrations:
            self._by_aor[(tenant, ext)] = registrations
            for new in registrations:
                self._by_contact.setdefault(new.binding.contact.uri, []).append(new)
        else:
            self._by_aor.pop((tenant, ext), None)

    def _unindex(self, registration: Registration) -> None:
        uri = registration.binding.contact.uri
        bound = self._by_contact.get(uri)
        if bound is None:
            return
        remaining = [r for r in bound if r is not registration]
        if remaining:
            self._by_contact[uri] = remaining
        else:
            del self._by_contact[uri]

    def forget_tenant_extension(self, tenant: TenantId, ext: str) -> None:
        self.replace(tenant, ext, ())

    def keep_only(self, exists: Callable[[TenantId, str], bool]) -> int:
        """Drop the bindings of extensions that no longer exist; return how many AORs went."""
        gone = [key for key in self._by_aor if not exists(*key)]
        for key in gone:
            self.replace(key[0], key[1], ())
        return len(gone)

    def is_registered_source(self, peer: Peer, now: float) -> bool:
        """True when ``peer`` is where a live registration came from (a known-good phone)."""
        return any(
            r.source == peer and r.binding.expires_at > now
            for regs in self._by_aor.values()
            for r in regs
        )

    def find_contact(self, uri: Uri, now: float) -> Peer | None:
        """The flow of the live registration whose Contact is ``uri`` (RFC 3261 §19.1.4)."""
        for r in self._by_contact.get(uri, ()):
            if r.binding.expires_at > now:
                return r.source
        return None

    def count(self, now: float) -> int:
        return sum(1 for regs in self._by_aor.values() for r in regs if r.binding.expires_at > now)

    def prune(self, now: float) -> None:
        """Drop expired registrations (the store is pruned separately)."""
        for key, regs in list(self._by_aor.items()):
            live = tuple(r for r in regs if r.binding.expires_at > now)
            self.replace(key[0], key[1], live)
