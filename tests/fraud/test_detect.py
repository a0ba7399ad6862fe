"""The anomaly detector in virtual time: which signals each event raises, and which graded
response (notify, PIN, contain) is due, for whom."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from ringfence.fraud import (
    Assessment,
    AuthFailure,
    Baseline,
    CallEnded,
    Detector,
    DetectorSettings,
    InboundCall,
    OutboundAttempt,
    PastCall,
    Registered,
    Response,
    RunningCall,
    Scope,
    Signal,
)

NY = "America/New_York"
T = 7  # the tenant, in New York
HOUR = 3600.0
DAY = 24 * HOUR
WEEK = 7 * DAY
WEIGHTS = DetectorSettings().weights


def ny(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> float:
    return datetime(year, month, day, hour, minute, tzinfo=ZoneInfo(NY)).timestamp()


OFFICE = ny(2026, 3, 4, 10)  # Wednesday 10:00, a working morning
NIGHT = ny(2026, 3, 4, 3)  # Wednesday 03:00
LATE = ny(2026, 3, 4, 22)  # Wednesday 22:00
NEXT_MORNING = ny(2026, 3, 5, 10)  # Thursday 10:00

DE = "+4930123456"  # Berlin: a range the tenant calls every week
DE_NEW_RANGE = "+4989555000"  # Munich: a country it knows, a range it does not
DE_OTHER_RANGE = "+4940555000"  # Hamburg
GB = "+442079460000"
FR = "+33144556677"  # a country it never called
NG = "+2348031234567"
NG_OTHER_RANGE = "+2349031234567"
SN = "+2217712345"
US = "+12125550100"  # domestic, called every week
US_PREMIUM = "+19005550123"
COUNTRIES = {"+1": "US", "+49": "DE", "+44": "GB", "+33": "FR", "+234": "NG", "+221": "SN"}

PHONE = "198.51.100.7"
ELSEWHERE = "203.0.113.9"

_keys = itertools.count()


def country_of(number: str) -> str:
    for prefix in sorted(COUNTRIES, key=len, reverse=True):
        if number.startswith(prefix):
            return COUNTRIES[prefix]
    return ""


def call(
    at: float,
    number: str = DE,
    *,
    ext: str = "1001",
    key: str | None = None,
    price: str | None = None,
    high_risk: bool = False,
    source: str = PHONE,
    allowed: bool = True,
) -> OutboundAttempt:
    country = country_of(number)
    return OutboundAttempt(
        tenant_id=T,
        ext=ext,
        call_key=key or f"call-{next(_keys)}",
        at=at,
        number=number,
        country=country,
        home_country="US",
        timezone=NY,
        international=country != "US",
        price=None if price is None else Decimal(price),
        high_risk=high_risk,
        source=source,
        allowed=allowed,
    )


def office_baseline() -> Baseline:
    """Four weeks of a small office: on each working day Berlin at 10, London at 11 and a
    domestic call at 14, nothing at night or at weekends."""
    since = ny(2026, 2, 2)  # a Monday; no clock change until 8 March
    calls = []
    for week in range(4):
        for weekday in range(5):
            day = since + week * WEEK + weekday * DAY
            calls += [
                PastCall(at=day + 10 * HOUR, number=DE, country="DE", cost=Decimal("0.30")),
                PastCall(at=day + 11 * HOUR, number=GB, country="GB", cost=Decimal("0.20")),
                PastCall(at=day + 14 * HOUR, number=US, country="US", cost=Decimal("0.05")),
            ]
    return Baseline.learn(calls, timezone=NY, since=since, now=since + 4 * WEEK)


def night_baseline() -> Baseline:
    """A tenant that calls Berlin every Wednesday at 03:00 (a night shift)."""
    since = ny(2026, 2, 2)
    calls = [
        PastCall(at=since + w * WEEK + 2 * DAY + 3 * HOUR + m * 60, number=DE, country="DE")
        for w in range(4)
        for m in (5, 35)
    ]
    return Baseline.learn(calls, timezone=NY, since=since, now=since + 4 * WEEK)


def detector(baseline: Baseline | None = None) -> Detector:
    d = Detector()
    d.learn(T, baseline or office_baseline())
    return d


def signals(assessment: Assessment) -> set[Signal]:
    return {hit.signal for hit in assessment.hits}


def points(*names: Signal) -> int:
    return sum(WEIGHTS[name] for name in names)


def end(
    d: Detector,
    attempt: OutboundAttempt,
    *,
    after: float,
    answered: bool = True,
    cost: str | None = None,
) -> None:
    d.ended(
        CallEnded(
            tenant_id=T,
            ext=attempt.ext,
            call_key=attempt.call_key,
            at=attempt.at + after,
            answered=answered,
            duration=after if answered else 0.0,
            cost=None if cost is None else Decimal(cost),
        )
    )


def running(*calls: tuple[OutboundAttempt, str]) -> list[RunningCall]:
    return [
        RunningCall(
            tenant_id=T,
            ext=a.ext,
            call_key=a.call_key,
            international=a.country != "US",
            cost=Decimal(cost),
        )
        for a, cost in calls
    ]


# -- one attempt, one signal --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attempt", "expected"),
    [
        (call(OFFICE, DE), set()),
        (call(OFFICE, GB), set()),
        (call(OFFICE, FR), {Signal.NEW_COUNTRY}),
        (call(OFFICE, DE_NEW_RANGE), {Signal.NEW_RANGE}),
        (call(OFFICE, DE, high_risk=True), {Signal.HIGH_RISK}),
        (call(OFFICE, DE, price="0.25"), {Signal.HIGH_COST}),
        (call(OFFICE, DE, price="0.249"), set()),
        (call(NIGHT, DE), {Signal.OFF_HOURS}),
        (call(ny(2026, 3, 4, 19), DE), {Signal.OFF_HOURS}),
        (call(ny(2026, 3, 4, 7), DE), set()),
        (call(ny(2026, 3, 7, 11), DE), {Signal.OFF_HOURS}),  # Saturday
        (call(ny(2026, 11, 26, 12), DE), {Signal.OFF_HOURS}),  # Thanksgiving
        (call(ny(2026, 11, 19, 12), DE), set()),  # the Thursday before
        (call(NIGHT, US), set()),  # domestic calls are not scored
        (call(NIGHT, FR, price="0.40"), {Signal.NEW_COUNTRY, Signal.HIGH_COST, Signal.OFF_HOURS}),
        (call(OFFICE, US_PREMIUM, high_risk=True), {Signal.NEW_RANGE, Signal.HIGH_RISK}),
        (call(OFFICE, US_PREMIUM, price="2.00"), set()),  # domestic, not high-risk
    ],
)
def test_each_signal_of_a_single_attempt(attempt: OutboundAttempt, expected: set[Signal]) -> None:
    result = detector().assess(attempt)
    assert signals(result) == expected
    assert result.score == points(*expected)


@pytest.mark.parametrize(
    ("baseline", "moment", "off_hours"),
    [
        (office_baseline, NIGHT, True),
        (night_baseline, NIGHT, False),  # it calls at 03:00 on Wednesdays
        (night_baseline, NIGHT + HOUR, True),  # but not at 04:00
        (night_baseline, NIGHT + DAY, True),  # nor on Thursdays
    ],
)
def test_off_hours_count_only_where_the_tenant_is_usually_quiet(
    baseline: Callable[[], Baseline], moment: float, off_hours: bool
) -> None:
    result = detector(baseline()).assess(call(moment, DE))
    assert (Signal.OFF_HOURS in signals(result)) is off_hours


@pytest.mark.parametrize(
    ("number", "later", "again"),
    [
        (FR, HOUR, False),  # the tenant's second call to France today is not news
        (FR, DAY + 60, True),  # tomorrow it is, if nothing taught the baseline
        (DE_NEW_RANGE, HOUR, False),
        (DE_NEW_RANGE, DAY + 60, True),
    ],
)
def test_a_new_destination_counts_once_a_day(number: str, later: float, again: bool) -> None:
    d = detector()
    assert signals(d.assess(call(OFFICE, number))) & {Signal.NEW_COUNTRY, Signal.NEW_RANGE}
    result = d.assess(call(OFFICE + later, number, ext="1002"))
    assert bool(signals(result) & {Signal.NEW_COUNTRY, Signal.NEW_RANGE}) is again


def test_a_new_tenant_with_no_history_finds_every_country_new_and_every_hour_quiet() -> None:
    d = Detector()
    assert signals(d.assess(call(OFFICE, DE))) == {Signal.NEW_COUNTRY}
    assert signals(d.assess(call(NIGHT, GB))) == {Signal.NEW_COUNTRY, Signal.OFF_HOURS}
    assert signals(d.assess(call(NIGHT, US))) == set()


# -- wangiri ------------------------------------------------------------------------------------

BAIT = SN  # range +221771


@pytest.mark.parametrize(
    ("caller", "country", "answered", "rang_for", "callback", "later", "expected"),
    [
        (BAIT, "SN", False, 2.0, "+2217719999", HOUR, True),
        (BAIT, "SN", False, 6.0, "+2217719999", HOUR, True),
        (BAIT, "SN", True, 2.0, "+2217719999", HOUR, False),  # answered: a real call
        (BAIT, "SN", False, 20.0, "+2217719999", HOUR, False),  # rang long enough to answer
        (BAIT, "SN", False, 2.0, "+2217799999", HOUR, False),  # another range
        (BAIT, "SN", False, 2.0, "+2217719999", 4 * DAY, False),  # bait forgotten
        ("+12025550199", "US", False, 2.0, "+12025550111", HOUR, False),  # a domestic caller
    ],
)
def test_calling_back_a_range_that_rang_once_from_abroad_is_a_wangiri_callback(
    caller: str,
    country: str,
    answered: bool,
    rang_for: float,
    callback: str,
    later: float,
    expected: bool,
) -> None:
    d = detector()
    d.inbound(
        InboundCall(
            tenant_id=T,
            caller=caller,
            caller_country=country,
            home_country="US",
            at=OFFICE,
            answered=answered,
            rang_for=rang_for,
        )
    )
    # high_risk keeps the domestic case risky, so only the bait decides
    result = d.assess(call(OFFICE + later, callback, high_risk=True))
    assert (Signal.WANGIRI_CALLBACK in signals(result)) is expected


# -- ranges seen in an incident -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("first_at", "price", "incident"), [(NIGHT, "0.40", True), (OFFICE - HOUR, None, False)]
)
def test_a_range_called_during_an_open_incident_is_suspect_for_other_extensions(
    first_at: float, price: str | None, incident: bool
) -> None:
    d = detector()
    # At night this is expensive and new (an incident); at 09:00 it is merely new.
    opened = d.assess(call(first_at, NG, price=price))
    assert (opened.response is Response.NOTIFY) is incident
    other = d.assess(call(OFFICE, NG[:-3] + "999", ext="1002"))
    assert (Signal.RANGE_IN_INCIDENT in signals(other)) is incident
    different = d.assess(call(OFFICE, NG_OTHER_RANGE, ext="1003"))
    assert Signal.RANGE_IN_INCIDENT not in signals(different)


def test_a_release_forgets_the_ranges_of_the_incident() -> None:
    d = detector()
    d.assess(call(NIGHT, NG, price="0.40"))
    d.release(T)
    assert Signal.RANGE_IN_INCIDENT not in signals(d.assess(call(OFFICE, NG, ext="1002")))


# -- patterns over several calls ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("numbers", "spacing", "expected"),
    [
        ([f"+49301234{i:03d}" for i in range(6)], 300, True),
        ([f"+49301234{i:03d}" for i in range(5)], 300, False),
        ([f"+49301234{i % 3:03d}" for i in range(6)], 300, False),  # three numbers, twice each
        ([f"+49301234{i:03d}" for i in range(6)], 900, False),  # spread over 75 minutes
        ([*[f"+1212555{i:04d}" for i in range(5)], "+4930123456"], 300, False),  # 5 domestic
    ],
)
def test_many_international_callees_in_an_hour(
    numbers: list[str], spacing: float, expected: bool
) -> None:
    d = detector()
    results = [d.assess(call(OFFICE + i * spacing, n)) for i, n in enumerate(numbers)]
    assert all(Signal.MANY_CALLEES not in signals(r) for r in results[:-1])
    assert (Signal.MANY_CALLEES in signals(results[-1])) is expected


@pytest.mark.parametrize(
    ("count", "answered", "duration", "number", "next_call_after", "expected"),
    [
        (3, True, 10.0, DE, 60, True),
        (3, True, 3.0, GB, 60, True),
        (2, True, 3.0, DE, 60, False),
        (3, True, 10.5, DE, 60, False),  # long enough to be a conversation
        (3, False, 3.0, DE, 60, False),  # never answered
        (3, True, 3.0, US, 60, False),  # domestic
        (3, True, 3.0, DE, 1800, False),  # the run is older than half an hour
    ],
)
def test_short_answered_international_calls_are_test_calls(
    count: int,
    answered: bool,
    duration: float,
    number: str,
    next_call_after: float,
    expected: bool,
) -> None:
    d = detector()
    for i in range(count):
        attempt = call(OFFICE + i * 30, number)
        assert Signal.TEST_CALLS not in signals(d.assess(attempt))
        end(d, attempt, after=duration, answered=answered)
    last_end = OFFICE + (count - 1) * 30 + duration
    result = d.assess(call(last_end + next_call_after, DE))
    assert (Signal.TEST_CALLS in signals(result)) is expected


@pytest.mark.parametrize(
    ("first_source", "first_ended", "second_source", "expected"),
    [
        (PHONE, False, ELSEWHERE, True),
        (PHONE, False, PHONE, False),
        (PHONE, True, ELSEWHERE, False),  # one after the other
        (PHONE, False, "", False),  # the address is unknown
        ("", False, ELSEWHERE, False),
    ],
)
def test_calls_at_once_from_two_addresses_are_parallel_sources(
    first_source: str, first_ended: bool, second_source: str, expected: bool
) -> None:
    d = detector()
    first = call(OFFICE, DE, source=first_source)
    d.assess(first)
    if first_ended:
        end(d, first, after=120)
    second = d.assess(call(OFFICE + 300, GB, source=second_source))
    assert (Signal.PARALLEL_SOURCES in signals(second)) is expected
    assert (second.response is Response.NOTIFY) is expected  # that alone opens an incident


def failures(d: Detector, count: int, *, start: float, spacing: float = 20.0) -> float:
    for i in range(count):
        d.auth_failed(
            AuthFailure(tenant_id=T, ext="1001", source="192.0.2.66", at=start + i * spacing)
        )
    return start + count * spacing


def registered(d: Detector, source: str, at: float) -> Assessment:
    return d.registered(Registered(tenant_id=T, ext="1001", source=source, at=at), timezone=NY)


@pytest.mark.parametrize(
    ("known", "burst", "spacing", "wait", "new_source", "expected"),
    [
        ([PHONE], 5, 20.0, 1.0, ELSEWHERE, True),
        ([], 5, 20.0, 1.0, ELSEWHERE, False),  # the first registration ever
        ([PHONE], 4, 20.0, 1.0, ELSEWHERE, False),  # not enough failures
        ([PHONE], 0, 20.0, 1.0, ELSEWHERE, False),  # a phone moving house
        ([PHONE], 5, 180.0, 1.0, ELSEWHERE, False),  # not a burst: 12 minutes
        ([PHONE], 5, 20.0, 900.0, ELSEWHERE, False),  # the burst was a quarter of an hour ago
        ([PHONE], 5, 20.0, 1.0, "198.51.100.99", False),  # the same /24
        ([PHONE, ELSEWHERE, PHONE], 5, 20.0, 1.0, ELSEWHERE, False),  # a network used before
        (["2001:db8:1::5"], 5, 20.0, 1.0, "2001:db8:2::5", True),  # IPv6, another /48
        (["2001:db8:1::5"], 5, 20.0, 1.0, "2001:db8:1:ff::9", False),  # the same /48
    ],
)
def test_a_new_network_right_after_failed_logins_makes_the_extension_suspect(
    known: list[str], burst: int, spacing: float, wait: float, new_source: str, expected: bool
) -> None:
    d = detector()
    for i, source in enumerate(known):
        registered(d, source, OFFICE - DAY + i * HOUR)
    after = failures(d, burst, start=OFFICE - 1200, spacing=spacing) + wait
    result = registered(d, new_source, after)
    assert (Signal.NEW_NETWORK_AFTER_FAILURES in signals(result)) is expected
    assert (result.response is Response.NOTIFY) is expected
    assert not result.refuse
    following = d.assess(call(after + 60, DE, source=new_source))
    assert (Signal.NEW_NETWORK_AFTER_FAILURES in signals(following)) is expected


def test_an_extension_stays_suspect_for_a_day_after_the_new_network() -> None:
    d = detector()
    registered(d, PHONE, OFFICE - DAY)
    registered(d, ELSEWHERE, failures(d, 5, start=OFFICE - 600))
    assert Signal.NEW_NETWORK_AFTER_FAILURES in signals(d.assess(call(OFFICE + 20 * HOUR, DE)))
    assert Signal.NEW_NETWORK_AFTER_FAILURES not in signals(d.assess(call(OFFICE + DAY, DE)))


def test_a_new_network_is_recognised_behind_ipv4_mapped_addresses() -> None:
    d = detector()
    registered(d, "::ffff:198.51.100.7", OFFICE - DAY)
    result = registered(d, "::ffff:203.0.113.9", failures(d, 5, start=OFFICE - 600))
    assert Signal.NEW_NETWORK_AFTER_FAILURES in signals(result)


@pytest.mark.parametrize(
    ("count", "spacing", "number", "expected"),
    [
        (3, 60.0, NG, True),
        (2, 60.0, NG, False),
        (3, 960.0, NG, False),  # 32 minutes: the first is out of the half hour
        (3, 60.0, US, False),  # refused domestic calls are no probe
        (3, 60.0, US_PREMIUM, True),  # but premium ones are
    ],
)
def test_refused_international_attempts_are_probing(
    count: int, spacing: float, number: str, expected: bool
) -> None:
    d = detector()
    premium = number == US_PREMIUM
    results = [
        d.assess(call(OFFICE + i * spacing, number, allowed=False, high_risk=premium))
        for i in range(count)
    ]
    assert all(Signal.REFUSED_ATTEMPTS not in signals(r) for r in results[:-1])
    assert (Signal.REFUSED_ATTEMPTS in signals(results[-1])) is expected
    assert not any(r.refuse for r in results)  # refused already, by the policy
    # Refused attempts are not calls in progress: none can be ended, none counts as a callee.
    following = d.assess(call(OFFICE + count * spacing, DE, source=ELSEWHERE))
    assert Signal.PARALLEL_SOURCES not in signals(following)


@pytest.mark.parametrize(
    ("baseline", "calls", "expected"),
    [
        (None, 10, False),  # a new tenant: more than ten calls in an hour is unusual
        (None, 11, True),
        ("busy", 40, False),  # ten calls a week at this hour: four times that is fine
        ("busy", 41, True),
    ],
)
def test_velocity_is_measured_against_the_baseline(
    baseline: str | None, calls: int, expected: bool
) -> None:
    d = Detector()
    if baseline == "busy":
        since = ny(2026, 2, 4)  # a Wednesday, four weeks before OFFICE's
        d.learn(
            T,
            Baseline.learn(
                [
                    PastCall(at=since + w * WEEK + 10 * HOUR + i * 60, number=US, country="US")
                    for w in range(4)
                    for i in range(10)
                ],
                timezone=NY,
                since=since,
                now=since + 4 * WEEK,
            ),
        )
    # domestic calls from many phones, a minute apart, none ended yet
    results = [d.assess(call(OFFICE + i * 60, US, ext=f"2{i:03d}")) for i in range(calls)]
    assert all(Signal.VELOCITY not in signals(r) for r in results[:-1])
    assert (Signal.VELOCITY in signals(results[-1])) is expected


@pytest.mark.parametrize(
    ("count", "spacing", "expected"), [(8, 60.0, True), (7, 60.0, False), (8, 120.0, False)]
)
def test_a_burst_from_one_extension_is_velocity(count: int, spacing: float, expected: bool) -> None:
    d = detector()
    results = [d.assess(call(OFFICE + i * spacing, US)) for i in range(count)]
    assert (Signal.VELOCITY in signals(results[-1])) is expected


@pytest.mark.parametrize(
    ("exts", "start", "number", "spacing", "expected"),
    [
        (["1001", "1002", "1003"], NIGHT, FR, 600.0, True),
        (["1001", "1002", "1003"], NIGHT, DE_NEW_RANGE, 600.0, True),
        (["1001", "1002"], NIGHT, FR, 600.0, False),
        (["1001", "1001", "1001"], NIGHT, FR, 600.0, False),  # one extension
        (["1001", "1002", "1003"], OFFICE, FR, 600.0, False),  # by day
        (["1001", "1002", "1003"], NIGHT, DE, 600.0, False),  # nothing new
        (["1001", "1002", "1003"], NIGHT, FR, 2100.0, False),  # over 70 minutes
    ],
)
def test_new_destinations_from_several_extensions_at_night_are_spread(
    exts: list[str], start: float, number: str, spacing: float, expected: bool
) -> None:
    d = detector()
    results = [d.assess(call(start + i * spacing, number, ext=e)) for i, e in enumerate(exts)]
    assert all(Signal.SPREAD not in signals(r) for r in results[:-1])
    assert (Signal.SPREAD in signals(results[-1])) is expected


# -- graded responses ---------------------------------------------------------------------------


def test_one_ordinary_first_call_to_a_new_country_does_not_notify() -> None:
    d = detector()
    result = d.assess(call(OFFICE, FR))
    assert result.score == WEIGHTS[Signal.NEW_COUNTRY]
    assert result.response is Response.NONE
    assert not result.refuse
    assert d.level(T, "1001") is Response.NONE


def test_an_expensive_new_country_at_night_notifies_once_then_escalates() -> None:
    d = detector()
    first = call(NIGHT, NG, price="0.40", key="first")
    steps = [
        # (attempt, extension score, response, refuse, pin)
        (first, 50, Response.NOTIFY, False, False),  # new country, expensive, at night
        (call(NIGHT + 1, DE_NEW_RANGE), 70, Response.PIN, True, True),  # +20
        (call(NIGHT + 2, DE_OTHER_RANGE), 90, Response.CONTAIN, True, False),  # +20
        (call(NIGHT + 3, FR), 125, Response.NONE, True, False),  # +35, contained already
    ]
    results = [d.assess(attempt) for attempt, *_ in steps]
    assert [(r.extension_score, r.response, r.refuse, r.pin) for r in results] == [
        tuple(step[1:]) for step in steps
    ]
    assert all(r.scope is Scope.EXTENSION for r in results)
    assert [r.end_calls for r in results] == [(), (), ("first",), ()]
    assert d.level(T, "1001") is Response.CONTAIN


def test_a_second_incident_level_event_is_not_notified_again() -> None:
    d = detector()
    assert d.assess(call(NIGHT, NG, price="0.40")).response is Response.NOTIFY
    again = d.assess(call(NIGHT + 2 * HOUR, FR, price="0.40"))
    assert signals(again) == {Signal.NEW_COUNTRY, Signal.HIGH_COST, Signal.OFF_HOURS}
    assert again.extension_score == 53  # 50 decayed over four half-lives, plus 50
    assert again.response is Response.NONE
    assert not again.refuse


def pinned() -> Detector:
    """An extension at PIN level since the night; its score has long decayed by morning."""
    d = detector()
    assert d.assess(call(NIGHT, NG, price="0.40")).response is Response.NOTIFY
    assert d.assess(call(NIGHT + 1, DE_NEW_RANGE)).response is Response.PIN
    return d


@pytest.mark.parametrize(
    ("attempt", "refuse", "pin"),
    [
        (call(OFFICE, DE), True, True),
        (call(OFFICE, GB), True, True),
        (call(OFFICE, US), False, False),
        (call(OFFICE, US_PREMIUM, high_risk=True), True, True),  # premium counts as risky
        (call(OFFICE, DE, ext="1002"), False, False),  # another phone
        (call(OFFICE, DE, allowed=False), False, False),  # the policy refused it already
    ],
)
def test_at_pin_level_international_calls_need_the_pin(
    attempt: OutboundAttempt, refuse: bool, pin: bool
) -> None:
    result = pinned().assess(attempt)
    assert (result.refuse, result.pin) == (refuse, pin)
    assert result.response is Response.NONE


def test_the_right_pin_lets_the_next_call_through_without_notifying_again() -> None:
    d = pinned()  # 70 at NIGHT + 1
    d.pin_given(T, "1001", NIGHT + 10)
    assert d.level(T, "1001") is Response.NOTIFY  # the incident stays open
    result = d.assess(call(NIGHT + 20, DE))  # +10 at night: 50, not 80
    assert (result.response, result.refuse, result.pin) == (Response.NONE, False, False)
    assert result.extension_score == 50
    d.pin_given(T, "1002", NIGHT + 30)  # an extension the detector never saw: nothing to do
    assert d.level(T, "1002") is Response.NONE


def test_the_call_that_asked_for_the_pin_goes_through_once_the_pin_is_given() -> None:
    d = detector()
    assert d.assess(call(OFFICE, FR, price="0.30")).response is Response.NOTIFY  # 40
    asked = d.assess(call(OFFICE + 60, DE, high_risk=True))  # a premium number: +30
    assert (asked.response, asked.pin) == (Response.PIN, True)
    d.pin_given(T, "1001", OFFICE + 90)
    retried = d.assess(call(OFFICE + 120, DE, high_risk=True))
    assert not retried.refuse


def contain(d: Detector, at: float, *, ext: str = "1001", number: str = NG) -> Assessment:
    """A new, premium, expensive destination at night: 80 points at once."""
    return d.assess(call(at, number, ext=ext, price="0.40", high_risk=True))


def test_contain_ends_the_extensions_international_calls_and_refuses_new_ones() -> None:
    d = detector()
    own_intl = d.assess(call(OFFICE, DE, key="1001-berlin"))
    own_domestic = d.assess(call(OFFICE, US, key="1001-local"))
    others = d.assess(call(OFFICE, GB, ext="1002", key="1002-london"))
    assert not any(r.hits for r in (own_intl, own_domestic, others))
    ended_early = call(OFFICE, GB, key="1001-ended")
    d.assess(ended_early)
    end(d, ended_early, after=300)

    contained = contain(d, LATE)
    assert contained.score == 80
    assert (contained.response, contained.scope, contained.ext) == (
        Response.CONTAIN,
        Scope.EXTENSION,
        "1001",
    )
    assert contained.end_calls == ("1001-berlin",)
    assert contained.refuse
    assert d.level(T, "1001") is Response.CONTAIN
    assert d.level(T, "1002") is Response.NONE

    after = [
        d.assess(call(NEXT_MORNING, DE)),
        d.assess(call(NEXT_MORNING, US)),
        d.assess(call(NEXT_MORNING, GB, ext="1002")),
    ]
    assert [r.refuse for r in after] == [True, False, False]
    assert [r.response for r in after] == [Response.NONE] * 3
    assert all(r.end_calls == () for r in after)


def test_two_extensions_contained_within_a_day_contain_the_tenant() -> None:
    d = detector()
    d.assess(call(OFFICE, DE, ext="1003", key="1003-berlin"))
    d.assess(call(OFFICE, US, ext="1003", key="1003-local"))
    first = contain(d, LATE)
    assert (first.response, first.scope) == (Response.CONTAIN, Scope.EXTENSION)
    assert d.level(T, "1003") is Response.NONE

    second = contain(d, LATE + 2 * HOUR, ext="1002", number=SN)
    assert (second.response, second.scope, second.ext) == (Response.CONTAIN, Scope.TENANT, None)
    assert second.end_calls == ("1003-berlin",)
    assert second.refuse

    for ext in ("1001", "1002", "1003", "1999"):
        assert d.level(T, ext) is Response.CONTAIN
        assert d.assess(call(NEXT_MORNING, GB, ext=ext)).refuse
        assert not d.assess(call(NEXT_MORNING, US, ext=ext)).refuse
    # another tenant is untouched
    assert not d.assess(replace(call(NEXT_MORNING, GB), tenant_id=T + 1)).refuse


def test_extensions_contained_days_apart_do_not_contain_the_tenant() -> None:
    d = detector()
    contain(d, LATE)
    second = contain(d, LATE + DAY + HOUR, ext="1002", number=SN)
    assert (second.response, second.scope) == (Response.CONTAIN, Scope.EXTENSION)
    assert not d.assess(call(NEXT_MORNING + DAY, GB, ext="1003")).refuse


def test_one_extension_alone_never_contains_the_whole_tenant() -> None:
    d = detector()
    results = [
        d.assess(call(LATE + i, n, price="3.00", high_risk=True))
        for i, n in enumerate([NG, NG_OTHER_RANGE, FR, "+33612345678", SN])
    ]
    assert results[-1].extension_score >= 300
    assert all(r.scope is Scope.EXTENSION for r in results)
    assert [r.response for r in results] == [Response.CONTAIN] + [Response.NONE] * 4
    assert d.level(T, "1002") is Response.NONE
    assert not d.assess(call(NEXT_MORNING, GB, ext="1002")).refuse


def test_releasing_an_extension_brings_its_calls_back() -> None:
    d = detector()
    contain(d, LATE)
    assert d.assess(call(NEXT_MORNING, DE)).refuse
    d.release(T, "1001")
    assert d.level(T, "1001") is Response.NONE
    result = d.assess(call(NEXT_MORNING + 60, DE))
    assert (result.refuse, result.response, result.extension_score) == (False, Response.NONE, 0)


def test_releasing_one_extension_leaves_the_others_as_they_are() -> None:
    d = detector()
    contain(d, LATE)
    contain(d, LATE + DAY + HOUR, ext="1002", number=SN)
    assert d.level(T, "1002") is Response.CONTAIN
    d.release(T, "1001")
    assert not d.assess(call(NEXT_MORNING + DAY, GB, ext="1001")).refuse
    assert d.assess(call(NEXT_MORNING + DAY, GB, ext="1002")).refuse


def test_a_release_clears_the_suspicion_of_a_new_network() -> None:
    d = detector()
    registered(d, PHONE, OFFICE - DAY)
    registered(d, ELSEWHERE, failures(d, 5, start=OFFICE - 600))
    assert Signal.NEW_NETWORK_AFTER_FAILURES in signals(d.assess(call(OFFICE + 60, DE)))
    d.release(T, "1001")  # the admin reset the password and checked the phone
    assert Signal.NEW_NETWORK_AFTER_FAILURES not in signals(d.assess(call(OFFICE + 120, DE)))


@pytest.mark.parametrize(("incident", "learned"), [(False, True), (True, False)])
def test_only_calls_of_an_unsuspected_extension_are_learned(incident: bool, learned: bool) -> None:
    d = detector()
    if incident:
        assert d.assess(call(NIGHT, NG, price="0.40")).response is Response.NOTIFY
    paris = call(OFFICE, FR)
    assert not d.assess(paris).refuse
    end(d, paris, after=600, cost="0.50")
    later = d.assess(call(NEXT_MORNING, FR, ext="1002"))
    assert (Signal.NEW_COUNTRY not in signals(later)) is learned
    baseline = d.baseline(T)
    assert baseline is not None
    assert baseline.knows_country("FR") is learned


def test_releasing_the_tenant_brings_every_extension_back() -> None:
    d = detector()
    contain(d, LATE)
    contain(d, LATE + 2 * HOUR, ext="1002", number=SN)
    d.release(T, "1003")  # one extension's release does not lift the tenant's containment
    assert d.assess(call(NEXT_MORNING, GB, ext="1003")).refuse
    d.release(T)
    for ext in ("1001", "1002", "1003"):
        assert d.level(T, ext) is Response.NONE
        assert not d.assess(call(NEXT_MORNING + 60, GB, ext=ext)).refuse


@pytest.mark.parametrize(
    ("held", "response", "refuse"),
    [
        (Response.NONE, Response.NOTIFY, False),
        (Response.NOTIFY, Response.NONE, False),
        (Response.PIN, Response.NONE, True),
        (Response.CONTAIN, Response.NONE, True),
    ],
)
def test_a_response_held_from_elsewhere_is_not_raised_again(
    held: Response, response: Response, refuse: bool
) -> None:
    d = detector()
    d.hold(T, "1001", held)
    result = d.assess(call(NIGHT, NG, price="0.40"))  # 50: notify-worthy
    assert (result.response, result.refuse) == (response, refuse)
    assert d.level(T, "1001") is max(held, Response.NOTIFY)


def test_holding_the_tenants_containment_refuses_every_extensions_international_calls() -> None:
    d = detector()
    d.hold(T, None, Response.CONTAIN)
    assert d.assess(call(OFFICE, DE, ext="1004")).refuse
    assert not d.assess(call(OFFICE, US, ext="1004")).refuse
    assert contain(d, LATE).refuse


# -- decay --------------------------------------------------------------------------------------


def test_a_score_halves_every_half_hour() -> None:
    d = detector()
    assert d.assess(call(NIGHT, NG, price="0.40")).extension_score == 50
    assert d.assess(call(NIGHT + 1800, US)).extension_score == 25
    now = d.assess(call(NIGHT + HOUR, US))
    assert now.extension_score in (12, 13)  # 12.5
    small = d.assess(call(NIGHT + HOUR + 1, FR))  # +35: 47.5, far from PIN at 60
    assert (small.response, small.refuse) == (Response.NONE, False)


@pytest.mark.parametrize(("gap", "response"), [(60.0, Response.NOTIFY), (HOUR, Response.NONE)])
def test_two_small_hits_notify_only_when_close_together(gap: float, response: Response) -> None:
    d = detector()
    assert d.assess(call(NIGHT, FR)).score == 35  # a new country at night
    second = d.assess(call(NIGHT + gap, DE_NEW_RANGE))  # +20
    assert second.response is response


# -- the watch over calls in progress -----------------------------------------------------------


def incident() -> tuple[Detector, OutboundAttempt, OutboundAttempt, OutboundAttempt]:
    """An open incident (a premium number in a new country, 55) and three calls in progress."""
    d = detector()
    ng = call(OFFICE, NG, high_risk=True, key="ng")
    assert d.assess(ng).response is Response.NOTIFY
    de, us = call(OFFICE + 5, DE, key="de"), call(OFFICE + 6, US, key="us")
    assert not d.assess(de).hits
    assert not d.assess(us).hits
    return d, ng, de, us


@pytest.mark.parametrize(
    ("costs", "contain"),
    [
        ({"ng": "2.00"}, True),
        ({"ng": "1.99"}, False),
        ({"ng": "1.20", "de": "0.80"}, True),
        ({"ng": "1.99", "us": "5.00"}, False),  # domestic spend is not counted
    ],
)
def test_spend_in_an_open_incident_up_to_the_cap_contains(
    costs: dict[str, str], contain: bool
) -> None:
    d, *calls = incident()
    by_key = {a.call_key: a for a in calls}
    out = d.watch(OFFICE + 600, running(*((by_key[k], c) for k, c in costs.items())))
    if not contain:
        assert out == []
        return
    [result] = out
    assert signals(result) == {Signal.SPEND_IN_INCIDENT}
    assert (result.response, result.scope, result.ext) == (
        Response.CONTAIN,
        Scope.EXTENSION,
        "1001",
    )
    assert set(result.end_calls) == {"ng", "de"}
    assert d.watch(OFFICE + 601, running(*((by_key[k], c) for k, c in costs.items()))) == []


def test_what_ended_calls_cost_in_the_incident_counts_toward_the_cap() -> None:
    d, ng, de, _ = incident()
    end(d, de, after=60, cost="1.50")
    [result] = d.watch(OFFICE + 120, running((ng, "0.50")))
    assert result.response is Response.CONTAIN
    assert result.end_calls == ("ng",)


def test_without_an_incident_the_cap_does_not_apply() -> None:
    d = detector()
    de = call(OFFICE, DE)
    d.assess(de)
    assert d.watch(OFFICE + 600, running((de, "2.50"))) == []


def test_the_spend_cap_applies_to_a_held_incident() -> None:
    d = detector()
    d.hold(T, "1001", Response.NOTIFY)
    de = call(OFFICE, DE)
    d.assess(de)
    out = d.watch(OFFICE + 600, running((de, "2.50")))
    assert [r.response for r in out] == [Response.CONTAIN]


def spend_morning(d: Detector, ended_costs: Iterable[str]) -> OutboundAttempt:
    """Calls to a known range in the morning, each ended with its cost, then one running."""
    for i, cost in enumerate(ended_costs):
        attempt = call(OFFICE - 3 * HOUR + i * 600, GB)
        d.assess(attempt)
        end(d, attempt, after=300, cost=cost)
    last = call(OFFICE, GB)
    d.assess(last)
    return last


@pytest.mark.parametrize(
    ("usual", "expected"),
    [
        (Decimal(0), True),  # nothing usually: 4.10 passes the 4.00 floor
        (Decimal("3.00"), False),  # 3.00 usually in those hours: 4.10 is normal
    ],
)
def test_spend_far_above_the_baseline_raises_spend_velocity_once(
    usual: Decimal, expected: bool
) -> None:
    # three days of history: it knows London, and expects no spend yet
    baseline = Baseline.learn(
        [PastCall(at=OFFICE - 2 * DAY, number=GB, country="GB")],
        timezone=NY,
        since=OFFICE - 3 * DAY,
        now=OFFICE,
    )
    if usual:
        since = ny(2026, 2, 4)  # Wednesdays, four weeks before
        baseline = Baseline.learn(
            [
                PastCall(at=since + w * WEEK + 8 * HOUR, number=GB, country="GB", cost=usual)
                for w in range(4)
            ],
            timezone=NY,
            since=since,
            now=since + 4 * WEEK,
        )
    d = detector(baseline)
    last = spend_morning(d, ["1.00", "1.00", "1.50"])
    out = d.watch(OFFICE + 60, running((last, "0.60")))
    assert [signals(r) for r in out] == ([{Signal.SPEND_VELOCITY}] if expected else [])
    if expected:
        assert out[0].response is Response.NOTIFY
    assert d.watch(OFFICE + 61, running((last, "0.61"))) == []  # not again on the next tick


# -- learning while watching --------------------------------------------------------------------


def test_velocity_is_not_lifted_by_the_calls_it_is_measuring() -> None:
    d = detector()  # one call a week at Wednesday 10:00: more than 11 in that hour is unusual
    hits = set()
    for i in range(20):
        attempt = call(OFFICE + i * 120, US, ext=f"2{i:03d}")
        hits |= signals(d.assess(attempt))
        end(d, attempt, after=60)
    assert Signal.VELOCITY in hits


def test_spend_velocity_is_not_lifted_by_the_spend_it_is_measuring() -> None:
    d = detector()
    last = spend_morning(d, ["2.00", "2.00", "2.00"])
    assert [signals(r) for r in d.watch(OFFICE + 60, running((last, "0.10")))] == [
        {Signal.SPEND_VELOCITY}
    ]


def test_a_quiet_night_stays_quiet_after_a_couple_of_calls_in_it() -> None:
    d = detector()
    for i in range(2):
        attempt = call(NIGHT + i * 300, DE)
        assert Signal.OFF_HOURS in signals(d.assess(attempt))
        end(d, attempt, after=120)
    assert Signal.OFF_HOURS in signals(d.assess(call(NIGHT + 900, DE)))


def test_a_tenant_notice_does_not_swallow_the_extensions_own_containment() -> None:
    d = detector()
    assert d.assess(call(LATE - 600, FR, ext="1002")).score == 35
    result = d.assess(call(LATE, NG, ext="1001", price="0.40", high_risk=True))
    assert result.extension_score >= 80
    assert result.refuse


def test_a_destination_refused_to_a_contained_extension_stays_suspect_for_the_others() -> None:
    d = detector()
    assert contain(d, LATE).response is Response.CONTAIN
    second = contain(d, LATE + HOUR + 60, ext="1002")  # the same number, another phone
    assert signals(second) & {Signal.NEW_COUNTRY, Signal.RANGE_IN_INCIDENT}
    assert second.refuse


# -- explanation and robustness -----------------------------------------------------------------


def test_explain_is_one_line_with_the_score_and_each_signal() -> None:
    result = detector().assess(call(NIGHT, NG, price="0.40"))
    line = result.explain()
    assert "\n" not in line
    assert line.startswith("score 50 (extension 50, tenant 50): ")
    for name, pts in [("new_country", 25), ("high_cost", 15), ("off_hours", 10)]:
        assert f"{name} +{pts}" in line
    assert "NG" in line
    assert "0.40" in line
    assert detector().assess(call(OFFICE, DE)).explain() == "score 0 (extension 0, tenant 0)"


def test_explain_of_the_watch_and_of_a_registration() -> None:
    d, ng, _, _ = incident()
    [result] = d.watch(OFFICE + 600, running((ng, "2.00")))
    assert "spend_in_incident +80" in result.explain()
    d = detector()
    registered(d, PHONE, OFFICE - DAY)
    result = registered(d, ELSEWHERE, failures(d, 5, start=OFFICE - 600))
    assert "new_network_after_failures +50" in result.explain()
    assert "203.0.113.0/24" in result.explain()


@pytest.mark.parametrize(
    "changes",
    [
        {"source": "not an address"},
        {"source": "198.51.100.7:5060"},
        {"source": "fe80::1%eth0"},
        {"source": "[2001:db8::1]"},
        {"number": ""},
        {"number": "+"},
        {"timezone": "Mars/Olympus"},
        {"timezone": ""},
        {"home_country": "XX"},
        {"home_country": ""},
        {"country": ""},
    ],
)
def test_odd_inputs_never_raise(changes: dict[str, object]) -> None:
    d = detector()
    first = d.assess(replace(call(NIGHT, NG), **changes))
    second = d.assess(replace(call(NIGHT + 1, NG), source=ELSEWHERE))
    assert first.tenant_id == second.tenant_id == T
    d.inbound(
        InboundCall(
            tenant_id=T,
            caller="",
            caller_country="SN",
            home_country="US",
            at=NIGHT,
            answered=False,
            rang_for=1.0,
        )
    )
    for source in ("not an address", "", "1.2.3.4:5060", "::ffff:1.2.3.4"):
        d.auth_failed(AuthFailure(tenant_id=T, ext="1001", source=source, at=NIGHT))
        registered(d, source, NIGHT)
    d.auth_failed(AuthFailure(tenant_id=T, ext=None, source=PHONE, at=NIGHT))
    d.ended(
        CallEnded(tenant_id=T, ext="1001", call_key="nope", at=NIGHT, answered=True, duration=1.0)
    )
    d.ended(
        CallEnded(tenant_id=99, ext="1001", call_key="nope", at=NIGHT, answered=True, duration=1.0)
    )
    assert d.watch(NIGHT, running((call(NIGHT, NG, ext="9999"), "9.00"))) == []
    d.release(99)
    d.pin_given(99, "1001", NIGHT)
    assert d.level(99, "1001") is Response.NONE


def test_an_unknown_time_zone_scores_on_utc() -> None:
    at_utc_noon = datetime(2026, 3, 4, 12, tzinfo=ZoneInfo("UTC")).timestamp()
    attempt = replace(call(at_utc_noon, DE), timezone="Mars/Olympus")
    assert Signal.OFF_HOURS not in signals(Detector().assess(attempt))
    attempt = replace(call(at_utc_noon - 9 * HOUR, DE), timezone="Mars/Olympus")
    assert Signal.OFF_HOURS in signals(Detector().assess(attempt))
