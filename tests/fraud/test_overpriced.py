"""Numbers priced far above what a minute to their country usually costs: where revenue-share
fraud terminates. They ask the PIN before the first call, make a spread of one country, are
never learned from one quiet call, and one short ring from them is wangiri bait."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from tests.fraud.test_detect import (
    DAY,
    HOUR,
    NY,
    OFFICE,
    WEEK,
    WEIGHTS,
    T,
    call,
    detector,
    end,
    ny,
    ring,
    signals,
)

from ringfence.fraud import Baseline, DetectorSettings, PastCall, Response, Signal

DE = "+4930123456"  # fixed lines in Berlin, 0.02 a minute
DE_MOBILE = "+4915112345678"  # mobiles, 0.10 a minute
DE_HIGH_COST = "+4915599000111"  # a range on a high-cost network, priced 1.20
DE_HIGH_COST_2 = "+4915799000222"
NG = "+2348031234567"  # dear everywhere: the tenant calls it at 0.35 every week
JP = "+81312345678"  # a country the tenant never called


def priced_baseline() -> Baseline:
    """Four weeks of an office calling Berlin's fixed lines and mobiles, and Lagos, each call
    five minutes long."""
    since = ny(2026, 2, 2)
    calls = []
    for week in range(4):
        for weekday in range(5):
            day = since + week * WEEK + weekday * DAY
            calls += [
                PastCall(
                    at=day + 10 * HOUR, number=DE, country="DE", cost=Decimal("0.10"), duration=300
                ),
                PastCall(
                    at=day + 11 * HOUR,
                    number=DE_MOBILE,
                    country="DE",
                    cost=Decimal("0.50"),
                    duration=300,
                ),
                PastCall(
                    at=day + 15 * HOUR, number=NG, country="NG", cost=Decimal("1.75"), duration=300
                ),
            ]
    return Baseline.learn(calls, timezone=NY, since=since, now=since + 4 * WEEK)


def test_the_baseline_keeps_the_dearest_minute_paid_per_country() -> None:
    baseline = priced_baseline()
    assert baseline.dearest("DE") == Decimal("0.10")
    assert baseline.dearest("NG") == Decimal("0.35")
    assert baseline.dearest("JP") is None


def test_a_call_too_short_to_tell_its_price_teaches_none() -> None:
    since = ny(2026, 2, 2)
    short = PastCall(at=since + HOUR, number=DE, country="DE", cost=Decimal("0.50"), duration=10)
    baseline = Baseline.learn([short], timezone=NY, since=since, now=since + WEEK)
    assert baseline.knows_country("DE")
    assert baseline.dearest("DE") is None


@pytest.mark.parametrize(
    ("number", "price", "country_price", "overpriced"),
    [
        (DE_HIGH_COST, "1.20", "0.02", True),  # 12 times the dearest DE minute paid
        (DE_HIGH_COST, "0.25", "0.02", True),  # 2.5 times
        (DE_HIGH_COST, "0.19", "0.02", False),  # 1.9 times, and not dear
        (DE_MOBILE, "0.10", "0.02", False),  # what it pays every day
        (NG, "0.35", "0.30", False),  # dear, but its usual
        ("+2349031234567", "0.60", "0.30", False),  # 1.7 times its dearest NG minute
        (JP, "1.20", "0.05", True),  # a country never called: the rate table's 0.05
        (JP, "0.20", "0.05", False),  # 4 times, but not dear
        (JP, "1.20", None, False),  # nothing to compare with
    ],
)
def test_a_dear_number_far_above_the_usual_for_its_country_is_overpriced(
    number: str, price: str, country_price: str | None, overpriced: bool
) -> None:
    d = detector(priced_baseline())
    attempt = call(OFFICE, number, price=price)
    if country_price is not None:
        attempt = replace(attempt, country_price=Decimal(country_price))
    assert (Signal.OVERPRICED in signals(d.assess(attempt))) is overpriced


def test_the_first_call_to_an_overpriced_range_asks_the_pin_before_it_goes_out() -> None:
    d = detector(priced_baseline())
    result = d.assess(call(OFFICE, DE_HIGH_COST, price="1.20"))
    assert signals(result) == {Signal.NEW_RANGE, Signal.HIGH_COST, Signal.OVERPRICED}
    assert (result.response, result.refuse, result.pin) == (Response.PIN, True, True)
    assert "where a minute usually costs 0.1000" in result.explain()


def test_two_extensions_calling_overpriced_ranges_of_one_country_make_a_spread() -> None:
    """Several users calling one new country is a new market; called at ten times its price,
    it is not."""
    d = detector(priced_baseline())
    first = d.assess(call(OFFICE, DE_HIGH_COST, ext="1001", price="1.20"))
    assert Signal.SPREAD not in signals(first)
    second = d.assess(call(OFFICE + 300, DE_HIGH_COST_2, ext="1002", price="1.40"))
    assert Signal.SPREAD in signals(second)
    assert second.refuse


def test_a_quiet_call_to_an_overpriced_range_does_not_make_it_the_tenants_own() -> None:
    """Even where its weight lets the call out unasked, one quiet call there teaches nothing:
    a careful attacker's first call would make the next ones look like the tenant's own."""
    settings = DetectorSettings(weights={**WEIGHTS, Signal.OVERPRICED: 0})
    d = detector(priced_baseline(), settings)
    first = call(OFFICE, DE_HIGH_COST, price="1.20")
    assert not d.assess(first).refuse
    end(d, first, after=60, cost="1.20")
    baseline = d.baseline(T)
    assert baseline is not None
    assert not baseline.knows_range(DE_HIGH_COST)
    assert baseline.dearest("DE") == Decimal("0.10")
    again = d.assess(call(OFFICE + DAY, DE_HIGH_COST, ext="1002", price="1.20"))
    assert {Signal.NEW_RANGE, Signal.OVERPRICED} <= signals(again)


def test_a_quiet_call_to_an_ordinary_range_is_learned_with_its_price() -> None:
    d = detector(priced_baseline())
    first = call(OFFICE, "+4917012345678", price="0.12")
    d.assess(first)
    end(d, first, after=300, cost="0.60")
    baseline = d.baseline(T)
    assert baseline is not None
    assert baseline.knows_range("+4917012345678")
    assert baseline.dearest("DE") == Decimal("0.12")


@pytest.mark.parametrize(
    ("price", "blocked"),
    [("1.20", True), ("0.10", False)],
)
def test_one_short_ring_from_an_overpriced_range_makes_its_call_back_refused(
    price: str, blocked: bool
) -> None:
    """No wave needed: nobody rings from a high-cost range for two seconds and hangs up but to
    be called back. An ordinary mobile that rang once is just a missed call."""
    d = detector(priced_baseline())
    ring(d, "+4915599000999", OFFICE, country="DE")
    result = d.assess(call(OFFICE + 2 * HOUR, "+4915599000111", ext="1002", price=price))
    assert (result.blocked, result.refuse) == (blocked, blocked)
    assert (Signal.WANGIRI_CALLBACK in signals(result)) is blocked


def test_a_single_rings_block_lasts_over_a_long_weekend() -> None:
    d = detector(priced_baseline())
    friday_evening = ny(2026, 3, 6, 19)
    ring(d, "+4915599000999", friday_evening, country="DE")
    tuesday = friday_evening + 3 * DAY + 14 * HOUR  # after a holiday Monday
    assert d.assess(call(tuesday, "+4915599000111", price="1.20")).blocked
