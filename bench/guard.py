"""The perimeter's hot path: the cost of the look before parsing, per packet, printed as JSON.

Run by hand: ``.venv/bin/python bench/guard.py [--packets N]``. Never a timed test.

``Perimeter.admit`` runs on every packet that reaches the node, before it is parsed. Cases:

* ``quiet``: 5,000 phones at 5,000 addresses, a packet now and then from each, no bans;
* ``banned``: the same phones while 50,000 addresses and 200 networks are banned (a scanner
  wave), with every fourth packet from a banned address;
* ``flood``: one address sending as fast as the loop can, far over its rate (strikes, then
  its ban);
* ``spray``: a flood from 200,000 addresses, one packet each (the per-address tables at their
  cap of 65,536 entries, least recently seen going first);
* ``auth_failed``: the bookkeeping of one failed login (counted per address and extension).

Each prints nanoseconds per call (median of five rounds) and the process's peak RSS after it.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import sys
import time
from collections.abc import Callable

from ringfence.guard import GuardSettings, Perimeter, shipped_fingerprints

INVITE = b"INVITE sip:+44"
REGISTER = b"REGISTER sip:a"
OPTIONS = b"OPTIONS sip:100"


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _rounds(run: Callable[[], int], rounds: int = 5) -> float:
    """Median nanoseconds per call over ``rounds`` runs; ``run`` returns its call count."""
    costs = []
    for _ in range(rounds):
        start = time.perf_counter_ns()
        calls = run()
        costs.append((time.perf_counter_ns() - start) / calls)
    return statistics.median(costs)


def phones(n: int) -> list[str]:
    return [f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}" for i in range(n)]


def case_quiet(packets: int) -> float:
    perimeter = Perimeter(GuardSettings(), shipped_fingerprints())
    sources = phones(5000)
    clock = [0.0]

    def run() -> int:
        for i in range(packets):
            clock[0] += 0.0005  # 2,000 packets a second, the global budget
            head = REGISTER if i % 3 == 0 else INVITE if i % 3 == 1 else OPTIONS
            perimeter.admit(sources[i % len(sources)], head, clock[0])
        return packets

    return _rounds(run)


def case_banned(packets: int) -> float:
    perimeter = Perimeter(GuardSettings(), shipped_fingerprints())
    for i in range(50_000):
        perimeter.bans.offend(f"203.{i // 65536}.{i // 256 % 256}.{i % 256}", 0.0, "scanner")
    for i in range(200):
        perimeter.bans.add(f"198.{18 + i // 256}.{i % 256}.0/24", 0.0, duration=None, reason="m")
    sources = phones(5000)
    clock = [1.0]

    def run() -> int:
        for i in range(packets):
            clock[0] += 0.0005
            host = f"203.0.{i // 256 % 256}.{i % 256}" if i % 4 == 0 else sources[i % 5000]
            perimeter.admit(host, INVITE, clock[0])
        return packets

    return _rounds(run)


def case_flood(packets: int) -> float:
    perimeter = Perimeter(GuardSettings(), shipped_fingerprints())
    clock = [0.0]

    def run() -> int:
        for _ in range(packets):
            clock[0] += 0.00001  # 100,000 a second from one address
            perimeter.admit("192.0.2.66", REGISTER, clock[0])
        return packets

    return _rounds(run)


def case_spray(packets: int) -> float:
    perimeter = Perimeter(GuardSettings(), shipped_fingerprints())
    clock = [0.0]
    sources = [f"100.{i // 65536 % 64 + 64}.{i // 256 % 256}.{i % 256}" for i in range(200_000)]

    def run() -> int:
        for i in range(packets):
            clock[0] += 0.00001
            perimeter.admit(sources[i % len(sources)], INVITE, clock[0])
        return packets

    return _rounds(run)


def case_auth_failed(packets: int) -> float:
    perimeter = Perimeter(GuardSettings(), shipped_fingerprints())
    clock = [0.0]

    def run() -> int:
        for i in range(packets):
            clock[0] += 0.01
            perimeter.auth_failed(f"100.64.{i // 256 % 256}.{i % 256}", 7, f"{1000 + i % 50}",
                                  clock[0])  # fmt: skip
            perimeter.drain()
        return packets

    return _rounds(run)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packets", type=int, default=200_000)
    args = parser.parse_args()
    results: dict[str, object] = {}
    for name, case in (
        ("quiet", case_quiet),
        ("banned", case_banned),
        ("flood", case_flood),
        ("spray", case_spray),
        ("auth_failed", case_auth_failed),
    ):
        ns = case(args.packets)
        results[name] = {
            "ns_per_call": round(ns),
            "calls_per_second_one_core": round(1e9 / ns),
            "peak_rss_mb": round(_peak_rss_mb(), 1),
        }
    print(
        json.dumps(
            {
                "bench": "guard",
                "python": sys.version.split()[0],
                "machine": platform.machine(),
                "packets_per_round": args.packets,
                "cases": results,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
