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
S = DetectorSettings()
WEIGHTS = S.weights


def ny(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> float:
    return datetime(year, month, day, hour, minute, tzinfo=ZoneInfo(NY)).timestamp()


OFFICE = ny(2026, 3, 4, 10)  # Wednesday 10:00, a working morning
NIGHT = ny(2026, 3, 4, 3)  # Wednesday 03:00
LATE = ny(2026, 3, 4, 22)  # Wednesday 22:00
NEXT_MORNING = ny(2026, 3, 5, 10)  # Thursday 10:00
PHONE_SINCE = OFFICE - WEEK  # when a phone first registered from its usual network

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
COUNTRIES = {
    "+1": "US",
    "+49": "DE",
    "+44": "GB",
    "+33": "FR",
    "+234": "NG",
    "+221": "SN",
    "+373": "MD",
}

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


def detector(
    baseline: Baseline | None = None, settings: DetectorSettings | None = None
) -> Detector:
    d = Detector(settings)
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


def failures(d: Detector, count: int, *, start: float, spacing: float = 20.0) -> float:
    for i in range(count):
        d.auth_failed(
            AuthFailure(tenant_id=T, ext="1001", source="192.0.2.66", at=start + i * spacing)
        )
    return start + count * spacing


def registered(d: Detector, source: str, at: float, *, ext: str = "1001") -> Assessment:
    return d.registered(Registered(tenant_id=T, ext=ext, source=source, at=at), timezone=NY)


def probe(d: Detector, at: float, *, ext: str = "1001") -> Assessment:
    """Numbers abroad tried in the seconds before ``at`` and refused by the call policy, as
    many distinct ones as make a probing run: the last scores ``refused_attempts``."""
    results = [
        d.assess(call(at - S.refused_run + i, f"+3736000000{i}", ext=ext, allowed=False))
        for i in range(S.refused_run)
    ]
    assert signals(results[-1]) == {Signal.REFUSED_ATTEMPTS}
    return results[-1]


WAVE = ("+2217710001", "+2217710002", "+2217710003")  # three numbers of the range +221771
CALLBACK = "+2217719999"  # another number of that range


def ring(
    d: Detector,
    caller: str,
    at: float,
    *,
    country: str = "SN",
    answered: bool = False,
    rang_for: float = 2.0,
) -> None:
    d.inbound(
        InboundCall(
            tenant_id=T,
            caller=caller,
            caller_country=country,
            home_country="US",
            at=at,
            answered=answered,
            rang_for=rang_for,
        )
    )


def wave(d: Detector, at: float) -> float:
    """The numbers of one range abroad ring once each, a minute apart; when the last rang."""
    for i, caller in enumerate(WAVE):
        ring(d, caller, at + i * 60)
    return at + (len(WAVE) - 1) * 60


# -- one attempt, one signal --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attempt", "expected"),
    [
        (call(OFFICE, DE), set()),
        (call(OFFICE, GB), set()),
        (call(OFFICE, FR), {Signal.NEW_COUNTRY}),  # unpriced: it may cost, so it counts
        (call(OFFICE, DE_NEW_RANGE), {Signal.NEW_RANGE}),
        (call(OFFICE, DE, high_risk=True), {Signal.HIGH_RISK}),
        (call(OFFICE, DE_NEW_RANGE, price="0.25"), {Signal.NEW_RANGE, Signal.HIGH_COST}),
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
    ("attempt", "expected"),
    [
        # Somewhere new counts only where the call can cost: dear, high-risk, or unpriced.
        (call(OFFICE, FR, price="0.10"), set()),  # a cheap new country
        (call(OFFICE, FR, price="0.249"), set()),
        (call(OFFICE, FR, price="0.25"), {Signal.NEW_COUNTRY, Signal.HIGH_COST}),
        (call(OFFICE, FR, price="0.10", high_risk=True), {Signal.NEW_COUNTRY, Signal.HIGH_RISK}),
        (call(OFFICE, DE_NEW_RANGE, price="0.10"), set()),  # a cheap new range
        (call(NIGHT, FR, price="0.10"), {Signal.OFF_HOURS}),
        # Dear counts only somewhere the tenant does not call, or high-risk: its usual dear
        # destinations are its business.
        (call(OFFICE, DE, price="0.25"), set()),
        (call(OFFICE, DE, price="3.00"), set()),
        (call(OFFICE, DE, price="0.25", high_risk=True), {Signal.HIGH_RISK, Signal.HIGH_COST}),
        (call(OFFICE, DE_NEW_RANGE, price="0.249"), set()),
    ],
)
def test_novelty_and_high_cost_count_only_where_a_call_can_cost(
    attempt: OutboundAttempt, expected: set[Signal]
) -> None:
    result = detector().assess(attempt)
    assert signals(result) == expected
    assert result.score == points(*expected)


def test_a_cheap_call_to_a_new_country_leaves_its_first_dear_call_new() -> None:
    d = detector()
    assert not d.assess(call(OFFICE, FR, price="0.10")).hits
    dear = d.assess(call(OFFICE + 60, FR, price="0.40", ext="1002"))
    assert signals(dear) == {Signal.NEW_COUNTRY, Signal.HIGH_COST}


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


@pytest.mark.parametrize(
    ("callers", "spacing", "answered", "rang_for", "blocked"),
    [
        (WAVE, 60.0, False, 2.0, True),
        (WAVE, 60.0, False, S.wangiri_ring, True),  # still a one-ring call
        (WAVE, 1200.0, False, 2.0, True),  # within the hour
        (WAVE, 1800.0, False, 2.0, False),  # over an hour: missed calls, not a wave
        (WAVE[:1], 60.0, False, 2.0, False),  # one missed call from abroad is nothing
        (WAVE[:2], 60.0, False, 2.0, False),
        ((WAVE[0],) * 3, 60.0, False, 2.0, False),  # one number ringing again and again
        (WAVE, 60.0, True, 2.0, False),  # answered: real calls
        (WAVE, 60.0, False, S.wangiri_ring + 0.5, False),  # rang long enough to answer
        (("+2217710001", "+2217720002", "+2217730003"), 60.0, False, 2.0, False),  # 3 ranges
    ],
)
def test_a_range_whose_numbers_ring_once_in_a_wave_is_blocked(
    callers: tuple[str, ...], spacing: float, answered: bool, rang_for: float, blocked: bool
) -> None:
    d = detector()
    for i, caller in enumerate(callers):
        ring(d, caller, OFFICE + i * spacing, answered=answered, rang_for=rang_for)
    result = d.assess(call(OFFICE + 2 * HOUR, CALLBACK, ext="1002"))
    assert (result.blocked, result.refuse) == (blocked, blocked)
    assert (Signal.WANGIRI_CALLBACK in signals(result)) is blocked


def test_domestic_one_ring_calls_make_no_wave() -> None:
    d = detector()
    for i in range(S.wangiri_wave):
        ring(d, f"+1202555{i:04d}", OFFICE + i * 60, country="US")
    # high-risk keeps the call back risky, so only a wave could refuse it
    result = d.assess(call(OFFICE + 600, "+12025550111", high_risk=True))
    assert not result.blocked
    assert not result.refuse


@pytest.mark.parametrize(
    ("later", "blocked"), [(S.wangiri_window - 60, True), (S.wangiri_window + 60, False)]
)
def test_a_waves_range_stays_blocked_for_the_wangiri_window(later: float, blocked: bool) -> None:
    d = detector()
    last = wave(d, OFFICE)
    assert d.assess(call(last + later, CALLBACK)).blocked is blocked


def test_a_call_back_to_a_wave_is_refused_scores_nobody_and_tells_the_tenant_once() -> None:
    d = detector()
    assert d.assess(call(OFFICE, FR, ext="1002")).extension_score == WEIGHTS[Signal.NEW_COUNTRY]
    wave(d, OFFICE + 60)
    first = d.assess(call(OFFICE + 600, CALLBACK, ext="1002"))
    assert (first.blocked, first.refuse, first.pin) == (True, True, False)
    assert signals(first) == {Signal.WANGIRI_CALLBACK}
    assert (first.response, first.scope, first.ext) == (Response.NOTIFY, Scope.TENANT, None)
    # The caller was fooled, not hacked: the running scores are those of a twin that never
    # heard of the wave.
    twin = detector()
    twin.assess(call(OFFICE, FR, ext="1002"))
    unaffected = twin.assess(call(OFFICE + 600, US, ext="1002"))
    for result in (first, d.assess(call(OFFICE + 600, US, ext="1002"))):
        assert (result.extension_score, result.tenant_score) == (
            unaffected.extension_score,
            unaffected.tenant_score,
        )
    assert d.level(T, "1002") is Response.NONE

    again = d.assess(call(OFFICE + 900, CALLBACK[:-1] + "8", ext="1003"))  # whoever calls
    assert (again.blocked, again.refuse) == (True, True)
    assert again.response is Response.NONE  # the tenant heard of it already
    others = d.assess(call(OFFICE + 960, DE, ext="1002"))
    assert (others.refuse, others.response) == (False, Response.NONE)


def test_a_blocked_call_back_leaves_no_suspicion_on_its_range_once_the_block_lapses() -> None:
    d = detector(settings=DetectorSettings(wangiri_window=HOUR))
    assert d.assess(call(OFFICE, NG, high_risk=True)).response is Response.NOTIFY
    wave(d, OFFICE)
    assert d.assess(call(OFFICE + 600, CALLBACK)).blocked  # during 1001's open incident
    later = d.assess(call(OFFICE + 2 * HOUR, CALLBACK, ext="1002"))
    assert not later.blocked
    assert Signal.RANGE_IN_INCIDENT not in signals(later)


# -- ranges seen in an incident -----------------------------------------------------------------


@pytest.mark.parametrize(("high_risk", "incident"), [(True, True), (False, False)])
def test_a_range_called_during_an_open_incident_is_suspect_for_other_extensions(
    high_risk: bool, incident: bool
) -> None:
    d = detector()
    # A premium number in a new country opens an incident; the same country is merely new.
    opened = d.assess(call(OFFICE - HOUR, NG, high_risk=high_risk))
    assert (opened.response is Response.NOTIFY) is incident
    other = d.assess(call(OFFICE, NG[:-3] + "999", ext="1002"))
    assert (Signal.RANGE_IN_INCIDENT in signals(other)) is incident
    different = d.assess(call(OFFICE, NG_OTHER_RANGE, ext="1003"))
    assert Signal.RANGE_IN_INCIDENT not in signals(different)


@pytest.mark.parametrize(
    ("later", "flagged"),
    [(HOUR, True), (S.incident_range_for - 60, True), (S.incident_range_for + 60, False)],
)
def test_a_range_of_an_incident_stays_suspect_for_a_day(later: float, flagged: bool) -> None:
    d = detector()
    assert d.assess(call(OFFICE, NG, high_risk=True)).response is Response.NOTIFY
    other = d.assess(call(OFFICE + later, NG, ext="1002"))
    assert (Signal.RANGE_IN_INCIDENT in signals(other)) is flagged


def test_a_release_forgets_the_ranges_of_the_incident() -> None:
    d = detector()
    assert d.assess(call(NIGHT, NG, high_risk=True)).response is Response.NOTIFY
    d.release(T)
    assert Signal.RANGE_IN_INCIDENT not in signals(d.assess(call(OFFICE, NG, ext="1002")))


# -- patterns over several calls ----------------------------------------------------------------

MUNICH = [f"+4989555{i:03d}" for i in range(6)]  # numbers in a range the tenant never called
BERLIN = [f"+49301234{i:03d}" for i in range(6)]  # numbers in a range it calls every week


@pytest.mark.parametrize(
    ("numbers", "spacing", "expected"),
    [
        (MUNICH, 300, True),
        (MUNICH[:5], 300, False),
        ([MUNICH[i % 3] for i in range(6)], 300, False),  # three numbers, twice each
        (MUNICH, 900, False),  # spread over 75 minutes
        (BERLIN, 300, False),  # a busy morning calling its usual contacts
        ([*BERLIN[:5], MUNICH[0]], 300, False),
        ([*MUNICH[:5], BERLIN[0]], 300, False),
        ([*[f"+1212555{i:04d}" for i in range(5)], MUNICH[0]], 300, False),  # 5 domestic
    ],
)
def test_many_new_callees_abroad_in_an_hour(
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
    ("devices", "first_source", "first_ended", "second_source", "expected"),
    [
        ([PHONE], PHONE, False, ELSEWHERE, True),  # the second from a network new to it
        ([PHONE], ELSEWHERE, False, PHONE, True),  # the first was
        ([PHONE, ELSEWHERE], PHONE, False, ELSEWHERE, False),  # a second device long used
        ([PHONE], PHONE, False, PHONE, False),
        ([PHONE], PHONE, True, ELSEWHERE, False),  # one after the other
        ([PHONE], PHONE, False, "", False),  # the address is unknown
        ([PHONE], "", False, ELSEWHERE, False),
    ],
)
def test_calls_at_once_from_two_addresses_one_of_them_new_are_parallel_sources(
    devices: list[str], first_source: str, first_ended: bool, second_source: str, expected: bool
) -> None:
    d = detector()
    for source in devices:
        registered(d, source, PHONE_SINCE)
    first = call(OFFICE, DE, source=first_source)
    d.assess(first)
    if first_ended:
        end(d, first, after=120)
    second = d.assess(call(OFFICE + 300, GB, source=second_source))
    assert (Signal.PARALLEL_SOURCES in signals(second)) is expected
    # that alone opens an incident
    assert (second.response >= Response.NOTIFY) is expected


@pytest.mark.parametrize(
    ("seen", "source", "number", "expected"),
    [
        ([("register", PHONE, PHONE_SINCE)], ELSEWHERE, DE, True),  # first seen on this call
        (
            [("register", PHONE, PHONE_SINCE), ("register", ELSEWHERE, OFFICE - 2 * HOUR)],
            ELSEWHERE,
            DE,
            True,
        ),
        (
            [("register", PHONE, PHONE_SINCE), ("register", ELSEWHERE, OFFICE - DAY - 60)],
            ELSEWHERE,
            DE,
            False,  # in use for over a day
        ),
        ([("call", PHONE, OFFICE - 2 * DAY)], ELSEWHERE, DE, True),  # learned from a call
        ([("register", PHONE, PHONE_SINCE)], PHONE, DE, False),
        ([("register", PHONE, PHONE_SINCE)], "198.51.100.99", DE, False),  # the same /24
        ([("register", PHONE, PHONE_SINCE)], ELSEWHERE, US, False),  # domestic: nothing to lose
        ([], ELSEWHERE, DE, False),  # nothing known of it (a restart forgets networks)
        ([("register", ELSEWHERE, OFFICE - HOUR)], ELSEWHERE, DE, False),  # its only network
        ([("register", "2001:db8:1::5", PHONE_SINCE)], "2001:db8:2::5", DE, True),  # a new /48
        ([("register", "2001:db8:1::5", PHONE_SINCE)], "2001:db8:1:ff::9", DE, False),
    ],
)
def test_a_call_abroad_from_a_network_new_to_the_extension_is_new_network(
    seen: list[tuple[str, str, float]], source: str, number: str, expected: bool
) -> None:
    d = detector()
    for how, address, at in seen:
        if how == "register":
            registered(d, address, at)
        else:
            taught = call(at, US, source=address)
            d.assess(taught)
            end(d, taught, after=60)
    result = d.assess(call(OFFICE, number, source=source))
    assert (Signal.NEW_NETWORK in signals(result)) is expected
    assert result.score == (WEIGHTS[Signal.NEW_NETWORK] if expected else 0)
    # what the extension does counts for its tenant too
    assert result.tenant_score == result.score


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
    ("numbers", "spacing", "high_risk", "expected"),
    [
        ([NG, NG_OTHER_RANGE, FR], 60.0, False, True),
        ([NG, NG, NG], 60.0, False, False),  # one number redialled is not probing
        ([NG, NG, FR, FR], 60.0, False, False),  # two numbers
        ([NG, NG, NG_OTHER_RANGE, FR], 60.0, False, True),
        ([NG, NG_OTHER_RANGE, FR], 960.0, False, False),  # 32 min: the first is out of it
        ([US, "+12125550101", "+12125550102"], 60.0, False, False),  # domestic: no probe
        (["+19005550123", "+19005550124", "+19005550125"], 60.0, True, True),  # premium is
    ],
)
def test_refused_international_numbers_are_probing(
    numbers: list[str], spacing: float, high_risk: bool, expected: bool
) -> None:
    d = detector()
    results = [
        d.assess(call(OFFICE + i * spacing, n, allowed=False, high_risk=high_risk))
        for i, n in enumerate(numbers)
    ]
    assert all(Signal.REFUSED_ATTEMPTS not in signals(r) for r in results[:-1])
    assert (Signal.REFUSED_ATTEMPTS in signals(results[-1])) is expected
    assert not any(r.refuse for r in results)  # refused already, by the policy
    # Refused attempts are not calls in progress: none can be ended, none counts as a callee.
    following = d.assess(call(OFFICE + len(numbers) * spacing, DE, source=ELSEWHERE))
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


@pytest.mark.parametrize(
    ("numbers", "spacing", "expected"),
    [
        ([NG, SN], 600.0, True),  # two new dear countries from two phones within 30 min
        ([NG, NG_OTHER_RANGE], 600.0, False),  # one new country: the tenant's new market
        ([NG, SN], 2400.0, False),  # 40 minutes apart
    ],
)
def test_new_dear_destinations_from_several_extensions_by_day_are_spread(
    numbers: list[str], spacing: float, expected: bool
) -> None:
    d = detector()
    results = [
        d.assess(call(OFFICE + i * spacing, n, ext=f"100{i + 1}", price="0.80"))
        for i, n in enumerate(numbers)
    ]
    assert Signal.SPREAD not in signals(results[0])
    assert (Signal.SPREAD in signals(results[-1])) is expected
    if expected:
        # The second phone needs its PIN (an attacker with leaked passwords has none), and the
        # spread is the tenant's incident.
        assert (results[-1].response, results[-1].refuse) == (Response.PIN, True)
        assert d.level(T) is Response.NONE  # notified, nothing held for the whole tenant


def test_a_premium_number_counts_toward_a_spread_even_in_one_country() -> None:
    d = detector()
    d.assess(call(OFFICE, NG, ext="1001", price="0.80"))
    second = d.assess(call(OFFICE + 300, NG_OTHER_RANGE, ext="1002", price="0.80", high_risk=True))
    assert Signal.SPREAD in signals(second)


def test_cheap_new_destinations_by_day_are_no_spread() -> None:
    d = detector()
    results = [
        d.assess(call(OFFICE + i * 60, n, ext=f"100{i + 1}", price="0.05"))
        for i, n in enumerate([NG, SN, FR])
    ]
    assert all(Signal.SPREAD not in signals(r) for r in results)


def _spread_under_way(d: Detector) -> tuple[OutboundAttempt, OutboundAttempt]:
    """Phone 1001 calls Nigeria, then 1002 Senegal: a spread. 1002's call is refused for the
    PIN; 1001's runs on."""
    first = call(OFFICE, NG, ext="1001", price="0.80")
    d.assess(first)
    second = call(OFFICE + 300, SN, ext="1002", price="0.80")
    assert d.assess(second).pin
    return first, second


def test_the_calls_of_a_spread_are_ended_at_the_spread_cap_and_the_pin_asked() -> None:
    d = detector()
    first, _ = _spread_under_way(d)
    below = d.watch(OFFICE + 320, running((first, "1.99")))
    assert below == []
    found = d.watch(OFFICE + 330, running((first, "2.00")))
    assert [(a.ext, a.response, a.end_calls) for a in found] == [
        ("1001", Response.PIN, (first.call_key,))
    ]
    assert Signal.SPREAD in signals(found[0])
    # Its next call abroad needs the PIN; a domestic call does not.
    assert d.assess(call(OFFICE + 400, GB, ext="1001")).pin
    assert not d.assess(call(OFFICE + 410, US, ext="1001")).refuse
    # The ended call is not ended twice.
    assert d.watch(OFFICE + 331, running((first, "2.01"))) == []


def test_an_extension_that_gave_its_pin_keeps_its_call_in_a_spread() -> None:
    d = detector()
    first, second = _spread_under_way(d)
    d.pin_given(T, "1002", OFFICE + 310)
    again = replace(second, call_key="again", at=OFFICE + 311)
    d.admit(again)
    found = d.watch(OFFICE + 400, running((first, "1.50"), (again, "1.00")))
    assert [(a.ext, a.end_calls) for a in found] == [("1001", (first.call_key,))]


def test_what_ended_calls_of_a_spread_cost_counts_toward_its_cap() -> None:
    d = detector()
    first, _ = _spread_under_way(d)
    end(d, first, after=200, cost="1.50")
    third = call(OFFICE + 600, US, ext="1003")
    d.assess(third)  # domestic: not one of the spread's calls
    # A suspect call abroad while the spread is on is one of its calls (an hour on, it does
    # not make a spread of its own, and goes out).
    later = call(OFFICE + HOUR, FR, ext="1004", price="0.30")
    assert not d.assess(later).refuse
    found = d.watch(OFFICE + HOUR + 60, running((third, "3.00"), (later, "0.50")))
    assert [(a.ext, a.end_calls) for a in found] == [("1004", (later.call_key,))]


def test_a_spread_lapses_an_hour_after_it_was_last_seen() -> None:
    d = detector()
    first, _ = _spread_under_way(d)
    assert d.watch(OFFICE + 300 + HOUR + 60, running((first, "5.00"))) == []
    assert d.watch(OFFICE + 300 + HOUR + 61, running((first, "5.01"))) == []


def test_releasing_the_tenant_ends_the_spread() -> None:
    d = detector()
    first, _ = _spread_under_way(d)
    d.release(T)
    assert d.watch(OFFICE + 400, running((first, "5.00"))) == []


# -- graded responses ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("score", "response"),
    [
        (44, Response.NONE),
        (45, Response.NOTIFY),
        (59, Response.NOTIFY),
        (60, Response.PIN),
        (79, Response.PIN),
        (80, Response.CONTAIN),
    ],
)
def test_the_extensions_score_picks_the_graded_response(score: int, response: Response) -> None:
    d = detector(settings=DetectorSettings(weights={**WEIGHTS, Signal.HIGH_RISK: score}))
    result = d.assess(call(OFFICE, DE, high_risk=True))
    assert (signals(result), result.extension_score) == ({Signal.HIGH_RISK}, score)
    assert (result.response, result.scope) == (response, Scope.EXTENSION)
    assert (result.refuse, result.pin) == (response >= Response.PIN, response is Response.PIN)


def test_one_ordinary_first_call_to_a_new_country_does_not_notify() -> None:
    d = detector()
    result = d.assess(call(OFFICE, FR))
    assert result.score == WEIGHTS[Signal.NEW_COUNTRY]
    assert result.response is Response.NONE
    assert not result.refuse
    assert d.level(T, "1001") is Response.NONE


def test_a_premium_number_in_a_new_country_at_night_notifies_once_then_escalates() -> None:
    d = detector()
    first = call(NIGHT, NG, high_risk=True, key="first")
    new_country, new_range, off = Signal.NEW_COUNTRY, Signal.NEW_RANGE, Signal.OFF_HOURS
    steps = [
        # (attempt, its signals, response, refuse, pin)
        (first, {new_country, Signal.HIGH_RISK, off}, Response.NOTIFY, False, False),
        (call(NIGHT + 1, DE_NEW_RANGE), {new_range, off}, Response.PIN, True, True),
        (call(NIGHT + 2, DE_OTHER_RANGE), {new_range, off}, Response.CONTAIN, True, False),
        (call(NIGHT + 3, FR), {new_country, off}, Response.NONE, True, False),
    ]
    results = [d.assess(attempt) for attempt, *_ in steps]
    assert [signals(r) for r in results] == [step[1] for step in steps]
    # a few seconds apart: the score hardly decays
    assert [r.extension_score for r in results] == list(
        itertools.accumulate(points(*step[1]) for step in steps)
    )
    assert [(r.response, r.refuse, r.pin) for r in results] == [step[2:] for step in steps]
    assert all(r.scope is Scope.EXTENSION for r in results)
    assert [r.end_calls for r in results] == [(), (), ("first",), ()]
    assert d.level(T, "1001") is Response.CONTAIN


def test_a_second_incident_level_event_is_not_notified_again() -> None:
    d = detector()
    assert d.assess(call(NIGHT, NG, high_risk=True)).response is Response.NOTIFY  # 55
    again = d.assess(call(NIGHT + 2 * HOUR, FR, high_risk=True))
    assert signals(again) == {Signal.NEW_COUNTRY, Signal.HIGH_RISK, Signal.OFF_HOURS}
    assert again.extension_score == 58  # 55 decayed over four half-lives, plus 55
    assert again.response is Response.NONE
    assert not again.refuse


def pinned() -> Detector:
    """An extension at PIN level since the night; its score has long decayed by morning."""
    d = detector()
    assert d.assess(call(NIGHT, NG, high_risk=True)).response is Response.NOTIFY  # 55
    assert d.assess(call(NIGHT + 1, DE_NEW_RANGE)).response is Response.PIN  # +20
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
    d = pinned()  # 75 at NIGHT + 1
    d.pin_given(T, "1001", NIGHT + 10)
    assert d.level(T, "1001") is Response.NOTIFY  # the incident stays open
    result = d.assess(call(NIGHT + 20, DE))  # off hours: the score back at notify_at, plus 10
    assert (result.response, result.refuse, result.pin) == (Response.NONE, False, False)
    assert result.extension_score == S.notify_at + WEIGHTS[Signal.OFF_HOURS]
    d.pin_given(T, "1002", NIGHT + 30)  # an extension the detector never saw: nothing to do
    assert d.level(T, "1002") is Response.NONE


def test_the_call_that_asked_for_the_pin_goes_through_once_the_pin_is_given() -> None:
    d = detector()
    assert d.assess(call(OFFICE, FR, high_risk=True)).response is Response.NOTIFY  # 45
    asked = d.assess(call(OFFICE + 60, DE, high_risk=True))  # a premium number: +30
    assert (asked.response, asked.pin) == (Response.PIN, True)
    d.pin_given(T, "1001", OFFICE + 90)
    retried = d.assess(call(OFFICE + 120, DE, high_risk=True))
    assert not retried.refuse


def contain(d: Detector, at: float, *, ext: str = "1001", number: str = NG) -> Assessment:
    """Someone else on the phone: numbers abroad probed (25), then a new, premium, dear
    destination at night (70): contained at once."""
    probe(d, at, ext=ext)
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
    destination = {Signal.NEW_COUNTRY, Signal.HIGH_RISK, Signal.HIGH_COST, Signal.OFF_HOURS}
    assert signals(contained) == destination
    assert contained.extension_score == points(Signal.REFUSED_ATTEMPTS, *destination)
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
    registered(d, PHONE, PHONE_SINCE)
    # from a network the phone never used: behaviour, so the tenant's score rises too
    results = [
        d.assess(call(LATE + i, n, price="3.00", high_risk=True, source=ELSEWHERE))
        for i, n in enumerate([NG, NG_OTHER_RANGE, FR, "+33612345678", SN])
    ]
    assert results[-1].tenant_score >= S.tenant_contain_at
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
        assert d.assess(call(NIGHT, NG, high_risk=True)).response is Response.NOTIFY
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
    result = d.assess(call(NIGHT, NG, high_risk=True))  # 55: notify-worthy
    assert (result.response, result.refuse) == (response, refuse)
    assert d.level(T, "1001") is max(held, Response.NOTIFY)


def test_holding_the_tenants_containment_refuses_every_extensions_international_calls() -> None:
    d = detector()
    d.hold(T, None, Response.CONTAIN)
    assert d.assess(call(OFFICE, DE, ext="1004")).refuse
    assert not d.assess(call(OFFICE, US, ext="1004")).refuse
    assert contain(d, LATE).refuse


# -- the tenant's own score ---------------------------------------------------------------------


def test_the_tenant_adds_up_what_its_extensions_do() -> None:
    d = detector()
    exts = [f"10{i:02d}" for i in range(1, 7)]
    for ext in exts:
        registered(d, PHONE, PHONE_SINCE, ext=ext)
    # Each phone, a minute apart, calls Berlin at night from a network it never used: 30
    # each, no incident for any one of them, but the tenant's score adds up.
    results = [
        d.assess(call(LATE + i * 60, DE, ext=ext, source=ELSEWHERE)) for i, ext in enumerate(exts)
    ]
    assert all(r.extension_score < S.notify_at for r in results)
    assert [(r.response, r.scope) for r in results] == [
        (Response.NONE, Scope.EXTENSION),
        (Response.NONE, Scope.EXTENSION),
        (Response.NOTIFY, Scope.TENANT),  # past tenant_notify_at
        (Response.NONE, Scope.EXTENSION),
        (Response.NONE, Scope.EXTENSION),
        (Response.CONTAIN, Scope.TENANT),  # past tenant_contain_at
    ]
    assert results[2].tenant_score >= S.tenant_notify_at > results[1].tenant_score
    assert results[5].tenant_score >= S.tenant_contain_at > results[4].tenant_score
    assert d.assess(call(NEXT_MORNING, GB, ext="1001")).refuse


def test_the_tenant_does_not_add_up_where_its_extensions_call() -> None:
    d = detector()
    # Six phones call dear new ranges abroad within minutes: each is noted, none is the
    # tenant's incident, since many users calling somewhere new is the tenant's business.
    results = [
        d.assess(call(OFFICE + i * 60, f"+4989{i}55000", ext=f"10{i:02d}", price="0.40"))
        for i in range(6)
    ]
    assert all(signals(r) == {Signal.NEW_RANGE, Signal.HIGH_COST} for r in results)
    assert [r.tenant_score for r in results] == [0] * 6
    assert all(r.response is Response.NONE for r in results)


# -- decay --------------------------------------------------------------------------------------


def test_a_score_halves_every_half_hour() -> None:
    d = detector()
    first = points(Signal.NEW_COUNTRY, Signal.HIGH_COST, Signal.OFF_HOURS)
    assert d.assess(call(NIGHT, NG, price="0.40")).extension_score == first  # 40
    assert d.assess(call(NIGHT + 1800, US)).extension_score == first / 2
    assert d.assess(call(NIGHT + HOUR, US)).extension_score == first / 4
    small = d.assess(call(NIGHT + HOUR + 1, FR))  # +25: 35, far from PIN at 60
    assert (small.response, small.refuse) == (Response.NONE, False)


@pytest.mark.parametrize(("gap", "response"), [(60.0, Response.NOTIFY), (HOUR, Response.NONE)])
def test_two_small_hits_notify_only_when_close_together(gap: float, response: Response) -> None:
    d = detector()
    new_at_night = points(Signal.NEW_COUNTRY, Signal.OFF_HOURS)  # 25
    assert d.assess(call(NIGHT, FR)).score == new_at_night
    second = d.assess(call(NIGHT + gap, NG))  # another new country at night
    assert second.score == new_at_night
    assert second.response is response


# -- the watch over calls in progress -----------------------------------------------------------


def incident() -> tuple[Detector, dict[str, OutboundAttempt]]:
    """An incident opened on behaviour: numbers abroad probed (25), then a dear call to a new
    country (30): 55. In progress: that call, a cheap call to another new country (watched,
    though it scores nothing), Berlin (its usual) and a local call."""
    d = detector()
    probe(d, OFFICE)
    ng = call(OFFICE, NG, price="0.40", key="ng")
    assert d.assess(ng).response is Response.NOTIFY
    calls = [
        call(OFFICE + 4, FR, price="0.10", key="fr"),
        call(OFFICE + 5, DE, key="de"),
        call(OFFICE + 6, US, key="us"),
    ]
    for attempt in calls:
        assert not d.assess(attempt).hits
    return d, {a.call_key: a for a in [ng, *calls]}


@pytest.mark.parametrize(
    ("costs", "contain"),
    [
        ({"ng": "2.00"}, True),
        ({"ng": "1.99"}, False),
        ({"ng": "1.20", "fr": "0.80"}, True),  # somewhere new, though cheap
        ({"ng": "1.99", "de": "5.00"}, False),  # its usual Berlin is not the incident's
        ({"ng": "1.99", "us": "5.00"}, False),  # domestic spend is not counted
    ],
)
def test_spend_in_an_open_incident_up_to_the_cap_contains(
    costs: dict[str, str], contain: bool
) -> None:
    d, calls = incident()
    now = running(*((calls[k], c) for k, c in costs.items()))
    out = d.watch(OFFICE + 600, now)
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
    assert set(result.end_calls) == {"ng", "fr", "de"}
    assert d.watch(OFFICE + 601, now) == []


@pytest.mark.parametrize(("ended", "contain"), [("fr", True), ("de", False)])
def test_what_ended_calls_cost_in_the_incident_counts_toward_the_cap(
    ended: str, contain: bool
) -> None:
    d, calls = incident()
    end(d, calls[ended], after=60, cost="1.50")
    out = d.watch(OFFICE + 120, running((calls["ng"], "0.50")))
    assert [r.response for r in out] == ([Response.CONTAIN] if contain else [])
    if contain:
        assert out[0].end_calls == ("ng", "de")


@pytest.mark.parametrize(
    ("probed_at", "capped"),
    [
        (None, False),  # an incident on where the call goes alone
        (OFFICE - 50 * 60, True),  # behaviour in the hour before it opened
        (OFFICE - 70 * 60, False),  # longer before
        (OFFICE + 300, True),  # behaviour since
    ],
)
def test_the_spend_cap_cuts_calls_only_after_behaviour(
    probed_at: float | None, capped: bool
) -> None:
    d = detector()
    if probed_at is not None and probed_at < OFFICE:
        probe(d, probed_at)
    ng = call(OFFICE, NG, high_risk=True, key="ng")  # a premium number in a new country
    assert d.assess(ng).response is Response.NOTIFY
    if probed_at is not None and probed_at > OFFICE:
        probe(d, probed_at)
    out = d.watch(OFFICE + 600, running((ng, "2.50")))
    assert [signals(r) for r in out] == ([{Signal.SPEND_IN_INCIDENT}] if capped else [])


def test_a_call_in_progress_when_the_incident_opens_counts_from_then() -> None:
    d = detector()
    ng = call(OFFICE, NG, price="0.40", key="ng")
    assert d.assess(ng).score == points(Signal.NEW_COUNTRY, Signal.HIGH_COST)  # 30
    assert d.watch(OFFICE + 600, running((ng, "1.50"))) == []
    assert probe(d, OFFICE + 660).response is Response.NOTIFY  # the incident opens
    assert d.watch(OFFICE + 700, running((ng, "3.00"))) == []  # 1.50 since it opened
    [result] = d.watch(OFFICE + 800, running((ng, "3.60")))  # 2.10 since
    assert signals(result) == {Signal.SPEND_IN_INCIDENT}
    assert "2.10" in result.explain()
    assert (result.response, result.end_calls) == (Response.CONTAIN, ("ng",))


def test_an_ended_call_counts_what_it_cost_since_the_incident_opened() -> None:
    d = detector()
    ng = call(OFFICE, NG, price="0.40", key="ng")
    d.assess(ng)
    d.watch(OFFICE + 600, running((ng, "1.50")))
    probe(d, OFFICE + 660)  # the incident opens
    end(d, ng, after=720, cost="3.40")  # 1.90 of it since
    fr = call(OFFICE + 730, FR, price="0.10", key="fr")
    d.assess(fr)
    assert d.watch(OFFICE + 740, running((fr, "0.09"))) == []
    assert [r.response for r in d.watch(OFFICE + 750, running((fr, "0.10")))] == [Response.CONTAIN]


def test_without_an_incident_the_cap_does_not_apply() -> None:
    d = detector()
    fr = call(OFFICE, FR, price="0.10")  # somewhere new, cheap: watched, scores nothing
    assert not d.assess(fr).hits
    assert d.watch(OFFICE + 600, running((fr, "2.50"))) == []


def test_the_spend_cap_applies_to_a_held_incident_once_the_extension_behaves_oddly() -> None:
    d = detector()
    d.hold(T, "1001", Response.NOTIFY)
    fr = call(OFFICE, FR, price="0.10")
    d.assess(fr)
    probe(d, OFFICE + 60)
    out = d.watch(OFFICE + 600, running((fr, "2.50")))
    assert [r.response for r in out] == [Response.CONTAIN]


def spend_morning(
    d: Detector, ended_costs: Iterable[str], *, to_london: bool = False
) -> OutboundAttempt:
    """Cheap calls in the morning, each somewhere the tenant never called (or, ``to_london``,
    to London, its usual), each ended with its cost; then one more somewhere new, running."""
    numbers = iter([f"+331{i}4556677" for i in range(10)])
    for i, cost in enumerate(ended_costs):
        number = GB if to_london else next(numbers)
        attempt = call(OFFICE - 3 * HOUR + i * 600, number, price="0.10")
        assert not d.assess(attempt).hits
        end(d, attempt, after=300, cost=cost)
    last = call(OFFICE, next(numbers), price="0.10")
    d.assess(last)
    return last


def three_days_of_london() -> Baseline:
    """Three days of history: it knows London, and expects no spend yet."""
    return Baseline.learn(
        [PastCall(at=OFFICE - 2 * DAY, number=GB, country="GB")],
        timezone=NY,
        since=OFFICE - 3 * DAY,
        now=OFFICE,
    )


def four_weeks_of_spend(usual: Decimal) -> Baseline:
    since = ny(2026, 2, 4)  # Wednesdays, four weeks before
    return Baseline.learn(
        [
            PastCall(at=since + w * WEEK + 8 * HOUR, number=GB, country="GB", cost=usual)
            for w in range(4)
        ],
        timezone=NY,
        since=since,
        now=since + 4 * WEEK,
    )


@pytest.mark.parametrize(
    ("usual_spend", "to_london", "now", "expected"),
    [
        # 14.50 ended this morning, and what the calls in progress cost now
        (None, False, {"new": "0.60"}, True),  # 15.10 somewhere new passes the 15.00 floor
        (None, False, {"new": "0.49"}, False),  # 14.99 does not
        (Decimal("4.00"), False, {"new": "0.60"}, False),  # 4.00 usually: a 20.00 floor
        (None, True, {"new": "0.60"}, False),  # the 14.50 went to London, its usual
        (None, False, {"new": "0.10", "london": "0.50"}, False),  # London's 0.50 not counted
    ],
)
def test_suspect_spend_far_above_the_baseline_raises_spend_velocity_once(
    usual_spend: Decimal | None, to_london: bool, now: dict[str, str], expected: bool
) -> None:
    if usual_spend is None:
        d = detector(three_days_of_london())
    else:
        d = detector(four_weeks_of_spend(usual_spend))
    calls = {"new": spend_morning(d, ["5.00", "5.00", "4.50"], to_london=to_london)}
    calls["london"] = call(OFFICE + 1, GB, price="0.10")
    d.assess(calls["london"])
    out = d.watch(OFFICE + 60, running(*((calls[k], c) for k, c in now.items())))
    assert [signals(r) for r in out] == ([{Signal.SPEND_VELOCITY}] if expected else [])
    if expected:
        assert out[0].extension_score == WEIGHTS[Signal.SPEND_VELOCITY]
        assert out[0].tenant_score == 0  # spending fast is a circumstance, not behaviour
        # not again on the next tick
        assert d.watch(OFFICE + 61, running((calls["new"], "0.61"))) == []


# -- a call let out on the PIN ------------------------------------------------------------------


def admitted() -> tuple[Detector, OutboundAttempt]:
    """Probing (25), then a premium number in a new country (45): the PIN is asked; the user
    gives it, and the call goes out on it."""
    d = detector()
    probe(d, OFFICE)
    asked = call(OFFICE, NG, high_risk=True, key="ng")
    result = d.assess(asked)
    assert (result.response, result.pin) == (Response.PIN, True)
    d.pin_given(T, "1001", OFFICE + 30)
    let_out = replace(asked, at=OFFICE + 30)
    d.admit(let_out)
    return d, let_out


def test_a_call_let_out_on_the_pin_is_not_scored_again() -> None:
    d, _ = admitted()
    after = d.assess(call(OFFICE + 30, US))
    assert after.extension_score == S.notify_at  # where the PIN left it
    assert after.response is Response.NONE
    assert d.level(T, "1001") is Response.NOTIFY


def test_a_later_containment_ends_a_call_let_out_on_the_pin() -> None:
    d, let_out = admitted()
    contained = d.assess(call(OFFICE + 60, SN, price="0.40", high_risk=True))  # +60
    assert contained.response is Response.CONTAIN
    assert contained.end_calls == (let_out.call_key,)


def test_what_a_call_let_out_on_the_pin_costs_counts_toward_the_incident_cap() -> None:
    d, let_out = admitted()
    assert d.watch(OFFICE + 300, running((let_out, "1.99"))) == []
    [result] = d.watch(OFFICE + 301, running((let_out, "2.00")))
    assert signals(result) == {Signal.SPEND_IN_INCIDENT}
    assert result.end_calls == (let_out.call_key,)


# -- quiet incidents close ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("later", "closed"), [(S.incident_quiet - 60, False), (S.incident_quiet, True)]
)
def test_a_notified_incident_that_stays_quiet_for_a_day_closes(later: float, closed: bool) -> None:
    d = detector()
    assert d.assess(call(OFFICE, NG, high_risk=True)).response is Response.NOTIFY
    d.assess(call(OFFICE + HOUR, DE))  # an ordinary call scores nothing: the incident is quiet
    assert d.expire(OFFICE + later) == ([(T, "1001")] if closed else [])
    assert d.level(T, "1001") is (Response.NONE if closed else Response.NOTIFY)


def test_a_scoring_event_keeps_the_incident_open_for_another_day() -> None:
    d = detector()
    assert d.assess(call(OFFICE, NG, high_risk=True)).response is Response.NOTIFY
    assert d.assess(call(OFFICE + 12 * HOUR, FR)).hits  # a new country, later that day
    assert d.expire(OFFICE + DAY) == []
    assert d.expire(OFFICE + 12 * HOUR + DAY) == [(T, "1001")]
    assert d.expire(OFFICE + 12 * HOUR + DAY + 60) == []  # closed once


def test_after_a_quiet_close_a_new_alarm_is_a_new_incident() -> None:
    d = detector()
    assert d.assess(call(OFFICE, NG, high_risk=True)).response is Response.NOTIFY
    assert d.expire(OFFICE + DAY) == [(T, "1001")]
    again = d.assess(call(OFFICE + DAY + 60, FR, high_risk=True))
    assert (again.response, again.scope) == (Response.NOTIFY, Scope.EXTENSION)


def test_a_quiet_close_starts_the_incidents_spend_afresh() -> None:
    d = detector()
    probe(d, OFFICE)
    fr = call(OFFICE, FR, price="0.40", key="fr")
    assert d.assess(fr).response is Response.NOTIFY  # 55, on behaviour
    end(d, fr, after=240, cost="1.50")  # counts against this incident's cap
    assert d.expire(OFFICE + DAY) == [(T, "1001")]
    opened_at = OFFICE + DAY + HOUR
    probe(d, opened_at)
    ng = call(opened_at, NG, price="0.40", key="ng")
    assert d.assess(ng).response is Response.NOTIFY  # a new incident
    assert d.watch(opened_at + 60, running((ng, "0.60"))) == []  # 1.50 + 0.60 would cross it
    assert [r.response for r in d.watch(opened_at + 120, running((ng, "2.00")))] == [
        Response.CONTAIN
    ]


@pytest.mark.parametrize("level", [Response.PIN, Response.CONTAIN])
def test_an_incident_that_holds_calls_waits_for_the_pin_or_an_admin(level: Response) -> None:
    d = detector()
    d.assess(call(OFFICE, NG, high_risk=True, key="ng"))
    d.hold(T, "1001", level)
    assert d.expire(OFFICE + 3 * DAY) == []
    assert d.level(T, "1001") is level
    assert d.assess(call(OFFICE + 3 * DAY, GB)).refuse


def test_an_incident_whose_pin_was_given_closes_once_quiet() -> None:
    d = pinned()  # its last signal at NIGHT + 1
    assert d.expire(NIGHT + 2 * DAY) == []  # at PIN level it waits
    d.pin_given(T, "1001", NIGHT + 2 * DAY)
    assert d.expire(NIGHT + 2 * DAY + 60) == [(T, "1001")]


def test_the_tenants_notice_of_a_wave_closes_once_quiet() -> None:
    d = detector()
    wave(d, OFFICE)
    blocked = d.assess(call(OFFICE + 600, CALLBACK))
    assert (blocked.response, blocked.scope) == (Response.NOTIFY, Scope.TENANT)
    assert d.expire(OFFICE + 600 + DAY - 60) == []
    assert d.expire(OFFICE + 600 + DAY) == [(T, None)]
    # the wave's range is still blocked, and a call back now tells the tenant again
    again = d.assess(call(OFFICE + 600 + DAY + 60, CALLBACK))
    assert (again.blocked, again.response) == (True, Response.NOTIFY)


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
    last = spend_morning(d, ["5.00", "5.00", "5.00"])
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
    for ext in ("1001", "1002"):
        registered(d, PHONE, PHONE_SINCE, ext=ext)
    odd = d.assess(call(LATE - 600, DE, ext="1002", source=ELSEWHERE))  # a new network: 30
    assert odd.tenant_score == points(Signal.NEW_NETWORK, Signal.OFF_HOURS)
    # 1001 from a new network too, to a new, premium, dear destination: 90
    result = d.assess(call(LATE, NG, price="0.40", high_risk=True, source=ELSEWHERE))
    assert result.tenant_score >= S.tenant_notify_at  # the tenant's notice is due as well
    assert result.extension_score >= S.contain_at
    assert (result.response, result.scope) == (Response.CONTAIN, Scope.EXTENSION)
    assert result.refuse


def test_a_destination_refused_to_a_contained_extension_stays_suspect_for_the_others() -> None:
    d = detector()
    assert contain(d, LATE).response is Response.CONTAIN
    assert d.assess(call(LATE + 60, SN)).refuse  # refused: it was never called
    other = d.assess(call(LATE + HOUR, SN, ext="1002"))
    assert Signal.RANGE_IN_INCIDENT in signals(other)


# -- explanation and robustness -----------------------------------------------------------------


def test_explain_is_one_line_with_the_score_and_each_signal() -> None:
    result = detector().assess(call(NIGHT, NG, price="0.40"))
    line = result.explain()
    assert "\n" not in line
    # where the call goes is the extension's score; the tenant adds up behaviour only
    assert line.startswith("score 40 (extension 40, tenant 0): ")
    for name in (Signal.NEW_COUNTRY, Signal.HIGH_COST, Signal.OFF_HOURS):
        assert f"{name.value} +{WEIGHTS[name]}" in line
    assert "NG" in line
    assert "0.40" in line
    assert detector().assess(call(OFFICE, DE)).explain() == "score 0 (extension 0, tenant 0)"


def test_explain_of_the_watch_and_of_a_registration() -> None:
    d, calls = incident()
    [result] = d.watch(OFFICE + 600, running((calls["ng"], "2.00")))
    assert f"spend_in_incident +{WEIGHTS[Signal.SPEND_IN_INCIDENT]}" in result.explain()
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
    d.admit(replace(call(NIGHT + 2, NG, ext="1003"), **changes))
    for caller in ("", "+", "2217710001", "+2217710001"):
        d.inbound(
            InboundCall(
                tenant_id=T,
                caller=caller,
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
    d.expire(NIGHT)
    d.release(99)
    d.pin_given(99, "1001", NIGHT)
    assert d.level(99, "1001") is Response.NONE


def test_an_unknown_time_zone_scores_on_utc() -> None:
    at_utc_noon = datetime(2026, 3, 4, 12, tzinfo=ZoneInfo("UTC")).timestamp()
    attempt = replace(call(at_utc_noon, DE), timezone="Mars/Olympus")
    assert Signal.OFF_HOURS not in signals(Detector().assess(attempt))
    attempt = replace(call(at_utc_noon - 9 * HOUR, DE), timezone="Mars/Olympus")
    assert Signal.OFF_HOURS in signals(Detector().assess(attempt))


# -- the PIN decides: a traveller's incident, numbers tried without the PIN, wrong PINs ---------


def travelling() -> tuple[Detector, OutboundAttempt]:
    """1001's phone, at home on PHONE for a week, calls a new dear country from a hotel
    network: new network (20), new country (15), dear (15): 50, an incident to tell."""
    d = detector()
    registered(d, PHONE, PHONE_SINCE)
    first = call(OFFICE, NG, price="0.40", source=ELSEWHERE, key="ng")
    result = d.assess(first)
    assert signals(result) == {Signal.NEW_NETWORK, Signal.NEW_COUNTRY, Signal.HIGH_COST}
    assert result.response is Response.NOTIFY
    return d, first


def test_a_travellers_incident_at_the_spend_cap_ends_its_call_and_asks_the_pin() -> None:
    d, first = travelling()
    assert d.watch(OFFICE + 290, running((first, "1.99"))) == []
    [cut] = d.watch(OFFICE + 300, running((first, "2.00")))
    assert signals(cut) == {Signal.SPEND_IN_INCIDENT}
    assert (cut.response, cut.scope, cut.ext, cut.end_calls) == (
        Response.PIN,
        Scope.EXTENSION,
        "1001",
        ("ng",),
    )
    assert "PIN asked" in cut.explain()
    assert d.level(T, "1001") is Response.PIN  # not contained: the PIN decides
    # The BYE is on its way: the next watch, with the call still up, does nothing more.
    assert d.watch(OFFICE + 301, running((first, "2.01"))) == []
    end(d, first, after=302, cost="2.01")
    # The user dials the same number again: asked for the PIN, not scored a second time.
    redial = d.assess(call(OFFICE + 330, NG, price="0.40", source=ELSEWHERE, key="again"))
    assert (redial.refuse, redial.pin, redial.response, redial.hits) == (
        True,
        True,
        Response.NONE,
        (),
    )
    # ... gives it, and talks on: the call let out on the PIN is not the incident's.
    d.pin_given(T, "1001", OFFICE + 340)
    let_out = call(OFFICE + 340, NG, price="0.40", source=ELSEWHERE, key="on-pin")
    d.admit(let_out)
    assert d.watch(OFFICE + 2000, running((let_out, "11.00"))) == []
    assert d.level(T, "1001") is Response.NOTIFY


def test_each_caps_worth_of_a_travellers_incident_asks_the_pin_again() -> None:
    d, first = travelling()
    [_] = d.watch(OFFICE + 300, running((first, "2.00")))
    end(d, first, after=300, cost="2.00")
    d.pin_given(T, "1001", OFFICE + 400)
    later = OFFICE + 400 + S.pin_trust + 60  # the PIN's trust has lapsed
    again = call(later, NG, price="0.40", source=ELSEWHERE, key="ng-later")
    assert not d.assess(again).refuse
    assert d.watch(later + 200, running((again, "1.99"))) == []  # it counts afresh
    [cut] = d.watch(later + 210, running((again, "2.00")))
    assert (cut.response, cut.end_calls) == (Response.PIN, ("ng-later",))
    assert d.level(T, "1001") is Response.PIN


def test_an_incident_on_more_than_a_new_network_is_contained_at_the_cap() -> None:
    d = detector()
    registered(d, PHONE, PHONE_SINCE)
    probe(d, OFFICE, ext="1001")  # numbers abroad probed: behaviour beyond the new network
    first = call(OFFICE, NG, price="0.40", source=ELSEWHERE, key="ng")
    assert d.assess(first).response is Response.PIN  # 25 + 50
    d.pin_given(T, "1001", OFFICE + 10)  # whoever it is, knows the PIN
    d.admit(replace(first, at=OFFICE + 10))
    [result] = d.watch(OFFICE + 300, running((first, "2.00")))
    assert (result.response, result.end_calls) == (Response.CONTAIN, ("ng",))


@pytest.mark.parametrize(
    ("numbers", "contained"),
    [
        ([DE, GB, FR], True),  # three numbers abroad, each refused for the PIN
        ([DE, DE, DE], False),  # one number redialled: its user, unsure of the PIN
        ([DE, GB], False),
    ],
)
def test_numbers_abroad_tried_without_the_pin_contain(numbers: list[str], contained: bool) -> None:
    d = pinned()
    results = [d.assess(call(OFFICE + 600 * i, n)) for i, n in enumerate(numbers)]
    assert all(r.refuse for r in results)
    assert (d.level(T, "1001") is Response.CONTAIN) is contained
    if contained:
        assert Signal.PIN_NOT_GIVEN in signals(results[-1])
        assert results[-1].response is Response.CONTAIN
        assert "3 numbers abroad tried without the PIN" in results[-1].explain()


def test_the_pin_given_clears_the_numbers_tried_without_it() -> None:
    d = pinned()
    for i, number in enumerate([DE, GB]):
        assert d.assess(call(OFFICE + i, number)).pin
    d.pin_given(T, "1001", OFFICE + 10)
    d.hold(T, "1001", Response.PIN)  # asked again later (another node's spread, say)
    assert d.assess(call(OFFICE + 20, FR)).response is not Response.CONTAIN


@pytest.mark.parametrize(("wrong", "contained"), [(2, False), (3, True)])
def test_a_third_wrong_pin_contains(wrong: int, contained: bool) -> None:
    d = pinned()
    attempt = call(OFFICE, DE)
    results = [d.pin_wrong(replace(attempt, at=OFFICE + i)) for i in range(wrong)]
    assert not any(r.refuse for r in results)  # the router refuses it: pin_wrong
    assert (results[-1].response is Response.CONTAIN) is contained
    assert (d.level(T, "1001") is Response.CONTAIN) is contained
    if contained:
        assert signals(results[-1]) == {Signal.PIN_WRONG}


def test_a_right_pin_forgives_the_wrong_ones_before_it() -> None:
    d = pinned()
    attempt = call(OFFICE, DE)
    d.pin_wrong(attempt)
    d.pin_wrong(attempt)
    d.pin_given(T, "1001", OFFICE + 10)
    d.hold(T, "1001", Response.PIN)
    assert d.pin_wrong(replace(attempt, at=OFFICE + 20)).response is Response.NONE


def test_a_tenant_that_works_nights_is_held_to_the_days_spread_rule() -> None:
    """At 03:00 on a Wednesday the night shift calls out: new cheap destinations from three
    phones are its work, as by day; the same at 03:00 on a quiet Thursday are a spread."""
    shift = detector(night_baseline())
    results = [
        shift.assess(call(NIGHT + 60 * i, FR, ext=f"100{i + 1}", price="0.10")) for i in range(3)
    ]
    assert all(Signal.SPREAD not in signals(r) for r in results)
    quiet = detector(night_baseline())
    thursday = NIGHT + DAY
    results = [
        quiet.assess(call(thursday + 60 * i, FR, ext=f"100{i + 1}", price="0.10")) for i in range(3)
    ]
    assert Signal.SPREAD in signals(results[-1])
