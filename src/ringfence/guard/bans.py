"""Bans: which source addresses (or networks) are shut out, until when, and why.

A ban grows with each offence of the same address (the ladder), and the offences are forgotten
once the address stays clean for ``forget_after``. Looking an address up happens for every
packet, so a ban of one address is a dictionary lookup; network bans (an operator's
``bans add 203.0.113.0/24``) are few and are scanned after it.

Every node shares its bans through the store: what this node decided waits in
:meth:`BanList.take_pending` for the next sync, and what the store holds (other nodes' bans, an
operator's, the lifting of one) comes back through :meth:`BanList.merge`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from ipaddress import ip_address, ip_network

from ringfence.guard.model import Ban, Network, parse_network, plain_address

__all__ = ["DEFAULT_LADDER", "BanList"]

#: Ten minutes, an hour, six hours, a day, a week.
DEFAULT_LADDER: tuple[float, ...] = (600.0, 3600.0, 6 * 3600.0, 86400.0, 7 * 86400.0)


class BanList:
    """The bans in force and the offence history behind them. Pure: every call takes ``now``."""

    def __init__(
        self,
        *,
        ladder: tuple[float, ...] = DEFAULT_LADDER,
        forget_after: float = 7 * 86400.0,
        max_history: int = 100_000,
    ) -> None:
        if not ladder:
            raise ValueError("the ban ladder needs at least one duration")
        self._ladder = ladder
        self._forget_after = forget_after
        self._max_history = max_history
        self._hosts: dict[str, Ban] = {}  # one address: "203.0.113.5" (no prefix)
        self._networks: dict[Network, Ban] = {}  # more than one address
        #: The same, keyed (version, prefix length, address >> host bits) for the lookup.
        self._by_prefix: dict[tuple[int, int, int], Ban] = {}
        self._lengths: dict[int, tuple[int, ...]] = {4: (), 6: ()}
        #: address -> (offences, when the last ended): what the next ban of it starts from.
        self._history: dict[str, tuple[int, float]] = {}
        #: Bans (and lifts) decided here since the last sync, by network.
        self._pending: dict[str, Ban] = {}
        #: IPv6 prefix -> its addresses banned lately (see :meth:`widen`).
        self._v6_members: dict[str, set[str]] = {}

    # -- lookups, on every packet ----------------------------------------------------------------

    def banned(self, address: str, now: float) -> Ban | None:
        """The ban in force on this address, if any."""
        ban = self._hosts.get(address)
        if ban is None and ":" in address:  # IPv4-mapped, or IPv6 not in canonical form
            try:
                address = plain_address(address)
            except ValueError:
                return None
            ban = self._hosts.get(address)
        if ban is not None:
            if ban.active(now):
                return ban
            self._lapse(address, ban)
        if self._networks:
            try:
                parsed = ip_address(address.strip("[]"))
            except ValueError:
                return None
            if parsed.version == 6 and parsed.ipv4_mapped is not None:
                parsed = parsed.ipv4_mapped
            # One dictionary lookup per prefix length in use, however many networks are banned.
            value, bits = int(parsed), parsed.max_prefixlen
            for length in self._lengths[parsed.version]:
                ban = self._by_prefix.get((parsed.version, length, value >> (bits - length)))
                if ban is not None and ban.active(now):
                    return ban
        return None

    # -- changes ---------------------------------------------------------------------------------

    def offend(self, address: str, now: float, reason: str) -> Ban:
        """A new offence by one address: banned for the next step of the ladder (an address
        already banned keeps the longer of its ban and the new one)."""
        host = plain_address(address)
        offences, last = self._history.get(host, (0, -math.inf))
        if now - last > self._forget_after:
            offences = 0
        offences += 1
        step = self._ladder[min(offences, len(self._ladder)) - 1]
        current = self._hosts.get(host)
        until = now + step
        if current is not None and current.active(now):
            until = max(until, current.until)
        ban = Ban(
            network=f"{host}/{_bits(host)}",
            since=now,
            until=until,
            reason=reason,
            offences=offences,
        )
        self._hosts[host] = ban
        self._remember(host, offences, until)
        self._pending[ban.network] = ban
        return ban

    def widen(self, address: str, now: float, *, prefix: int = 64, hosts: int = 4) -> Ban | None:
        """After a ban of an IPv6 address: once ``hosts`` addresses of its /``prefix`` are
        banned at once, the whole prefix is (one subscriber's, which a scanner rotates through
        at no cost). Until the longest of their bans; the new network ban, if one was made."""
        host = plain_address(address)
        if ":" not in host:
            return None  # IPv4 neighbours are often strangers behind a carrier's NAT
        net = ip_network(f"{host}/{prefix}", strict=False)
        current = self._networks.get(net)
        if current is not None and current.active(now):
            return None
        members = self._v6_members.setdefault(str(net), set())
        members.add(host)
        active = [b for h in members if (b := self._hosts.get(h)) is not None and b.active(now)]
        members.intersection_update(self._hosts)
        if len(active) < hosts:
            return None
        ban = Ban(
            network=str(net),
            since=now,
            until=max(b.until for b in active),
            reason=active[-1].reason,
            offences=max(b.offences for b in active),
        )
        self._put(net, ban)
        self._pending[ban.network] = ban
        return ban

    def add(self, network: str, now: float, *, duration: float | None, reason: str) -> Ban:
        """An operator's ban (``duration`` None: until lifted)."""
        net = parse_network(network)
        until = math.inf if duration is None else now + duration
        ban = Ban(network=str(net), since=now, until=until, reason=reason)
        self._put(net, ban)
        self._pending[ban.network] = ban
        return ban

    def remove(self, network: str, now: float) -> bool:
        """Lift a ban (and forget the address's offences). Whether there was one."""
        net = parse_network(network)
        self._pending[str(net)] = Ban(
            network=str(net), since=now, until=now, reason="lifted", lifted=True
        )
        return self._lift(net)

    def merge(self, bans: Iterable[Ban], now: float) -> None:
        """Take on bans decided elsewhere (another node, an operator, this node before a
        restart). A ban in force here stays at least as long as it was; a lifted ban goes
        unless this node banned the address again since; a lapsed one still counts toward the
        ladder of its address."""
        for ban in bans:
            net = ip_network(ban.network)
            single = net.num_addresses == 1
            host = str(net.network_address)
            current = self._hosts.get(host) if single else self._networks.get(net)
            if ban.lifted:
                if current is None or current.since <= ban.until:
                    self._lift(net)
                continue
            if single:
                offences, last = self._history.get(host, (0, -math.inf))
                self._remember(host, max(offences, ban.offences), max(last, ban.until))
            if not ban.active(now):
                continue
            if current is None or not current.active(now) or current.until < ban.until:
                self._put(net, ban)

    def take_pending(self) -> list[Ban]:
        """The bans and lifts decided here since the last call, for the store."""
        pending = list(self._pending.values())
        self._pending.clear()
        return pending

    def give_back(self, bans: Iterable[Ban]) -> None:
        """Pending bans the store could not take: shared at the next sync (newer ones win)."""
        for ban in bans:
            self._pending.setdefault(ban.network, ban)

    def active(self, now: float) -> list[Ban]:
        """Every ban in force, longest-lasting first."""
        bans = [b for b in [*self._hosts.values(), *self._networks.values()] if b.active(now)]
        return sorted(bans, key=lambda b: (-b.until, b.network))

    def expire(self, now: float) -> None:
        """Drop lapsed bans and long-forgotten offences (every minute or so)."""
        for host, ban in list(self._hosts.items()):
            if not ban.active(now):
                self._lapse(host, ban)
        for net, ban in list(self._networks.items()):
            if not ban.active(now):
                self._drop_network(net)
        for prefix, members in list(self._v6_members.items()):
            members.intersection_update(self._hosts)
            if not members:
                del self._v6_members[prefix]
        stale = [h for h, (_, last) in self._history.items() if now - last > self._forget_after]
        for host in stale:
            del self._history[host]

    def __len__(self) -> int:
        return len(self._hosts) + len(self._networks)

    # -- inside ----------------------------------------------------------------------------------

    def _put(self, net: Network, ban: Ban) -> None:
        if net.num_addresses == 1:
            self._hosts[str(net.network_address)] = ban
        else:
            self._networks[net] = ban
            self._by_prefix[_prefix_key(net)] = ban
            self._index_lengths()

    def _lift(self, net: Network) -> bool:
        if net.num_addresses == 1:
            host = str(net.network_address)
            self._history.pop(host, None)
            return self._hosts.pop(host, None) is not None
        return self._drop_network(net)

    def _drop_network(self, net: Network) -> bool:
        if self._networks.pop(net, None) is None:
            return False
        self._by_prefix.pop(_prefix_key(net), None)
        self._index_lengths()
        return True

    def _index_lengths(self) -> None:
        for version in (4, 6):
            self._lengths[version] = tuple(
                sorted({n.prefixlen for n in self._networks if n.version == version})
            )

    def _lapse(self, host: str, ban: Ban) -> None:
        del self._hosts[host]
        offences, _ = self._history.get(host, (ban.offences, ban.until))
        self._remember(host, offences, ban.until)

    def _remember(self, host: str, offences: int, until: float) -> None:
        self._history.pop(host, None)
        # A ban without end counts its offences as of now: lifted, they are forgotten in time.
        self._history[host] = (offences, until if math.isfinite(until) else 0.0)
        if len(self._history) > self._max_history:
            del self._history[next(iter(self._history))]


def _prefix_key(net: Network) -> tuple[int, int, int]:
    return (
        net.version,
        net.prefixlen,
        int(net.network_address) >> (net.max_prefixlen - net.prefixlen),
    )


def _bits(host: str) -> int:
    return 32 if ip_address(host).version == 4 else 128
