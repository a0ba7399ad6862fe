"""The perimeter's values, shared with the store and the admin side: a ban, and the address
and network forms every part of the service reads the same way.

Kept apart from the decisions (:mod:`ringfence.guard.perimeter`, :mod:`ringfence.guard.bans`)
so that the store can hold bans and source ACLs without knowing how they are decided.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Network, ip_address, ip_network

__all__ = [
    "Ban",
    "Network",
    "check_networks",
    "in_networks",
    "parse_network",
    "plain_address",
]

Network = IPv4Network | IPv6Network

#: Networks an ACL may hold at most: a firewall rule, not a routing table.
MAX_ACL_NETWORKS = 64


@dataclass(frozen=True, slots=True, kw_only=True)
class Ban:
    """One ban. ``lifted``: an operator removed it at ``until`` (the store keeps the fact, so
    that every node drops it and none brings it back)."""

    network: str  # "203.0.113.5/32", "2001:db8::/64"
    since: float  # wall-clock seconds
    until: float  # ``math.inf`` for a ban without end
    reason: str  # brute_force, scanner, enumeration, options_sweep, flood, manual, ...
    offences: int = 1
    lifted: bool = False

    def active(self, now: float) -> bool:
        return not self.lifted and now < self.until

    @property
    def address(self) -> str:
        """The banned address, or the network when it is more than one."""
        net = ip_network(self.network)
        return str(net.network_address) if net.num_addresses == 1 else self.network


def plain_address(address: str) -> str:
    """An address as the bans key it: brackets off, an IPv4-mapped IPv6 address as IPv4."""
    try:
        parsed = ip_address(address.strip("[]"))
    except ValueError:
        raise ValueError(f"{address!r} is not an IP address") from None
    mapped = getattr(parsed, "ipv4_mapped", None)
    return str(mapped or parsed)


def parse_network(text: str) -> Network:
    """``ADDRESS`` or ``ADDRESS/PREFIX`` (host bits set are an error, not a silent widening);
    an IPv4-mapped IPv6 address is its IPv4 address. Raises ``ValueError`` saying what to fix."""
    text = text.strip()
    if "/" not in text:
        return ip_network(plain_address(text))
    address, _, prefix = text.partition("/")
    try:
        return ip_network(f"{plain_address(address)}/{prefix}", strict=True)
    except ValueError as error:
        raise ValueError(f"{text!r} is not a network: {error}") from None


def check_networks(texts: Iterable[str]) -> tuple[str, ...]:
    """An ACL as the operator wrote it (``10.0.0.0/8, 2001:db8::/32``): each network checked,
    duplicates dropped, in canonical form. Raises ``ValueError`` saying what to fix."""
    seen: list[str] = []
    for text in texts:
        if not text.strip():
            continue
        try:
            net = str(parse_network(text))
        except ValueError as error:
            raise ValueError(f"{error} (write e.g. 192.0.2.0/24)") from None
        if net not in seen:
            seen.append(net)
    if len(seen) > MAX_ACL_NETWORKS:
        raise ValueError(f"an ACL holds at most {MAX_ACL_NETWORKS} networks, not {len(seen)}")
    return tuple(seen)


def in_networks(address: str, networks: Iterable[Network]) -> bool:
    """Whether ``address`` (a source host as it arrived) lies in any of ``networks``."""
    try:
        parsed = ip_address(plain_address(address))
    except ValueError:
        return False
    return any(parsed.version == net.version and parsed in net for net in networks)
