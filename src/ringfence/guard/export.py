"""The bans as the host firewall reads them: an nftables ruleset file.

Loading it (``nft -f FILE``) replaces the table ``inet ringfence`` in one transaction: two
sets of banned addresses and networks (IPv4 and IPv6), each element with the time it has left,
and a chain that drops their packets to the SIP ports before they reach the service. Run the
export again (a timer every minute, say) to follow the bans; an element whose time runs out
leaves the set by itself in between.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, datetime
from ipaddress import ip_network

from ringfence.guard.model import Ban

__all__ = ["nftables_ruleset"]


def nftables_ruleset(
    bans: Iterable[Ban], *, now: float, ports: Iterable[int] = (5060, 5061)
) -> str:
    """The ``nft -f`` file for the bans in force at ``now``."""
    v4: list[str] = []
    v6: list[str] = []
    for ban in bans:
        if not ban.active(now):
            continue
        net = ip_network(ban.network)
        element = str(net.network_address) if net.num_addresses == 1 else str(net)
        if math.isfinite(ban.until):
            # Whole seconds, at least one: nft takes no fractions.
            element += f" timeout {max(1, math.ceil(ban.until - now))}s"
        (v4 if net.version == 4 else v6).append(element)
    port_list = ", ".join(str(p) for p in sorted(set(ports)))
    stamp = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    lines = [
        "#!/usr/sbin/nft -f",
        f"# ringfence bans at {stamp}: {len(v4)} IPv4 and {len(v6)} IPv6.",
        "# Written by `ringfence bans export --nft FILE`; load it with `nft -f FILE`.",
        "table inet ringfence",
        "delete table inet ringfence",
        "table inet ringfence {",
        *_set("banned4", "ipv4_addr", v4),
        *_set("banned6", "ipv6_addr", v6),
        "    chain input {",
        "        type filter hook input priority filter - 10; policy accept;",
        f"        ip saddr @banned4 meta l4proto {{ tcp, udp }} th dport {{ {port_list} }} drop",
        f"        ip6 saddr @banned6 meta l4proto {{ tcp, udp }} th dport {{ {port_list} }} drop",
        "    }",
        "}",
    ]
    return "\n".join(lines) + "\n"


def _set(name: str, kind: str, elements: list[str]) -> list[str]:
    lines = [
        f"    set {name} {{",
        f"        type {kind}",
        "        flags interval, timeout",
    ]
    if elements:
        lines.append("        elements = {")
        lines.extend(f"            {e}," for e in elements[:-1])
        lines.append(f"            {elements[-1]}")
        lines.append("        }")
    lines.append("    }")
    return lines
