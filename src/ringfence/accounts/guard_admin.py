"""Admin actions of the perimeter: bans (``bans list|add|remove|export``) and source ACLs
(``acl set|show``).

Every change is one unit of work with its audit entry. A ban reaches every node at its next
sync (within two seconds); an ACL is part of the directory, so it bumps the revision and holds
on every node within a second.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass

from ringfence.accounts.model import Tenant
from ringfence.accounts.service import AuditedService, find_extension, find_tenant
from ringfence.errors import InvalidInput, NotFound
from ringfence.guard.model import Ban, Network, check_networks, parse_network

__all__ = ["AclView", "GuardService", "parse_duration"]

#: The widest networks an operator may ban in one go: past this, a typo shuts out a continent.
WIDEST_BAN = {4: 8, 6: 16}
_DURATION = re.compile(r"(\d{1,6})([smhdw])")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str) -> float:
    """``90s``, ``10m``, ``1h``, ``2d``, ``1w`` (and combinations such as ``1h30m``) in
    seconds. Raises ``InvalidInput`` saying what to write instead."""
    cleaned = text.strip().lower()
    parts = _DURATION.findall(cleaned)
    if not parts or "".join(n + u for n, u in parts) != cleaned:
        raise InvalidInput(
            f"{text!r} is not a duration: write a number and a unit, such as 30m, 1h, 2d or 1w"
        )
    seconds = float(sum(int(n) * _UNIT[u] for n, u in parts))
    if not 60 <= seconds <= 10 * 365 * 86400:
        raise InvalidInput("a ban lasts from 1m to 10 years (leave out --for: until lifted)")
    return seconds


@dataclass(frozen=True, slots=True, kw_only=True)
class AclView:
    """Where a tenant's phones and trunks may connect from."""

    tenant: Tenant
    tenant_networks: tuple[str, ...]
    extensions: dict[str, tuple[str, ...]]  # only those with networks of their own
    trunks: dict[str, tuple[str, ...]]  # trunk name -> networks (empty: its host alone)


class GuardService(AuditedService):
    """Bans shared by every node, and the source ACLs of tenants, extensions and trunks."""

    # -- bans ------------------------------------------------------------------------------------

    def bans(self) -> list[Ban]:
        """The bans in force on every node, longest-lasting first."""
        with self._store.unit_of_work() as uow:
            return uow.active_bans(self._clock())

    def ban(self, network: str, *, duration: float | None = None, reason: str = "manual") -> Ban:
        """Ban an address or network on every node, for ``duration`` seconds or until lifted."""
        net = _network(network)
        if net.prefixlen < WIDEST_BAN[net.version]:
            raise InvalidInput(
                f"{net} is too wide to ban (at most /{WIDEST_BAN[net.version]} for IPv"
                f"{net.version}); ban its parts, or filter it in the host firewall"
            )
        now = self._clock()
        until = math.inf if duration is None else now + duration
        ban = Ban(network=str(net), since=now, until=until, reason=reason)
        with self._store.unit_of_work() as uow:
            uow.put_ban(ban, now)
            self._audit(
                uow,
                "ban.add",
                None,
                str(net),
                detail="until lifted" if duration is None else f"for {duration:g} s",
            )
        return ban

    def unban(self, network: str) -> Ban:
        """Lift a ban on every node (and forget the address's offences)."""
        net = _network(network)
        with self._store.unit_of_work() as uow:
            lifted = uow.lift_ban(str(net), self._clock())
            if lifted is None:
                shown = net.network_address if net.num_addresses == 1 else net
                raise NotFound(f"{shown} is not banned (see `ringfence bans list`)")
            self._audit(uow, "ban.remove", None, str(net), detail=f"was {lifted.reason}")
        return lifted

    # -- source ACLs -----------------------------------------------------------------------------

    def set_acl(
        self,
        tenant: str,
        networks: Iterable[str],
        *,
        ext: str | None = None,
        trunk: str | None = None,
    ) -> tuple[str, ...]:
        """Where the tenant's phones (or one extension's, or one trunk's requests) may come
        from. An empty list lifts the restriction."""
        if ext is not None and trunk is not None:
            raise InvalidInput("give --ext or --trunk, not both")
        try:
            checked = check_networks(networks)
        except ValueError as error:
            raise InvalidInput(str(error)) from None
        with self._store.unit_of_work() as uow:
            owner = find_tenant(uow, tenant)
            if ext is not None:
                old = find_extension(uow, owner, ext).allow_from
                target = f"ext {ext}"
            elif trunk is not None:
                found = [t for t in uow.trunks(owner.id) if t.name == trunk]
                if not found:
                    raise NotFound(f"tenant {tenant} has no trunk {trunk!r}")
                old, target = found[0].allow_from, f"trunk {trunk}"
            else:
                old, target = owner.allow_from, "tenant"
            uow.set_allow_from(owner.id, checked, ext=ext, trunk=trunk)
            self._audit(uow, "acl.set", owner.id, target, old=",".join(old), new=",".join(checked))
        return checked

    def acl(self, tenant: str) -> AclView:
        with self._store.unit_of_work() as uow:
            owner = find_tenant(uow, tenant)
            return AclView(
                tenant=owner,
                tenant_networks=owner.allow_from,
                extensions={e.ext: e.allow_from for e in uow.extensions(owner.id) if e.allow_from},
                trunks={t.name: t.allow_from for t in uow.trunks(owner.id)},
            )


def _network(text: str) -> Network:
    try:
        return parse_network(text)
    except ValueError as error:
        raise InvalidInput(f"{error} (write e.g. 203.0.113.5 or 203.0.113.0/24)") from None
