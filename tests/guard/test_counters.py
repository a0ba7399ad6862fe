"""Window and Buckets: per-key counters that stay small whatever an attacker sends."""

from __future__ import annotations

import pytest

from ringfence.guard import Buckets, Window


def test_a_window_reaches_its_limit_when_the_events_fall_within_its_seconds() -> None:
    window = Window(limit=3, seconds=10.0)
    assert window.add("a", 0.0) is False
    assert window.add("a", 4.0) is False
    assert window.add("a", 10.0) is True
    assert window.count("a", 10.0) == 3


def test_a_window_does_not_reach_its_limit_when_the_events_are_spread_wider() -> None:
    window = Window(limit=3, seconds=10.0)
    results = [window.add("a", t) for t in (0.0, 6.0, 12.0, 18.0, 24.0)]
    assert results == [False, False, False, False, False]
    assert window.count("a", 24.0) == 2


def test_a_window_reaches_its_limit_again_once_the_events_bunch_up() -> None:
    window = Window(limit=3, seconds=10.0)
    for t in (0.0, 20.0, 40.0):
        assert window.add("a", t) is False
    assert window.add("a", 41.0) is False
    assert window.add("a", 42.0) is True


def test_a_window_counts_each_key_apart() -> None:
    window = Window(limit=2, seconds=10.0)
    assert window.add("a", 0.0) is False
    assert window.add("b", 1.0) is False
    assert window.add("a", 2.0) is True
    assert window.count("b", 2.0) == 1


def test_a_window_count_drops_events_older_than_its_seconds() -> None:
    window = Window(limit=5, seconds=10.0)
    for t in (0.0, 1.0, 2.0):
        window.add("a", t)
    assert window.count("a", 10.0) == 3
    assert window.count("a", 11.5) == 1
    assert window.count("a", 100.0) == 0
    assert window.count("never", 0.0) == 0


def test_a_cleared_key_starts_counting_again() -> None:
    window = Window(limit=2, seconds=10.0)
    window.add("a", 0.0)
    window.clear("a")
    assert window.count("a", 0.0) == 0
    assert window.add("a", 1.0) is False
    window.clear("missing")  # nothing to clear is fine


def test_a_window_forgets_the_least_recently_touched_key_past_max_keys() -> None:
    window = Window(limit=2, seconds=60.0, max_keys=2)
    window.add("a", 0.0)
    window.add("b", 1.0)
    window.add("a", 2.0)  # touches a: b is now the oldest
    window.add("c", 3.0)
    assert len(window) == 2
    assert window.count("b", 3.0) == 0
    assert window.count("a", 3.0) == 2
    assert window.count("c", 3.0) == 1


def test_a_window_holds_at_most_max_keys_whatever_arrives() -> None:
    window = Window(limit=5, seconds=60.0, max_keys=100)
    for i in range(10_000):
        window.add(f"198.18.{i // 256}.{i % 256}", float(i))
    assert len(window) == 100


@pytest.mark.parametrize(("limit", "seconds"), [(0, 10.0), (3, 0.0), (3, -1.0)])
def test_a_window_refuses_a_useless_shape(limit: int, seconds: float) -> None:
    with pytest.raises(ValueError, match="window"):
        Window(limit=limit, seconds=seconds)


def test_a_bucket_gives_its_burst_at_once_and_no_more() -> None:
    buckets = Buckets(rate=1.0, burst=3.0)
    assert [buckets.take("a", 0.0) for _ in range(5)] == [True, True, True, False, False]


@pytest.mark.parametrize(
    ("elapsed", "takes"),
    [(0.5, 1), (1.0, 2), (2.0, 4), (10.0, 10), (1_000.0, 10)],
)
def test_a_bucket_refills_at_its_rate_up_to_its_burst(elapsed: float, takes: int) -> None:
    buckets = Buckets(rate=2.0, burst=10.0)
    for _ in range(10):
        assert buckets.take("a", 0.0)
    granted = 0
    while buckets.take("a", elapsed):
        granted += 1
    assert granted == takes


def test_a_refused_take_takes_nothing() -> None:
    buckets = Buckets(rate=1.0, burst=3.0)
    assert buckets.take("a", 0.0, cost=2.0) is True
    assert buckets.take("a", 0.0, cost=2.0) is False  # one left: refused
    assert buckets.take("a", 0.0, cost=1.0) is True  # and the one is still there
    assert buckets.take("a", 0.0, cost=1.0) is False


def test_a_cost_above_the_burst_is_never_granted() -> None:
    buckets = Buckets(rate=1.0, burst=3.0)
    assert buckets.take("a", 0.0, cost=4.0) is False
    assert buckets.take("a", 1_000.0, cost=4.0) is False
    assert buckets.take("a", 1_000.0, cost=3.0) is True


def test_a_clock_going_backwards_does_not_drain_tokens() -> None:
    buckets = Buckets(rate=1.0, burst=3.0)
    assert buckets.take("a", 100.0) is True  # two left
    assert buckets.take("a", 40.0) is True  # sixty seconds back: still there
    assert buckets.take("a", 40.0) is True
    assert buckets.take("a", 40.0) is False


def test_a_clock_going_backwards_gives_no_tokens_twice() -> None:
    buckets = Buckets(rate=1.0, burst=3.0)
    for _ in range(3):
        buckets.take("a", 100.0)
    assert buckets.take("a", 50.0) is False
    assert buckets.take("a", 101.0) is True  # one second after the latest time seen
    assert buckets.take("a", 101.0) is False


def test_buckets_are_kept_per_key() -> None:
    buckets = Buckets(rate=1.0, burst=1.0)
    assert buckets.take("a", 0.0) is True
    assert buckets.take("a", 0.0) is False
    assert buckets.take("b", 0.0) is True


def test_buckets_forget_the_least_recently_touched_key_past_max_keys() -> None:
    buckets = Buckets(rate=0.001, burst=1.0, max_keys=2)
    buckets.take("a", 0.0)
    buckets.take("b", 0.0)
    buckets.take("a", 1.0)  # touches a: b is now the oldest
    buckets.take("c", 2.0)
    assert len(buckets) == 2
    assert buckets.take("a", 3.0) is False  # still remembered: still empty
    assert buckets.take("b", 3.0) is True  # forgotten: starts full again


def test_buckets_hold_at_most_max_keys_whatever_arrives() -> None:
    buckets = Buckets(rate=1.0, burst=5.0, max_keys=100)
    for i in range(10_000):
        buckets.take(f"198.18.{i // 256}.{i % 256}", float(i))
    assert len(buckets) == 100


@pytest.mark.parametrize(("rate", "burst"), [(0.0, 5.0), (-1.0, 5.0), (1.0, 0.5)])
def test_buckets_refuse_a_useless_shape(rate: float, burst: float) -> None:
    with pytest.raises(ValueError, match="bucket"):
        Buckets(rate=rate, burst=burst)
