"""A tenant's normal outbound calling, by hour of the week, learned from its own call records.

The baseline keeps, for each of the 168 hours of a week on the tenant's clock, how many
outbound calls it makes and what they cost on average, and which countries and number ranges it
calls. The detector compares what happens now with it: a first call to a country never called,
twenty calls in an hour that usually has one, spend at three in the morning.

:func:`local_hour` and :func:`is_off_hours` read the tenant's clock and its country's public
holidays (the ``holidays`` package: computed, no I/O).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import holidays

from ringfence.fraud.events import number_range

__all__ = [
    "BUSINESS_HOURS",
    "Baseline",
    "PastCall",
    "hour_of_week",
    "is_holiday",
    "is_off_hours",
    "local_time",
]

HOURS_A_WEEK = 168
BUSINESS_HOURS = (7, 19)
"""Local hours counted as a working day, Monday to Friday: from 07:00 to 19:00."""

_MAX_RANGES = 5000  # a tenant's known number ranges, at most (the oldest are forgotten)
_PRICED_AFTER = 30.0  # seconds: a call this long tells what a minute to its country costs


@lru_cache(maxsize=256)
def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ValueError, KeyError, OSError):
        return ZoneInfo("UTC")


def local_time(at: float, timezone: str) -> datetime:
    return datetime.fromtimestamp(at, UTC).astimezone(_zone(timezone))


def hour_of_week(at: float, timezone: str) -> int:
    """0 is Monday 00:00 to 01:00 on the tenant's clock, 167 is Sunday 23:00 to 24:00."""
    local = local_time(at, timezone)
    return local.weekday() * 24 + local.hour


@lru_cache(maxsize=1024)
def _holidays(country: str, year: int) -> Any:
    try:
        return holidays.country_holidays(country, years=year)
    except (NotImplementedError, KeyError, ValueError):
        return {}


def is_holiday(day: date, country: str) -> bool:
    return day in _holidays(country.upper(), day.year)


def is_off_hours(at: float, timezone: str, country: str) -> tuple[bool, str]:
    """Whether ``at`` falls outside the working week on the tenant's clock: at night, at a
    weekend or on a public holiday of its country; with the words for it."""
    local = local_time(at, timezone)
    stamp = local.strftime("%a %H:%M")
    if is_holiday(local.date(), country):
        return True, f"{stamp}, a public holiday"
    if local.weekday() >= 5:
        return True, f"{stamp}, a weekend"
    start, end = BUSINESS_HOURS
    if not start <= local.hour < end:
        return True, f"{stamp}, at night"
    return False, stamp


@dataclass(frozen=True, slots=True, kw_only=True)
class PastCall:
    """An outbound call from the records, as the baseline learns it."""

    at: float
    number: str
    country: str
    cost: Decimal | None = None
    duration: float = 0.0  # seconds answered: with the cost, what a minute there cost


@dataclass(slots=True)
class Baseline:
    """One tenant's outbound calling: calls and spend per hour of the week (summed over
    ``weeks`` of history), and the countries and ranges it has called."""

    timezone: str = "UTC"
    weeks: float = 0.0
    volume: list[float] = field(default_factory=lambda: [0.0] * HOURS_A_WEEK)
    spend: list[float] = field(default_factory=lambda: [0.0] * HOURS_A_WEEK)
    countries: set[str] = field(default_factory=set)
    ranges: dict[str, None] = field(default_factory=dict)  # insertion-ordered set
    #: Per country, the dearest minute the tenant has paid there (its mobiles, say).
    prices: dict[str, Decimal] = field(default_factory=dict)

    @classmethod
    def learn(
        cls, calls: Iterable[PastCall], *, timezone: str, since: float, now: float
    ) -> Baseline:
        """The baseline from the calls made between ``since`` and ``now``."""
        baseline = cls(timezone=timezone, weeks=max(0.0, (now - since) / (7 * 86400)))
        for call in calls:
            if since <= call.at <= now:
                baseline.add(call)
        return baseline

    def add(self, call: PastCall) -> None:
        """Learn one call (made by a phone of the tenant that was not under suspicion)."""
        how = hour_of_week(call.at, self.timezone)
        self.volume[how] += 1
        price = None
        if call.cost is not None:
            self.spend[how] += float(call.cost)
            if call.duration >= _PRICED_AFTER:
                price = (call.cost * 60 / Decimal(str(call.duration))).quantize(Decimal("0.0001"))
        self.know(call.number, call.country, price)

    def know(self, number: str, country: str, price: Decimal | None = None) -> None:
        """Learn a destination, and what a minute there cost (not its volume or spend)."""
        if country:
            self.countries.add(country)
            if price is not None and price > self.prices.get(country, Decimal(0)):
                self.prices[country] = price
        if number:
            key = number_range(number)
            self.ranges.pop(key, None)
            self.ranges[key] = None
            if len(self.ranges) > _MAX_RANGES:
                del self.ranges[next(iter(self.ranges))]

    def expected_calls(self, how: int) -> float:
        """Calls a week usually has in this hour of the week (0 without history)."""
        return self.volume[how] / self.weeks if self.weeks >= 1 else 0.0

    def expected_spend(self, hours: Iterable[int]) -> float:
        if self.weeks < 1:
            return 0.0
        return sum(self.spend[h % HOURS_A_WEEK] for h in hours) / self.weeks

    def quiet(self, how: int) -> bool:
        """Whether the tenant hardly ever calls out in this hour of the week (or has no history
        to say otherwise)."""
        return self.expected_calls(how) < 0.5

    def knows_country(self, country: str) -> bool:
        return country in self.countries

    def knows_range(self, number: str) -> bool:
        return number_range(number) in self.ranges

    def dearest(self, country: str) -> Decimal | None:
        """The most the tenant has paid for a minute to ``country`` (``None``: never priced)."""
        return self.prices.get(country)
