"""Call policy latency: normalise a dialled string, then decide the call; one JSON object out.

Run by hand: ``.venv/bin/python bench/policy.py [--decisions N] [--seed S] [--json-only]``.
Never a timed test. Progress lines go to stderr, the JSON to stdout. ``--pattern-cache`` turns
on ``phonenumbers.enable_pattern_cache()`` first, to see what it would do to the cold regime.

Timed, one ``perf_counter_ns`` pair per decision, the path the router takes: the extension's
rules from the :class:`PolicyBook` (a memo lookup) and ``check_outbound(dialled, rules, now,
...)``, which normalises in the tenant's country and evaluates. Inbound: ``check_inbound``, which
normalises the caller ID first. The rules: a US tenant with international
calls to GB, FR, DE, CA and MX from 08:00 to 18:00 New York time, at most 0.25/min over a
generated table of a few thousand rates, the packaged high-risk list and a block list. Dialled
strings are real numbers (phonenumbers' example numbers for many regions and types, last digits
varied, kept only while still valid) written as phones dial them (``+44 20 ...``, ``011 44 ...``,
``00 44 ...``, ``(201) 555-0123``, ``1201...``), plus emergency numbers, extensions, global
services (satellite, +800) and invalid strings.

Regimes, each with its own percentiles:

- ``cold``: the normalise cache emptied first and every dialled string distinct: all misses.
- ``warm``: a working set of a few hundred numbers dialled again and again (skewed: a few are
  dialled most), after one pass over it.
- ``inbound``: caller IDs against the block list (exact numbers, ``*`` prefixes, ``anonymous``,
  blocks of one extension).

The issue's target, p99 under 50 µs, is judged on ``warm``; ``cold`` is reported as measured.
The garbage collector is off during timed loops; the process is pinned to one CPU where it can.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import platform
import random
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import phonenumbers
from phonenumbers import PhoneNumber, PhoneNumberFormat
from phonenumbers import PhoneNumberType as T

from ringfence.policy import (
    BlockTreatment,
    CallerBlock,
    Decision,
    PolicyBook,
    PolicySettings,
    RateTable,
    TimeWindow,
    check_inbound,
    check_outbound,
    load_packaged_high_risk,
    parse_rates_csv,
)
from ringfence.policy.numbers import _normalise

COUNTRY = "US"
TENANT = 1
ALLOWED = frozenset({"GB", "FR", "DE", "CA", "MX"})
TIMEZONE = "America/New_York"
TARGET_P99_US = 50.0
WORKING_SET = 300
WARMUP = 2_000
PERCENTILES = {"p50": 50.0, "p90": 90.0, "p99": 99.0, "p99_9": 99.9}
SPECIAL = (T.PREMIUM_RATE, T.TOLL_FREE, T.SHARED_COST, T.PERSONAL_NUMBER, T.UAN, T.VOIP)
BLOCKED_PREFIXES = ("+1900*", "+1976*", "+44871*", "+44909*", "+234*", "+252*", "+371*", "+53*")

Gen = Callable[[random.Random], str | None]
Category = tuple[str, float, Gen]


def examples(regions: Iterable[str], types: Iterable[int]) -> list[PhoneNumber]:
    found = (phonenumbers.example_number_for_type(r, t) for r in sorted(regions) for t in types)
    return [n for n in found if n is not None]


def e164(number: PhoneNumber) -> str:
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def vary(rng: random.Random, example: PhoneNumber) -> PhoneNumber | None:
    """The example with its last digits changed, if still valid in its numbering plan."""
    plus = e164(example)
    k = max(1, min(7, len(plus) - 5))
    for _ in range(8):
        number = phonenumbers.parse(f"{plus[:-k]}{rng.randrange(10**k):0{k}d}")
        if phonenumbers.is_valid_number(number):
            return number
    return None


def dialled_form(rng: random.Random, number: PhoneNumber) -> str:
    """As a phone in the US dials it: NANP numbers nationally, the rest internationally."""
    plus = e164(number)
    if number.country_code == 1:
        nsn = phonenumbers.national_significant_number(number)
        national = phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL)
        forms = (national, nsn, "1" + nsn, f"1-{nsn[:3]}-{nsn[3:6]}-{nsn[6:]}", plus)
    else:
        spaced = phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)
        forms = (plus, spaced, "011" + plus[1:], "011 " + spaced[1:], "00" + plus[1:])
    return rng.choice(forms)


def numbers(pool: Sequence[PhoneNumber]) -> Gen:
    def gen(rng: random.Random) -> str | None:
        number = vary(rng, rng.choice(pool))
        return None if number is None else dialled_form(rng, number)

    return gen


def invalid(pool: Sequence[PhoneNumber]) -> Gen:
    def gen(rng: random.Random) -> str:
        plus = e164(rng.choice(pool))
        cut = plus[: rng.randint(4, len(plus) - 3)]  # a number dialled half-way
        return rng.choice(
            (cut, "011" + cut[1:], f"+999{rng.randrange(10**8)}", f"*67{plus[1:]}", plus + "#x")
        )

    return gen


def categories() -> list[Category]:
    regions = phonenumbers.SUPPORTED_REGIONS
    others = regions - ALLOWED - {COUNTRY}
    global_services = [
        n
        for cc in sorted(phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS)
        if (n := phonenumbers.example_number_for_non_geo_entity(cc)) is not None
    ]
    everywhere = examples(regions, (T.FIXED_LINE, T.MOBILE))
    return [
        ("us_domestic", 45, numbers(examples({COUNTRY}, (T.FIXED_LINE, T.MOBILE)))),
        ("us_toll_free", 5, numbers(examples({COUNTRY}, (T.TOLL_FREE,)))),
        ("us_premium", 1, numbers(examples({COUNTRY}, (T.PREMIUM_RATE,)))),
        ("intl_allowed_country", 15, numbers(examples(ALLOWED, (T.FIXED_LINE, T.MOBILE)))),
        ("intl_other_country", 6, numbers(examples(others, (T.FIXED_LINE, T.MOBILE)))),
        ("intl_special_type", 3, numbers(examples(regions - {COUNTRY}, SPECIAL))),
        ("global_services", 0.5, numbers(global_services)),
        ("extension", 15, lambda rng: str(rng.randint(1000, 8999))),
        ("emergency", 0.5, lambda rng: rng.choice(("911", "112"))),
        ("invalid", 3, invalid(everywhere)),
    ]


def draw(rng: random.Random, cats: list[Category], count: int) -> list[tuple[str, str]]:
    """``count`` distinct (category, dialled) pairs, categories by weight; a category that
    yields nothing new in 50 tries (emergency numbers are few) is dropped."""
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    live = list(cats)
    while len(out) < count:
        if not live:
            raise SystemExit(f"only {len(out)} distinct dialled strings; ask for fewer")
        name, _, gen = rng.choices(live, weights=[c[1] for c in live])[0]
        for _ in range(50):
            text = gen(rng)
            if text is not None and text not in seen:
                seen.add(text)
                out.append((name, text))
                break
        else:
            live = [c for c in live if c[0] != name]
    return out


def rate_table(rng: random.Random) -> RateTable:
    """Every country code, its ten one-digit sub-prefixes and a few longer ones, as a CSV."""
    lines = ["prefix,price,currency"]
    for cc in sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE, key=str):
        base = 0.01 if cc == 1 else rng.lognormvariate(math.log(0.08), 0.8)
        subs = {str(cc)} | {f"{cc}{d}" for d in range(10)}
        subs |= {f"{cc}{rng.randrange(10, 100)}" for _ in range(4)}
        for prefix in sorted(subs):
            price = base if prefix == str(cc) else base * rng.uniform(0.6, 2.5)
            lines.append(f"{prefix},{price:.4f},USD")
    return RateTable(parse_rates_csv("\n".join(lines)))


def make_blocks(rng: random.Random, callers: Sequence[str]) -> tuple[CallerBlock, ...]:
    treatments = list(BlockTreatment)
    exact = [(p, None) for p in callers[:100]]
    per_ext = [(p, f"10{rng.randrange(50):02d}") for p in callers[100:120]]
    wild = [(p, None) for p in (*BLOCKED_PREFIXES, "anonymous")]
    patterns = exact + per_ext + wild
    rng.shuffle(patterns)  # in the order admins added them
    return tuple(
        CallerBlock(id=i, pattern=p, ext=ext, treatment=rng.choice(treatments))
        for i, (p, ext) in enumerate(patterns, start=1)
    )


def local_times(rng: random.Random, count: int) -> list[float]:
    """Weekdays, 07:00 to 20:00 New York time: mostly inside the 08:00-18:00 window."""
    monday = datetime(2024, 6, 3, tzinfo=ZoneInfo(TIMEZONE)).timestamp()
    return [monday + rng.randrange(5) * 86400 + rng.uniform(7, 20) * 3600 for _ in range(count)]


def inbound_callers(
    rng: random.Random, blocks: Sequence[CallerBlock], callers: Sequence[str], count: int
) -> list[tuple[str | None, str]]:
    """(caller ID, callee extension): 8 % blocked by number, 3 % by prefix, 4 % withheld."""
    exact = [b for b in blocks if not b.pattern.endswith("*") and b.pattern != "anonymous"]
    prefixed = [p[:-1] + str(rng.randrange(10**7, 10**8)) for p in BLOCKED_PREFIXES]
    out: list[tuple[str | None, str]] = []
    for _ in range(count):
        r, ext = rng.random(), f"10{rng.randrange(50):02d}"
        if r < 0.08:
            block = rng.choice(exact)
            out.append((block.pattern, block.ext or ext))
        elif r < 0.11:
            out.append((rng.choice(prefixed), ext))
        else:
            out.append((None if r < 0.15 else rng.choice(callers), ext))
    return out


def outcome(decision: Decision) -> str:
    return decision.reason or ("allowed_emergency" if decision.alert else "allowed")


def timed(one: Callable[[int], Decision], count: int) -> dict[str, Any]:
    """Time ``one(i)`` for each i below ``count`` with the collector off, and summarise."""
    clock = time.perf_counter_ns
    latencies = [0] * count
    decisions: list[Decision] = []
    keep = decisions.append
    before = _normalise.cache_info()
    gc.disable()
    try:
        start = clock()
        for i in range(count):
            t0 = clock()
            decision = one(i)
            latencies[i] = clock() - t0
            keep(decision)
        wall = clock() - start
    finally:
        gc.enable()
    after = _normalise.cache_info()
    ordered = sorted(latencies)
    us = {
        name: round(ordered[max(0, math.ceil(p / 100 * count) - 1)] / 1e3, 2)
        for name, p in PERCENTILES.items()
    }
    us |= {"max": round(ordered[-1] / 1e3, 2), "mean": round(sum(ordered) / count / 1e3, 2)}
    return {
        "decisions": count,
        "decisions_per_s": round(count * 1e9 / wall),
        "latency_us": us,
        "target_p99_us": TARGET_P99_US,
        "pass": us["p99"] < TARGET_P99_US,
        "normalise_cache": {
            "hits": after.hits - before.hits,
            "misses": after.misses - before.misses,
        },
        "outcomes": dict(Counter(map(outcome, decisions)).most_common()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=50_000, help="timed, per regime")
    parser.add_argument("--seed", type=int, default=1, help="of every random choice")
    parser.add_argument("--json-only", action="store_true", help="print the JSON object only")
    parser.add_argument(
        "--pattern-cache", action="store_true", help="phonenumbers.enable_pattern_cache() first"
    )
    args = parser.parse_args()
    if args.pattern_cache:  # not what the service does today: to see what it would change
        phonenumbers.enable_pattern_cache()
    n = args.decisions

    def say(text: str) -> None:
        if not args.json_only:
            print(text, file=sys.stderr, flush=True)

    cpu = None
    if hasattr(os, "sched_setaffinity"):
        cpu = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
    rng = random.Random(args.seed)
    say("building the rates, the block list and the dialled strings ...")
    rates, high_risk, cats = rate_table(rng), load_packaged_high_risk(), categories()
    owned = frozenset(e164(phonenumbers.parse(s, COUNTRY)) for _, s in draw(rng, cats[:1], 20))
    # Callers, and strangers' numbers: about 70 % US, the rest fixed lines and mobiles abroad.
    callers = [
        e164(phonenumbers.parse(s, COUNTRY))
        for _, s in draw(rng, [cats[0], cats[3], cats[4]], 2_000)
    ]
    blocks = make_blocks(rng, callers)
    tenant = PolicySettings(
        international=True,
        countries=ALLOWED,
        window=TimeWindow.parse("08:00-18:00"),
        timezone=TIMEZONE,
        max_rate=Decimal("0.25"),
    )
    book = PolicyBook(
        settings={(TENANT, ""): tenant},
        blocks=[(TENANT, block) for block in blocks],
        rates={TENANT: rates},
        high_risk=high_risk,
    )
    drawn = draw(rng, cats, n + WARMUP + WORKING_SET)
    cold, warmup, work = drawn[:n], drawn[n : n + WARMUP], drawn[n + WARMUP :]
    zipf = [1 / (rank + 1) ** 0.9 for rank in range(len(work))]  # a few numbers dialled most
    warm = rng.choices(work, weights=zipf, k=n)
    nows = local_times(rng, n + WARMUP)
    mine = sorted(owned)  # 2 % of calls present a caller ID the tenant does not own
    presented = [rng.choice(mine if rng.random() < 0.98 else callers) for _ in range(n + WARMUP)]
    inbound = inbound_callers(rng, blocks, callers[120:], n + WARMUP)

    def dial(pairs: Sequence[tuple[str, str]]) -> Callable[[int], Decision]:
        texts = [text for _, text in pairs]

        def one(i: int) -> Decision:
            rules = book.rules(TENANT, country=COUNTRY, ext="1001")
            return check_outbound(
                texts[i], rules, nows[i], presented=presented[i], owned_numbers=owned
            )[1]

        return one

    def answer(i: int) -> Decision:
        caller, ext = inbound[i]
        return check_inbound(caller, ext, book.rules(TENANT, country=COUNTRY, ext=ext))

    def mix(pairs: Sequence[tuple[str, str]]) -> dict[str, Any]:
        return {
            "distinct_dialled": len({text for _, text in pairs}),
            "mix": dict(Counter(name for name, _ in pairs).most_common()),
        }

    say(f"warm-up: {WARMUP} decisions ...")
    timed(dial(warmup), WARMUP)
    say(f"cold: {n} distinct dialled strings, the normalise cache emptied ...")
    _normalise.cache_clear()
    regimes = {"cold": timed(dial(cold), n) | mix(cold)}
    say(f"warm: {n} decisions over a working set of {len(work)} ...")
    _normalise.cache_clear()
    timed(dial(work), len(work))  # each number of the working set dialled once
    regimes["warm"] = timed(dial(warm), n) | mix(warm)
    say(f"inbound: {n} caller IDs against {len(blocks)} blocks ...")
    timed(lambda i: answer(n + i), WARMUP)
    regimes["inbound"] = timed(answer, n)
    regimes["inbound"]["distinct_callers"] = len({caller for caller, _ in inbound[:n]})

    result = {
        "bench": "policy_normalise_evaluate",
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "phonenumbers": phonenumbers.__version__,
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "pinned_cpu": cpu,
        "seed": args.seed,
        "gc_disabled_during_timed_loops": True,
        "phonenumbers_pattern_cache": args.pattern_cache,
        "timed": "per decision: book.rules(tenant, ext) + check_outbound(dialled, rules, now, "
        "presented, owned) (normalise + evaluate); inbound: book.rules + check_inbound (normalise "
        "the caller ID + evaluate). decisions_per_s: one core, wall clock of the "
        "timed loop, timer calls included",
        "sizes": {
            "rates": len(rates),
            "high_risk_ranges": len(high_risk),
            "blocks": len(blocks),
            "owned_numbers": len(owned),
            "distinct_dialled_cold": regimes["cold"]["distinct_dialled"],
            "working_set_warm": len(work),
            "distinct_callers_inbound": regimes["inbound"]["distinct_callers"],
        },
        "regimes": regimes,
        "target": {"p99_us_below": TARGET_P99_US, "judged_on": "warm"},
        "pass": regimes["warm"]["pass"],
        "note": "The target is judged on the warm regime: a tenant dials the same few hundred "
        "numbers again and again, and the normalise cache answers for them. The cold regime "
        "(every dialled string new: phonenumbers parses and validates each) is reported as "
        "measured; it is the cost of the first call to a number, and the target is not meant "
        "for it.",
    }
    print(json.dumps(result, indent=None if args.json_only else 2, ensure_ascii=False))


if __name__ == "__main__":
    main()
