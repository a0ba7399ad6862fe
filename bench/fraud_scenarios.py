"""The simulated world of ``fraud_sim.py``: tenants, their everyday calling, and attacks.

Everything here is a plan in virtual time; :mod:`fraud_sim` plays the plans to the detector.
A :class:`Tenant` has a home country and time zone, extensions with a stable source address each,
the international countries its call policy enables (how often it calls each, and the numbers it
calls there), a calling pattern by hour and kind of day, month-end peaks, trips and an office that
may change address. :func:`day_events` draws one local day of its traffic (outbound calls,
policy-refused mis-dials, inbound calls and call-backs, failed logins of internet scanners);
:func:`history` draws the 28 days the baseline learns from, with the same model.

The attacks (:data:`ATTACKS`) are scripts that run against an :class:`Engine`: they dial, ring
and register when the engine wakes them, and react to what happened (a refused call is retried,
an ended one redialled).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any, NamedTuple, Protocol
from zoneinfo import ZoneInfo

from ringfence.fraud import PastCall
from ringfence.fraud.baseline import is_holiday, is_off_hours

HOUR = 3600.0
DAY = 86400.0
FIRST_DAY = date(2024, 2, 22)  # the first simulated day (local); the history is the 28 before
HISTORY_DAYS = 28
DOMESTIC_PRICE = 0.01
ANSWERED = 0.72  # share of outbound attempts that are answered


class Plan(NamedTuple):
    """How the simulation writes a country's numbers, and what a minute there costs."""

    cc: str
    fixed: float
    mobile: float
    fixed_leads: tuple[str, ...] = ("2", "3", "4", "5")
    mobile_leads: tuple[str, ...] = ("6", "7", "8", "9")
    premium_leads: tuple[str, ...] = ("90", "70")


US_AREAS = ("212", "312", "415", "617", "202", "305", "713", "206", "404", "512", "303", "602")
CA_AREAS = ("416", "647", "604", "514", "613", "403", "780", "905", "519", "902", "778", "587")
COUNTRIES: dict[str, Plan] = {
    "US": Plan("1", 0.02, 0.02, US_AREAS, US_AREAS, ("900",)),
    "CA": Plan("1", 0.02, 0.02, CA_AREAS, CA_AREAS, ("900",)),
    "GB": Plan("44", 0.02, 0.08, ("1", "2"), ("7",), ("9", "70", "87")),
    "DE": Plan("49", 0.02, 0.10, ("2", "3", "4", "6", "8"), ("15", "16", "17"), ("900", "137")),
    "FR": Plan("33", 0.02, 0.08, ("1", "2", "3", "4", "5"), ("6", "7"), ("89", "81")),
    "AU": Plan("61", 0.03, 0.10, ("2", "3", "7", "8"), ("4",), ("19",)),
    "MX": Plan("52", 0.03, 0.05),
    "IN": Plan("91", 0.03, 0.04),
    "CN": Plan("86", 0.02, 0.02),
    "PH": Plan("63", 0.12, 0.18),
    "JP": Plan("81", 0.05, 0.12),
    "IE": Plan("353", 0.03, 0.10),
    "ES": Plan("34", 0.02, 0.06),
    "NL": Plan("31", 0.03, 0.10),
    "PL": Plan("48", 0.03, 0.05),
    "AT": Plan("43", 0.03, 0.12),
    "CH": Plan("41", 0.04, 0.20),
    "IT": Plan("39", 0.02, 0.08),
    "BE": Plan("32", 0.03, 0.12),
    "MA": Plan("212", 0.15, 0.20),
    "NZ": Plan("64", 0.04, 0.15),
    "SG": Plan("65", 0.03, 0.03),
    # the few expensive destinations some tenants call for business
    "NG": Plan("234", 0.30, 0.35),
    "LK": Plan("94", 0.32, 0.35),
    "SN": Plan("221", 0.45, 0.50),
    "HT": Plan("509", 0.55, 0.60),
    "CU": Plan("53", 0.95, 0.95),
}
EXPENSIVE = ("NG", "LK", "SN", "HT", "CU")
# Where attackers probe first: no tenant enables these (the policy refuses them). High risk.
PROBED = (("LV", "371"), ("LT", "370"), ("SO", "252"), ("GN", "224"), ("TN", "216"))
PROBED += (("SL", "232"), ("001", "881"), ("001", "882"), ("CU", "53"))


class Home(NamedTuple):
    weight: float
    zones: tuple[str, ...]
    partners: dict[str, float]  # usual international destinations, by how common they are


HOMES: dict[str, Home] = {
    "US": Home(
        40,
        ("America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles"),
        {"CA": 8, "MX": 6, "GB": 5, "IN": 4, "DE": 3, "CN": 2, "FR": 2, "PH": 2, "JP": 1},
    ),
    "GB": Home(
        15,
        ("Europe/London",),
        {"IE": 8, "US": 6, "FR": 5, "DE": 5, "ES": 3, "NL": 3, "IN": 3, "PL": 2},
    ),
    "DE": Home(
        15,
        ("Europe/Berlin",),
        {"AT": 8, "CH": 7, "FR": 4, "NL": 4, "PL": 3, "IT": 3, "US": 3, "GB": 3},
    ),
    "FR": Home(
        10,
        ("Europe/Paris",),
        {"BE": 7, "CH": 6, "DE": 4, "ES": 4, "IT": 4, "GB": 3, "MA": 3, "US": 2},
    ),
    "AU": Home(
        10,
        ("Australia/Sydney", "Australia/Melbourne", "Australia/Brisbane", "Australia/Perth"),
        {"NZ": 9, "US": 4, "GB": 4, "SG": 3, "CN": 3, "IN": 2, "PH": 2},
    ),
    "CA": Home(
        10,
        ("America/Toronto", "America/Vancouver", "America/Edmonton", "America/Halifax"),
        {"US": 10, "GB": 3, "FR": 3, "MX": 2, "IN": 2, "CN": 2},
    ),
}
TRAVEL = (
    ("GB", "Europe/London"),
    ("FR", "Europe/Paris"),
    ("DE", "Europe/Berlin"),
    ("US", "America/New_York"),
    ("US", "America/Los_Angeles"),
    ("SG", "Asia/Singapore"),
    ("JP", "Asia/Tokyo"),
    ("AU", "Australia/Sydney"),
    ("IN", "Asia/Kolkata"),
)

# Calls by local hour, one profile per kind of day; and the day's volume against a weekday's.
_OFFICE = (0, 0, 0, 0, 0, 1, 3, 25, 80, 100, 100, 100, 55, 70, 100, 100, 90, 65, 22, 8, 4, 2, 1, 1)
_RETAIL = (0, 0, 0, 0, 0, 0, 1, 5, 30, 80, 100, 100, 90, 90, 100, 100, 100, 90, 80, 60, 35, 8, 2, 0)
_ALWAYS = (25, 20, 18, 18, 20, 25, 40, 70, 95, 100, 100, 100, 90, 95, 100, 100, 95, 85, 70, 60)
_ALWAYS += (50, 45, 35, 30)
_EVENING = (2, 1, 0, 0, 0, 0, 0, 1, 5, 15, 40, 60, 70, 60, 45, 45, 60, 90, 100, 100, 85, 55, 25, 8)
_WEEKEND_OFFICE = (
    0,
    0,
    0,
    0,
    0,
    0,
    1,
    5,
    40,
    80,
    100,
    100,
    80,
    60,
    50,
    40,
    30,
    15,
    8,
    3,
    1,
    1,
    0,
    0,
)
KINDS: dict[str, tuple[float, dict[str, tuple[float, tuple[int, ...]]]]] = {
    # kind: (share of tenants, {kind of day: (volume against a weekday, calls by hour)})
    "office": (
        0.72,
        {"weekday": (1.0, _OFFICE), "sat": (0.05, _WEEKEND_OFFICE), "sun": (0.02, _WEEKEND_OFFICE)},
    ),
    "retail": (0.12, {"weekday": (1.0, _RETAIL), "sat": (1.0, _RETAIL), "sun": (0.5, _RETAIL)}),
    "support_24_7": (
        0.10,
        {"weekday": (1.0, _ALWAYS), "sat": (0.6, _ALWAYS), "sun": (0.5, _ALWAYS)},
    ),
    "evening": (0.06, {"weekday": (1.0, _EVENING), "sat": (1.2, _EVENING), "sun": (1.0, _EVENING)}),
}


@lru_cache(maxsize=64)
def country_price(country: str) -> Decimal | None:
    """The rate table's price of the country's calling code alone (its fixed lines)."""
    plan = COUNTRIES.get(country)
    return None if plan is None else Decimal(str(plan.fixed))


def _cum(profile: tuple[int, ...]) -> tuple[float, ...]:
    total, out = 0.0, []
    for weight in profile:
        total += weight
        out.append(total)
    return tuple(out)


_HOURS = tuple(range(24))


def poisson(rng: random.Random, mean: float) -> int:
    if mean <= 0:
        return 0
    if mean > 30:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, p = math.exp(-mean), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def digits(rng: random.Random, k: int) -> str:
    return f"{rng.randrange(10**k):0{k}d}" if k > 0 else ""


def make_range(rng: random.Random, country: str, lead: str) -> str:
    """A number range (``+`` and six digits, as the detector cuts them) in the country."""
    head = COUNTRIES[country].cc + lead if country in COUNTRIES else lead
    return "+" + (head + digits(rng, 6 - len(head)))[:6]


def make_number(rng: random.Random, prefix: str) -> str:
    """A number in a range: eleven digits in the NANP (+1), twelve elsewhere."""
    return prefix + digits(rng, (11 if prefix.startswith("+1") else 12) - len(prefix) + 1)


def ip(rng: random.Random) -> str:
    a, b, c, d = (
        rng.randrange(11, 223),
        rng.randrange(256),
        rng.randrange(256),
        rng.randrange(1, 255),
    )
    return f"{a}.{b}.{c}.{d}"


@dataclass(slots=True)
class CallPlan:
    """One outbound attempt as a phone (or an attacker) makes it; ``talk`` is 0 unless
    answered. ``label`` says what kind of traffic it is, for explaining false alarms."""

    at: float
    ext: str
    number: str
    country: str
    international: bool
    price: float
    source: str
    answered: bool
    ring: float
    talk: float
    allowed: bool = True
    high_risk: bool = False
    label: str = "normal"
    fraud: bool = False
    knows_pin: bool = True  # the tenant's own user: passes a PIN step-up


@dataclass(slots=True)
class RingPlan:
    """One inbound call."""

    at: float
    caller: str
    country: str
    answered: bool
    rang_for: float


@dataclass(slots=True)
class Ext:
    name: str
    rate: float  # outbound calls on a weekday
    intl: float  # share of its calls that are international
    own: str | None  # a remote worker's own address; None: the office's
    second: str | None = None  # a second device (a softphone at home) on another address


@dataclass(slots=True)
class Trip:
    ext: str
    start: float
    end: float
    shift: float  # seconds the traveller's working day runs ahead of the tenant's clock
    country: str
    source: str
    bad_password: bool  # the phone fails to log in a few times on the new network first


@dataclass(slots=True)
class Contact:
    number: str
    price: float


@dataclass(slots=True)
class Tenant:
    tid: int
    home: str
    tz: str
    kind: str
    exts: list[Ext]
    ext_cum: list[float]
    enabled: list[str]
    weights: list[float]
    contacts: dict[str, list[Contact]]
    ranges: dict[str, list[tuple[str, float]]]  # the ranges its usual callees are in, by country
    month_end: float
    open_on_holidays: bool
    new_country: tuple[str, int] | None  # enabled and called from that day on
    office: str
    move: tuple[int, str] | None  # the office changes address on that day
    trips: dict[str, list[Trip]] = field(default_factory=dict)

    def midnight(self, day: int) -> float:
        return _midnight(self.tz, FIRST_DAY + timedelta(days=day))

    def allows(self, country: str, day: int) -> bool:
        """Whether the call policy lets calls to the country through on the day."""
        if country == self.home or country in self.enabled:
            return True
        new = self.new_country
        return new is not None and new[0] == country and day >= new[1]

    def trip(self, ext: str, at: float) -> Trip | None:
        for trip in self.trips.get(ext, ()):
            if trip.start <= at < trip.end:
                return trip
        return None

    def source(self, ext: Ext, at: float) -> str:
        """Where the extension's desk phone registers from at the time."""
        if ext.own is not None:
            return ext.own
        if self.move is not None and at >= self.midnight(self.move[0]) + 6 * HOUR:
            return self.move[1]
        return self.office

    def local(self, at: float) -> datetime:
        return datetime.fromtimestamp(at, ZoneInfo(self.tz))


@lru_cache(maxsize=4096)
def _midnight(tz: str, day: date) -> float:
    return datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(tz)).timestamp()


@lru_cache(maxsize=4096)
def month_end(day: date, country: str) -> bool:
    """Whether the day is one of the last two working days of its month."""
    left, probe = 0, day + timedelta(days=1)
    while probe.month == day.month:
        if probe.weekday() < 5 and not is_holiday(probe, country):
            left += 1
        probe += timedelta(days=1)
    return day.weekday() < 5 and not is_holiday(day, country) and left < 2


def make_tenant(rng: random.Random, tid: int, days: int, min_exts: int = 3) -> Tenant:
    home = rng.choices(list(HOMES), weights=[h.weight for h in HOMES.values()])[0]
    spec = HOMES[home]
    kinds = list(KINDS)
    kind = rng.choices(kinds, weights=[KINDS[k][0] for k in kinds])[0]
    size = max(min_exts, round(math.exp(rng.uniform(math.log(3), math.log(60)))))
    office = ip(rng)
    exts = []
    for i in range(size):
        remote = rng.random() < 0.2
        ext = Ext(
            name=str(100 + i) if size < 900 else str(1000 + i),
            rate=rng.lognormvariate(math.log(3.0) - 0.32, 0.8),
            intl=min(0.7, rng.uniform(0.04, 0.14) * rng.lognormvariate(0, 0.7)),
            own=ip(rng) if remote else None,
            second=ip(rng) if rng.random() < 0.03 else None,
        )
        exts.append(ext)
    ext_cum = _cum(tuple(e.rate for e in exts))
    partners = dict(spec.partners)
    partners.pop(home, None)
    names = list(partners)
    regular: list[str] = []
    for _ in range(rng.randint(1, 4)):
        pick = rng.choices(names, weights=[partners[n] for n in names])[0]
        if pick not in regular:
            regular.append(pick)
    weights = [partners[c] * rng.uniform(0.5, 1.5) for c in regular]
    rest = [n for n in names if n not in regular]
    for dormant in rng.sample(rest, min(len(rest), rng.randint(0, 2))):
        regular.append(dormant)  # enabled, hardly ever called
        weights.append(partners[dormant] * rng.uniform(0.005, 0.03))
    if rng.random() < 0.08:
        regular.append(rng.choice(EXPENSIVE))
        weights.append(sum(weights) / len(weights) * rng.uniform(0.3, 1.0))
    new_country = None
    if rng.random() < 0.10:
        spare = [n for n in (*names, *EXPENSIVE) if n not in regular]
        new_country = (rng.choice(spare), rng.randrange(max(1, days)))
    tenant = Tenant(
        tid=tid,
        home=home,
        tz=rng.choice(spec.zones),
        kind=kind,
        exts=exts,
        ext_cum=list(ext_cum),
        enabled=regular,
        weights=weights,
        contacts={},
        ranges={},
        month_end=rng.uniform(2.0, 3.0) if kind == "office" and rng.random() < 0.75 else 1.2,
        open_on_holidays=kind != "office" or rng.random() < 0.15,
        new_country=new_country,
        office=office,
        move=(rng.randrange(days), ip(rng)) if rng.random() < 0.02 * days / 30 else None,
    )
    for country, weight in zip(
        (*regular, *([new_country[0]] if new_country else [])), (*weights, 1.0), strict=False
    ):
        _add_contacts(rng, tenant, country, weight / max(1.0, sum(weights)))
    _add_contacts(rng, tenant, home, 1.0)
    for ext in exts:
        for _ in range(poisson(rng, 0.04 * (days + HISTORY_DAYS) / 30)):
            _add_trip(rng, tenant, ext.name, rng.randrange(-HISTORY_DAYS, days))
    return tenant


def _add_contacts(rng: random.Random, tenant: Tenant, country: str, share: float) -> None:
    plan = COUNTRIES[country]
    ranges = []
    for _ in range(rng.randint(2, 10) if country != tenant.home else 40):
        mobile = rng.random() < 0.3
        lead = rng.choice(plan.mobile_leads if mobile else plan.fixed_leads)
        price = DOMESTIC_PRICE if country == tenant.home else plan.mobile if mobile else plan.fixed
        ranges.append((make_range(rng, country, lead), price))
    tenant.ranges[country] = ranges
    count = 200 if country == tenant.home else 3 + int(share * 40)
    tenant.contacts[country] = [
        Contact(make_number(rng, r), price) for r, price in rng.choices(ranges, k=count)
    ]


def _add_trip(rng: random.Random, tenant: Tenant, ext: str, day: int) -> None:
    country, zone = rng.choice(TRAVEL)
    start = tenant.midnight(day) + rng.uniform(6, 20) * HOUR
    there = datetime.fromtimestamp(start, ZoneInfo(zone)).utcoffset() or timedelta()
    here = datetime.fromtimestamp(start, ZoneInfo(tenant.tz)).utcoffset() or timedelta()
    trip = Trip(
        ext=ext,
        start=start,
        end=start + rng.randint(2, 6) * DAY,
        shift=(there - here).total_seconds(),
        country=country,
        source=ip(rng),
        bad_password=rng.random() < 0.01,
    )
    tenant.trips.setdefault(ext, []).append(trip)


def duration(rng: random.Random, international: bool) -> float:
    """Answered talk time: a few hang up at once; the rest lognormal, median 2.5 or 3.5 min."""
    if rng.random() < 0.08:
        return rng.uniform(2.0, 12.0)
    return min(3 * HOUR, rng.lognormvariate(math.log(210.0 if international else 150.0), 1.0))


def _callee(rng: random.Random, tenant: Tenant, country: str) -> tuple[str, float]:
    contacts = tenant.contacts.get(country)
    if contacts and rng.random() < 0.85:
        contact = rng.choice(contacts)
        return contact.number, contact.price
    plan = COUNTRIES[country]
    if country != tenant.home and rng.random() < 0.5:
        mobile = rng.random() < 0.3
        lead = rng.choice(plan.mobile_leads if mobile else plan.fixed_leads)
        price = plan.mobile if mobile else plan.fixed
        return make_number(rng, make_range(rng, country, lead)), price
    prefix, price = rng.choice(tenant.ranges[country])
    return make_number(rng, prefix), price


def _destination(rng: random.Random, tenant: Tenant, day: int) -> str:
    countries, weights = tenant.enabled, tenant.weights
    if tenant.new_country is not None and day >= tenant.new_country[1]:
        countries = [*countries, tenant.new_country[0]]
        weights = [*weights, sum(weights) / len(weights)]
    return rng.choices(countries, weights=weights)[0]


def outbound(
    rng: random.Random, tenant: Tenant, ext: Ext, at: float, *, day: int, label: str
) -> CallPlan:
    """An everyday call from the extension, to a country the tenant enabled or at home."""
    trip = tenant.trip(ext.name, at)
    source = tenant.source(ext, at) if ext.second is None or rng.random() < 0.8 else ext.second
    if trip is not None:
        source, label = trip.source, "travel"
    if trip is not None and trip.country != tenant.home and rng.random() < 0.3:
        country = trip.country  # a local number where the traveller is
    elif rng.random() < ext.intl:
        country = _destination(rng, tenant, day)
    else:
        country = tenant.home
    number, price = _callee(rng, tenant, country) if country in tenant.ranges else ("", 0.0)
    if not number:
        plan = COUNTRIES[country]
        number = make_number(rng, make_range(rng, country, rng.choice(plan.fixed_leads)))
        price = plan.fixed
    answered = rng.random() < ANSWERED
    international = country != tenant.home
    if tenant.new_country is not None and country == tenant.new_country[0]:
        label = "new_country"
    return CallPlan(
        at=at,
        ext=ext.name,
        number=number,
        country=country,
        international=international,
        price=price,
        source=source,
        answered=answered,
        ring=rng.uniform(3, 12) if answered else rng.uniform(8, 35),
        talk=duration(rng, international) if answered else 0.0,
        allowed=tenant.allows(country, day),
        label=label,
    )


def _day_kind(tenant: Tenant, day: date) -> str:
    if is_holiday(day, tenant.home) and not tenant.open_on_holidays:
        return "sun"
    if day.weekday() == 5:
        return "sat"
    return "sun" if day.weekday() == 6 else "weekday"


def _times(rng: random.Random, tenant: Tenant, day: int, mean: float) -> list[float]:
    local = FIRST_DAY + timedelta(days=day)
    factor, profile = KINDS[tenant.kind][1][_day_kind(tenant, local)]
    count = poisson(rng, mean * factor * rng.lognormvariate(0, 0.2))
    base, cum = tenant.midnight(day), _cum(profile)
    hours = rng.choices(_HOURS, cum_weights=cum, k=count)
    return [base + (h + rng.random()) * HOUR for h in hours]


def day_events(
    rng: random.Random, tenant: Tenant, day: int, calls_only: bool = False
) -> list[tuple[float, str, Any]]:
    """One local day of a tenant's everyday traffic, as ``(at, what, plan)``: ``call``
    (:class:`CallPlan`), ``ring`` (:class:`RingPlan` and the extension it rings) and ``fail``
    (a failed login: extension and source). ``calls_only``: outbound calls only, no
    call-backs."""
    out: list[tuple[float, str, Any]] = []
    local = FIRST_DAY + timedelta(days=day)
    peak = month_end(local, tenant.home)
    rate = sum(e.rate for e in tenant.exts) * (tenant.month_end if peak else 1.0)
    label = "month_end" if peak else "normal"
    for when in _times(rng, tenant, day, rate):
        ext = rng.choices(tenant.exts, cum_weights=tenant.ext_cum)[0]
        trip, at = tenant.trip(ext.name, when), when
        if trip is not None:
            if rng.random() < 0.4:
                continue  # a traveller calls less
            at -= trip.shift  # and at the hours where they are
        if rng.random() < 0.003:
            out.extend(_misdials(rng, tenant, ext, at))
            continue
        plan = outbound(rng, tenant, ext, at, day=day, label=label)
        out.append((plan.at, "call", plan))
    if calls_only:
        return out
    for at in _times(rng, tenant, day, 0.6 * sum(e.rate for e in tenant.exts)):
        out.extend(_inbound(rng, tenant, at, day))
    if rng.random() < 0.03:  # an internet scanner guessing passwords
        at = tenant.midnight(day) + rng.uniform(0, DAY)
        source, ext = ip(rng), rng.choice(tenant.exts).name
        for _ in range(rng.randint(3, 60)):
            at += rng.expovariate(1 / 8.0)
            out.append((at, "fail", (ext, source)))
    return out


def _misdials(rng: random.Random, tenant: Tenant, ext: Ext, at: float) -> list[tuple]:
    """A number dialled wrong (or a country the tenant did not enable): refused by the
    policy, tried again once or more."""
    others = [c for c in COUNTRIES if not tenant.allows(c, 10**6)]
    country = rng.choice(others) if others else "CU"
    plan = COUNTRIES[country]
    number = make_number(rng, make_range(rng, country, rng.choice(plan.fixed_leads)))
    out = []
    for _ in range(rng.choices((1, 2, 3, 4), weights=(60, 25, 10, 5))[0]):
        out.append(
            (
                at,
                "call",
                CallPlan(
                    at=at,
                    ext=ext.name,
                    number=number,
                    country=country,
                    international=True,
                    price=plan.fixed,
                    source=tenant.source(ext, at),
                    answered=False,
                    ring=0.0,
                    talk=0.0,
                    allowed=False,
                    high_risk=country == "CU",
                    label="misdial",
                ),
            )
        )
        at += rng.uniform(10, 90)
    return out


def _inbound(rng: random.Random, tenant: Tenant, at: float, day: int) -> list[tuple]:
    ext = rng.choices(tenant.exts, cum_weights=tenant.ext_cum)[0]
    foreign = rng.random() < min(0.5, 1.2 * ext.intl)
    if not foreign:
        caller, country = make_number(rng, rng.choice(tenant.ranges[tenant.home])[0]), tenant.home
    elif rng.random() < 0.8:
        country = _destination(rng, tenant, day)
        caller = _callee(rng, tenant, country)[0]
    else:
        country = rng.choice(list(COUNTRIES))
        plan = COUNTRIES[country]
        caller = make_number(rng, make_range(rng, country, rng.choice(plan.mobile_leads)))
    answered = rng.random() < 0.7
    quick = not answered and rng.random() < 0.10  # the caller gave up at the first ring
    rang = rng.uniform(1, 6) if quick else rng.uniform(8, 30) if not answered else 5.0
    out: list[tuple] = [(at, "ring", (RingPlan(at, caller, country, answered, rang), ext.name))]
    if not answered and country != tenant.home and rng.random() < 0.35:
        back = at + rng.uniform(120, 2 * HOUR)
        if is_off_hours(back, tenant.tz, tenant.home)[0]:
            back = tenant.midnight(day + 1) + rng.uniform(8.5, 10.5) * HOUR
        plan = outbound(rng, tenant, ext, back, day=day, label="callback")
        price = COUNTRIES[country].mobile
        plan.number, plan.country, plan.price, plan.international = caller, country, price, True
        plan.allowed = tenant.allows(country, day)
        out.append((back, "call", plan))
    return out


def history(rng: random.Random, tenant: Tenant) -> list[PastCall]:
    """The calls of the 28 days before the simulation, as the records have them."""
    calls = []
    for day in range(-HISTORY_DAYS, 0):
        for _, _, plan in day_events(rng, tenant, day, calls_only=True):
            if plan.allowed:
                cost = Decimal(f"{plan.price * plan.talk / 60:.4f}")
                calls.append(
                    PastCall(
                        at=plan.at,
                        number=plan.number,
                        country=plan.country,
                        cost=cost,
                        duration=plan.talk,
                    )
                )
    return calls


# -- attacks --------------------------------------------------------------------------------


Target = tuple[str, str, float, bool]  # a range, its country, price a minute, high risk


class Engine(Protocol):
    """What an attack script may do to the simulated service, at the engine's ``now``."""

    now: float

    def later(self, at: float, action: Callable[[], object]) -> None: ...

    def dial(self, plan: CallPlan, on_end: Callable[[], None] | None = None) -> bool:
        """Place the call now; whether it went out."""
        ...

    def ring(self, plan: RingPlan, ext: str) -> None: ...

    def fail_login(self, ext: str, source: str) -> None: ...

    def register(self, ext: str, source: str) -> None: ...

    def contained(self, ext: str) -> bool: ...


class Attack:
    """One attack on one tenant, launched on a day. ``exts`` are the extensions whose calls
    are the fraud (the run is contained once all of them are); ``begin`` is its first action
    and ``stop`` when it gives up. ``max_attempts`` bounds an attacker that PIN refusals
    stop but that is never contained."""

    name = ""
    min_exts = 3
    max_attempts = 400

    def __init__(self, rng: random.Random, tenant: Tenant, engine: Engine) -> None:
        self.rng, self.tenant, self.eng = rng, tenant, engine
        self.exts: set[str] = set()
        self.source = ip(rng)
        self.sources: dict[str, str] = {}  # extensions called from elsewhere than ``source``
        self.stop = math.inf
        self.attempts = 0
        self.ranges: list[Target] = []
        self.begin = math.inf  # the attack's first action

    def at(self, when: float, action: Callable[[], object]) -> None:
        self.begin = min(self.begin, when)
        self.eng.later(when, action)

    def launch(self, day: int) -> None:
        raise NotImplementedError

    def over(self) -> bool:
        done = self.eng.now >= self.stop or self.attempts >= self.max_attempts
        return done or all(self.eng.contained(e) for e in self.exts)

    def night(self, day: int) -> float:
        """Small hours of a weeknight, or any time of a weekend."""
        if self.rng.random() < 0.6:
            return self.tenant.midnight(day) + self.rng.uniform(0.5, 5.0) * HOUR
        while (FIRST_DAY + timedelta(days=day)).weekday() < 5:
            day += 1
        return self.tenant.midnight(day) + self.rng.uniform(0, 24) * HOUR

    def expensive_ranges(self, count: int, high_risk: bool, low: float, high: float) -> None:
        """Ranges the attacker earns from, in countries the tenant enabled: premium ranges
        (``high_risk``) or ordinary-looking ones that are priced high."""
        for _ in range(count):
            country = self.rng.choice(self.tenant.enabled)
            plan = COUNTRIES[country]
            lead = self.rng.choice(plan.premium_leads if high_risk else plan.mobile_leads)
            price = self.rng.uniform(low, high)
            self.ranges.append((make_range(self.rng, country, lead), country, price, high_risk))

    def call(self, ext: str, talk: float, target: Target | None = None, again: bool = True) -> bool:
        prefix, country, price, high_risk = target or self.rng.choice(self.ranges)
        self.attempts += 1
        plan = CallPlan(
            at=self.eng.now,
            ext=ext,
            number=make_number(self.rng, prefix),
            country=country,
            international=True,
            price=round(price, 4),
            source=self.sources.get(ext, self.source),
            answered=True,
            ring=self.rng.uniform(2, 6),
            talk=talk,
            high_risk=high_risk,
            label=self.name,
            fraud=True,
            knows_pin=False,
        )
        return self.eng.dial(plan, on_end=(lambda: self.redial(ext)) if again else None)

    def redial(self, ext: str) -> None:
        """A call of the attacker ended (or was ended): most scripts call again."""

    def probe(self, ext: str, at: float, count: int) -> float:
        """Attempts to destinations the tenant did not enable (refused by the policy)."""
        for _ in range(count):
            at += self.rng.uniform(2, 20)
            self.at(at, lambda: self._probe(ext))
        return at + self.rng.uniform(5, 60)

    def _probe(self, ext: str) -> None:
        country, cc = self.rng.choice(PROBED)
        number = make_number(self.rng, "+" + (cc + digits(self.rng, 6))[:6])
        self.attempts += 1
        plan = CallPlan(
            at=self.eng.now,
            ext=ext,
            number=number,
            country=country,
            international=True,
            price=2.0,
            source=self.source,
            answered=False,
            ring=0.0,
            talk=0.0,
            allowed=False,
            high_risk=True,
            label=self.name,
            fraud=True,
            knows_pin=False,
        )
        self.eng.dial(plan)


class _Channels(Attack):
    """Calls on several channels at once, each redialled as soon as it ends or is refused."""

    talk = (600.0, 3600.0)

    def open(self, ext: str, at: float, channels: int) -> None:
        for _ in range(channels):
            self.at(at + self.rng.uniform(0, 30), lambda: self.fire(ext))

    def fire(self, ext: str) -> None:
        if self.over():
            return
        if not self.call(ext, self.rng.uniform(*self.talk)):
            self.at(self.eng.now + self.rng.uniform(3, 15), lambda: self.fire(ext))

    def redial(self, ext: str) -> None:
        self.at(self.eng.now + self.rng.uniform(1, 10), lambda: self.fire(ext))


class IrsfBurst(_Channels):
    """A hacked extension, at night or at a weekend, fires many parallel long calls to
    expensive ranges, after probing a few destinations the tenant did not enable."""

    name = "irsf_burst"

    def launch(self, day: int) -> None:
        ext = self.rng.choice(self.tenant.exts).name
        self.exts = {ext}
        start = self.night(day)
        self.stop = start + 6 * HOUR
        self.at(start - self.rng.uniform(60, 1800), lambda: self.eng.register(ext, self.source))
        at = start if self.rng.random() < 0.3 else self.probe(ext, start, self.rng.randint(2, 8))
        self.expensive_ranges(self.rng.randint(1, 3), self.rng.random() < 0.6, 0.5, 2.0)
        self.open(ext, at, self.rng.randint(5, 20))


class SlowBurn(Attack):
    """Over a weekend, one long call every 20 to 60 minutes to expensive destinations."""

    name = "slow_burn"

    def launch(self, day: int) -> None:
        ext = self.rng.choice(self.tenant.exts).name
        self.exts = {ext}
        while (FIRST_DAY + timedelta(days=day)).weekday() != 4:
            day += 1
        at = self.tenant.midnight(day) + self.rng.uniform(19, 36) * HOUR  # Friday evening on
        self.stop = self.tenant.midnight(day + 3) + 6 * HOUR  # Monday 06:00
        self.at(at - self.rng.uniform(60, 1800), lambda: self.eng.register(ext, self.source))
        if self.rng.random() < 0.5:
            at = self.probe(ext, at, self.rng.randint(2, 5))
        self.expensive_ranges(self.rng.randint(1, 3), self.rng.random() < 0.5, 0.3, 1.5)
        while at < self.stop:
            self.at(at, lambda: self.over() or self.call(ext, self.rng.uniform(1200, 3600)))
            at += self.rng.uniform(1200, 3600)


class TestThenPremium(_Channels):
    """A few answered calls of a few seconds to ordinary numbers abroad (is the line open?),
    then long calls to premium numbers on a few channels."""

    name = "test_then_premium"

    def launch(self, day: int) -> None:
        ext = self.rng.choice(self.tenant.exts).name
        self.exts = {ext}
        if self.rng.random() < 0.7:
            at = self.night(day)
        else:  # in office hours, when nobody looks twice at traffic
            at = self.tenant.midnight(day) + self.rng.uniform(10, 16) * HOUR
        self.stop = at + 4 * HOUR
        self.at(at - self.rng.uniform(60, 1800), lambda: self.eng.register(ext, self.source))
        if self.rng.random() < 0.5:
            at = self.probe(ext, at, self.rng.randint(1, 4))
        for _ in range(self.rng.randint(3, 6)):
            country = self.rng.choice(self.tenant.enabled)
            plan = COUNTRIES[country]
            lead = self.rng.choice(plan.fixed_leads)
            target = (make_range(self.rng, country, lead), country, plan.fixed, False)
            talk = self.rng.uniform(2, 8)
            self.at(at, lambda t=target, s=talk: self.over() or self.call(ext, s, t, False))
            at += 8 + talk + self.rng.uniform(5, 60)
        self.expensive_ranges(self.rng.randint(1, 2), True, 0.5, 2.0)
        self.open(ext, at + self.rng.uniform(60, 600), self.rng.randint(2, 6))


class Wangiri(Attack):
    """A wave of one-ring calls from a foreign premium range to many extensions; then some of
    the tenant's own users call the numbers back (they know their PIN: a step-up does not stop
    them). The call-backs are the loss."""

    name = "wangiri"
    min_exts = 5

    def launch(self, day: int) -> None:
        tenant, rng = self.tenant, self.rng
        self.expensive_ranges(1, rng.random() < 0.5, 1.0, 3.0)
        prefix, country, price, high_risk = self.ranges[0]
        self.stop = 0.0
        bait = tenant.midnight(day) + rng.uniform(0, 24) * HOUR
        size = len(tenant.exts)
        targets = rng.sample(tenant.exts, max(3, min(40, round(size * rng.uniform(0.1, 0.6)))))
        callers = max(3, round(len(targets) * rng.uniform(0.15, 0.4)))
        for i, ext in enumerate(targets):
            at = bait + rng.uniform(0, 1200)
            caller = make_number(rng, prefix)
            plan = RingPlan(at, caller, country, False, rng.uniform(0.5, 4.0))
            self.at(at, lambda p=plan, e=ext.name: self.eng.ring(p, e))
            if i >= callers:
                continue
            back, later = at + rng.uniform(120, 3 * HOUR), day
            while is_off_hours(back, tenant.tz, tenant.home)[0]:  # the next working morning
                later += 1
                back = tenant.midnight(later) + rng.uniform(8, 11) * HOUR
            self.stop = max(self.stop, back + 600)
            self.exts.add(ext.name)
            target = (caller, country, price, high_risk)
            self.at(back, lambda e=ext, t=target: self.back(e, t))

    def back(self, ext: Ext, target: Target) -> None:
        number, country, price, high_risk = target
        self.attempts += 1
        plan = CallPlan(
            at=self.eng.now,
            ext=ext.name,
            number=number,
            country=country,
            international=True,
            price=round(price, 4),
            source=self.tenant.source(ext, self.eng.now),
            answered=True,
            ring=self.rng.uniform(3, 8),
            talk=self.rng.uniform(60, 300),
            high_risk=high_risk,
            label=self.name,
            fraud=True,
            knows_pin=True,
        )
        self.eng.dial(plan)

    def over(self) -> bool:
        return False  # the users call back whatever happened before


class NewNetwork(_Channels):
    """Passwords guessed in a burst of failed logins; the attacker's phone registers from its
    own network and calls abroad."""

    name = "new_network"

    def launch(self, day: int) -> None:
        rng = self.rng
        ext = rng.choice(self.tenant.exts).name
        self.exts = {ext}
        at = (
            self.night(day)
            if rng.random() < 0.5
            else self.tenant.midnight(day) + rng.uniform(0, 24) * HOUR
        )
        failures = rng.randint(5, 40)
        step = rng.uniform(60, 300) / failures
        for _ in range(failures):
            self.at(at, lambda: self.eng.fail_login(ext, self.source))
            at += step
        at += rng.uniform(1, 30)
        self.at(at, lambda: self.eng.register(ext, self.source))
        at += rng.uniform(60, 1800)
        self.stop = at + 4 * HOUR
        if rng.random() < 0.5:
            at = self.probe(ext, at, rng.randint(1, 5))
        self.expensive_ranges(rng.randint(1, 3), rng.random() < 0.5, 0.5, 2.0)
        self.open(ext, at, rng.randint(2, 6))


class SpreadThin(Attack):
    """Many extensions (credentials leaked together) make one or two calls each to new
    expensive destinations: no one extension looks busy. Mostly at night from the attacker's
    own network; in two runs of five in office hours, by a script on the tenant's own network
    (a compromised machine in the office), firing every line within twenty minutes."""

    name = "spread_thin"
    min_exts = 10

    def launch(self, day: int) -> None:
        rng = self.rng
        exts = rng.sample(self.tenant.exts, min(rng.randint(8, 20), len(self.tenant.exts)))
        inside = rng.random() < 0.4
        while inside and (FIRST_DAY + timedelta(days=day)).weekday() >= 5:
            day += 1
        hours = (9.5, 16.0) if inside else (0.5, 3.0)
        start = self.tenant.midnight(day) + rng.uniform(*hours) * HOUR
        spell = 1200.0 if inside else 3 * HOUR
        self.stop = start
        for ext in exts:
            self.exts.add(ext.name)
            if inside:
                self.sources[ext.name] = self.tenant.source(ext, start)
            else:
                self.at(start, lambda e=ext.name: self.eng.register(e, self.source))
            at = start + rng.uniform(60, spell)
            for _ in range(rng.randint(1, 2)):
                self.expensive_ranges(1, rng.random() < 0.3, 0.3, 1.5)
                target, talk = self.ranges[-1], rng.uniform(600, 3600)
                self.at(at, lambda e=ext.name, t=target, s=talk: self.call(e, s, t, False))
                self.stop = max(self.stop, at)
                at += rng.uniform(300, 3600)


ATTACKS: dict[str, type[Attack]] = {
    a.name: a for a in (IrsfBurst, SlowBurn, TestThenPremium, Wangiri, NewNetwork, SpreadThin)
}
