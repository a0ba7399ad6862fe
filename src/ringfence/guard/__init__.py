"""Perimeter: auth-failure tracking, bans, flood limits, scanner handling; decisions are pure.

:class:`Perimeter` decides, before a packet is parsed, whether it goes on (:class:`Verdict`),
and bans the sources that earn it: failed logins, users walked one after another, OPTIONS
sweeps, scanner fingerprints (:class:`Fingerprints`, shipped in ``guard/data/scanners.toml``)
and floods. :class:`BanList` holds the bans, growing with each offence.
"""

from ringfence.guard.bans import DEFAULT_LADDER, BanList
from ringfence.guard.counters import Buckets, Window
from ringfence.guard.model import (
    Ban,
    Network,
    check_networks,
    in_networks,
    parse_network,
    plain_address,
)
from ringfence.guard.perimeter import GuardEvent, GuardSettings, Perimeter, Verdict
from ringfence.guard.scanners import Fingerprints, shipped_fingerprints

__all__ = [
    "DEFAULT_LADDER",
    "Ban",
    "BanList",
    "Buckets",
    "Fingerprints",
    "GuardEvent",
    "GuardSettings",
    "Network",
    "Perimeter",
    "Verdict",
    "Window",
    "check_networks",
    "in_networks",
    "parse_network",
    "plain_address",
    "shipped_fingerprints",
]
