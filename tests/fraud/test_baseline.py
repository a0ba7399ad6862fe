"""A tenant's baseline: its clock (hour of the week, working hours, public holidays) and the
normal calling it learns from its records."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from ringfence.fraud.baseline import (
    _MAX_RANGES,
    Baseline,
    PastCall,
    hour_of_week,
    is_holiday,
    is_off_hours,
    local_time,
)

NY = "America/New_York"
LONDON = "Europe/London"
TOKYO = "Asia/Tokyo"
HOUR = 3600.0
DAY = 24 * HOUR
WEEK = 7 * DAY


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0, tz: str = NY) -> float:
    return datetime(year, month, day, hour, minute, tzinfo=ZoneInfo(tz)).timestamp()


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> float:
    return datetime(year, month, day, hour, minute, tzinfo=UTC).timestamp()


def how(weekday: int, hour: int) -> int:
    """Hour of the week: Monday is weekday 0."""
    return weekday * 24 + hour


# -- the tenant's clock -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "timezone", "expected"),
    [
        # New York is UTC-5 in winter and UTC-4 after 2026-03-08 02:00: Monday 00:00 local is a
        # different UTC hour on either side, and both are hour 0.
        (utc(2026, 3, 2, 5), NY, 0),
        (utc(2026, 3, 9, 4), NY, 0),
        (utc(2026, 3, 9, 3, 59), NY, 167),  # Sunday 23:59 EDT
        (utc(2026, 3, 8, 6, 59), NY, how(6, 1)),  # Sunday 01:59 EST, just before the jump
        (utc(2026, 3, 8, 7), NY, how(6, 3)),  # the next minute is 03:00 EDT: 02:00 never was
        (utc(2026, 11, 1, 5, 30), NY, how(6, 1)),  # 01:30 EDT on the day clocks go back
        (utc(2026, 11, 1, 6, 30), NY, how(6, 1)),  # 01:30 EST, an hour later, same hour
        (utc(2026, 3, 1, 15), TOKYO, 0),  # Sunday 15:00 UTC is Monday 00:00 in Tokyo
        (utc(2026, 3, 1, 15), "UTC", how(6, 15)),
        (utc(2026, 3, 29, 1), LONDON, how(6, 2)),  # 01:00 UTC: British Summer Time begins
        (utc(2026, 3, 28, 23), LONDON, how(5, 23)),
    ],
)
def test_hour_of_week_reads_the_tenants_clock(moment: float, timezone: str, expected: int) -> None:
    assert hour_of_week(moment, timezone) == expected


@pytest.mark.parametrize(
    ("moment", "timezone", "country", "off", "why"),
    [
        (at(2026, 3, 4, 10), NY, "US", False, ""),  # a Wednesday morning
        (at(2026, 3, 4, 6, 59), NY, "US", True, "at night"),
        (at(2026, 3, 4, 7), NY, "US", False, ""),
        (at(2026, 3, 4, 18, 59), NY, "US", False, ""),
        (at(2026, 3, 4, 19), NY, "US", True, "at night"),
        (at(2026, 3, 7, 11), NY, "US", True, "a weekend"),
        (at(2026, 3, 8, 11), NY, "US", True, "a weekend"),
        (at(2026, 11, 26, 11), NY, "US", True, "a public holiday"),  # Thanksgiving, a Thursday
        (at(2026, 11, 26, 11), NY, "us", True, "a public holiday"),
        (at(2026, 11, 26, 11), NY, "GB", False, ""),  # not a holiday in Britain
        (at(2026, 11, 19, 11), NY, "US", False, ""),  # the Thursday before
        (at(2026, 12, 25, 11, tz=LONDON), LONDON, "GB", True, "a public holiday"),  # a Friday
        (at(2026, 12, 28, 11, tz=LONDON), LONDON, "GB", True, "a public holiday"),  # Boxing Day
        (at(2026, 12, 24, 11, tz=LONDON), LONDON, "GB", False, ""),
        # The same instant is 10:00 on Wednesday in New York and 00:00 on Thursday in Tokyo.
        (utc(2026, 3, 4, 15), NY, "US", False, ""),
        (utc(2026, 3, 4, 15), TOKYO, "JP", True, "at night"),
    ],
)
def test_off_hours_are_night_weekends_and_the_countrys_public_holidays(
    moment: float, timezone: str, country: str, off: bool, why: str
) -> None:
    is_off, words = is_off_hours(moment, timezone, country)
    assert is_off is off
    assert why in words
    assert words.startswith(local_time(moment, timezone).strftime("%a %H:%M"))


@pytest.mark.parametrize("timezone", ["Mars/Olympus", "", "../etc/passwd", "Europe/London "])
def test_an_unknown_time_zone_reads_as_utc(timezone: str) -> None:
    moment = utc(2026, 3, 4, 3)
    assert hour_of_week(moment, timezone) == hour_of_week(moment, "UTC") == how(2, 3)
    assert is_off_hours(moment, timezone, "US") == is_off_hours(moment, "UTC", "US")


# ZoneInfo raises IsADirectoryError for a name that is a directory of the zone database and
# OSError (file name too long) for a very long name: neither is a ValueError or a KeyError.
@pytest.mark.parametrize("timezone", ["America", "Europe", pytest.param("x" * 300, id="long")])
def test_a_time_zone_that_names_a_directory_or_is_too_long_reads_as_utc(timezone: str) -> None:
    moment = utc(2026, 3, 4, 3)
    assert hour_of_week(moment, timezone) == hour_of_week(moment, "UTC")


@pytest.mark.parametrize("country", ["XX", "", "ZZZ", "1", "U S"])
def test_an_unknown_country_has_no_public_holidays(country: str) -> None:
    christmas = datetime(2026, 12, 25).date()
    assert is_holiday(christmas, country) is False
    assert is_off_hours(at(2026, 12, 25, 11), NY, country) == (False, "Fri 11:00")


# -- learning -----------------------------------------------------------------------------------

SINCE = at(2026, 2, 2)  # a Monday, four weeks before NOW, with no clock change in between
NOW = at(2026, 3, 2)


def weekly(weekday: int, hour: int, minute: int = 15, *, weeks: int = 4) -> list[float]:
    """The same local time once a week, for ``weeks`` weeks from SINCE."""
    return [SINCE + w * WEEK + weekday * DAY + hour * HOUR + minute * 60 for w in range(weeks)]


def learned(*moments: float, number: str = "+4930123456", country: str = "DE") -> Baseline:
    calls = [PastCall(at=m, number=number, country=country) for m in moments]
    return Baseline.learn(calls, timezone=NY, since=SINCE, now=NOW)


def test_expected_calls_are_per_local_hour_of_the_week_averaged_over_the_weeks() -> None:
    baseline = learned(*weekly(0, 9), *weekly(0, 9, 40), *weekly(2, 3, weeks=1))
    assert baseline.weeks == 4
    assert baseline.expected_calls(how(0, 9)) == 2.0  # eight calls on four Mondays at 9
    assert baseline.expected_calls(how(2, 3)) == 0.25
    assert baseline.expected_calls(how(0, 10)) == 0.0
    assert baseline.expected_calls(how(0, 14)) == 0.0  # 09:15 New York is 14:15 UTC


def test_calls_learned_across_a_clock_change_stay_in_their_local_hour() -> None:
    since, now = at(2026, 2, 23), at(2026, 3, 23)  # New York changes clocks on 8 March
    mondays = [(2, 23), (3, 2), (3, 9), (3, 16)]
    calls = [
        PastCall(at=at(2026, m, d, 9, 15), number="+12125550100", country="US") for m, d in mondays
    ]
    assert [local_time(c.at, NY).strftime("%a %d %H") for c in calls] == [
        "Mon 23 09",
        "Mon 02 09",
        "Mon 09 09",
        "Mon 16 09",
    ]
    baseline = Baseline.learn(calls, timezone=NY, since=since, now=now)
    assert baseline.expected_calls(how(0, 9)) == pytest.approx(1.0, rel=0.01)
    assert baseline.expected_calls(how(0, 8)) == 0.0
    assert baseline.expected_calls(how(0, 10)) == 0.0


@pytest.mark.parametrize(
    ("calls_a_week_at_3", "quiet"),
    [
        (0, True),
        (1, True),  # one call in four weeks: 0.25 a week
        (2, False),  # 0.5 a week is a habit
        (4, False),
    ],
)
def test_an_hour_is_quiet_when_the_tenant_hardly_ever_calls_in_it(
    calls_a_week_at_3: int, quiet: bool
) -> None:
    baseline = learned(*weekly(2, 3, weeks=calls_a_week_at_3))
    assert baseline.quiet(how(2, 3)) is quiet
    assert baseline.quiet(how(2, 4)) is True


def test_less_than_a_week_of_history_expects_nothing() -> None:
    moments = [NOW - DAY + i * 60 for i in range(30)]
    baseline = Baseline.learn(
        [PastCall(at=m, number="+4930123456", country="DE") for m in moments],
        timezone=NY,
        since=NOW - 3 * DAY,
        now=NOW,
    )
    assert baseline.expected_calls(hour_of_week(moments[0], NY)) == 0.0
    assert all(baseline.quiet(h) for h in range(168))
    assert baseline.knows_country("DE")  # the destinations count from the first call


def test_a_new_tenant_is_quiet_everywhere_and_knows_nothing() -> None:
    fresh = Baseline(timezone=NY)
    assert all(fresh.quiet(h) for h in range(168))
    assert all(fresh.expected_calls(h) == 0.0 for h in range(168))
    assert fresh.expected_spend(range(168)) == 0.0
    assert not fresh.knows_country("US")
    assert not fresh.knows_range("+12125550100")
    nothing = Baseline.learn([], timezone=NY, since=SINCE, now=NOW)
    assert all(nothing.quiet(h) for h in range(168))


def test_the_baseline_knows_the_countries_and_ranges_called() -> None:
    baseline = learned(*weekly(0, 9))
    assert baseline.knows_country("DE")
    assert not baseline.knows_country("FR")
    assert baseline.knows_range("+4930129999")  # same range: + and six digits
    assert not baseline.knows_range("+4930139999")
    blank = Baseline.learn(
        [PastCall(at=SINCE, number="", country="")], timezone=NY, since=SINCE, now=NOW
    )
    assert not blank.knows_country("")
    assert not blank.knows_range("")
    assert blank.expected_calls(how(0, 0)) == 0.25  # the call still counts


def test_expected_spend_sums_hours_across_the_end_of_the_week() -> None:
    calls = [
        PastCall(
            at=SINCE + 6 * DAY + 23 * HOUR, number="+4930123456", country="DE", cost=Decimal("2.00")
        ),
        PastCall(
            at=SINCE + 7 * DAY + 10 * 60, number="+4930123456", country="DE", cost=Decimal("1.00")
        ),
        PastCall(
            at=SINCE + 7 * DAY + 2 * HOUR, number="+4930123456", country="DE", cost=Decimal("8.00")
        ),
        PastCall(at=SINCE + 7 * DAY + 3 * HOUR, number="+4930123456", country="DE"),  # unpriced
    ]
    baseline = Baseline.learn(calls, timezone=NY, since=SINCE, now=NOW)
    assert baseline.expected_spend(range(-1, 1)) == pytest.approx(0.75)  # Sun 23 h and Mon 0 h
    assert baseline.expected_spend(range(167, 169)) == pytest.approx(0.75)
    assert baseline.expected_spend(range(-5, 3)) == pytest.approx(2.75)
    assert baseline.expected_calls(how(0, 3)) == 0.25


def test_the_range_memory_is_bounded_and_forgets_the_least_recently_called() -> None:
    baseline = Baseline(timezone=NY)

    def call(i: int) -> PastCall:
        return PastCall(at=SINCE + i, number=f"+{100000 + i}0000", country="XX")

    for i in range(_MAX_RANGES):
        baseline.add(call(i))
    assert baseline.knows_range(call(0).number)
    baseline.add(call(0))  # called again: now the most recent
    baseline.add(call(_MAX_RANGES))
    assert len(baseline.ranges) == _MAX_RANGES
    assert baseline.knows_range(call(0).number)
    assert not baseline.knows_range(call(1).number)  # the least recently called went
    assert baseline.knows_range(call(_MAX_RANGES).number)
    for i in range(_MAX_RANGES, 2 * _MAX_RANGES):
        baseline.add(call(i))
    assert len(baseline.ranges) == _MAX_RANGES
    assert not baseline.knows_range(call(0).number)


def test_learning_ignores_calls_outside_the_window() -> None:
    before = [SINCE - WEEK + 9 * HOUR + i * 60 for i in range(8)]  # a Monday before the window
    after = [NOW + 9 * HOUR + i * 60 for i in range(8)]  # and one after it
    baseline = learned(*before, *after, *weekly(0, 9, weeks=2))
    assert baseline.expected_calls(how(0, 9)) == 0.5
