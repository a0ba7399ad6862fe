"""The backoff schedule, which failures are retried, and the Deliverer in virtual time."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from ringfence.notify import (
    Deliverer,
    DeliveryError,
    DeliveryOutcome,
    RetryPolicy,
    http_is_transient,
    retry_after_seconds,
    smtp_is_transient,
)

POLICY = RetryPolicy()


def test_the_defaults_are_as_documented() -> None:
    documented = RetryPolicy(
        first_delay=2.0, factor=2.0, max_delay=300.0, max_attempts=8, jitter=0.1
    )
    assert documented == POLICY


def test_the_backoff_doubles_from_the_first_delay() -> None:
    assert [POLICY.delay(n, 0.5) for n in range(1, 8)] == [2, 4, 8, 16, 32, 64, 128]


def test_the_backoff_is_capped() -> None:
    assert POLICY.delay(9, 0.5) == 300.0
    assert POLICY.delay(10_000, 0.999) == 300.0
    assert all(POLICY.delay(n, 0.99) <= 300.0 for n in range(1, 50))


@pytest.mark.parametrize("attempt", [1, 3, 6])
@pytest.mark.parametrize("rand", [0.0, 0.25, 0.5, 0.75, 0.999999])
def test_jitter_stays_within_its_fraction(attempt: int, rand: float) -> None:
    base = 2.0 * 2 ** (attempt - 1)
    assert base * 0.9 <= POLICY.delay(attempt, rand) < base * 1.1


def test_jitter_spans_both_sides() -> None:
    assert POLICY.delay(1, 0.0) == pytest.approx(1.8)
    assert POLICY.delay(1, 0.999999) == pytest.approx(2.2, abs=1e-5)
    assert RetryPolicy(jitter=0.0).delay(1, 0.9) == 2.0


def test_it_gives_up_after_max_attempts_in_all() -> None:
    assert [POLICY.gives_up(n) for n in range(1, 10)] == [False] * 7 + [True] * 2
    assert RetryPolicy(max_attempts=1).gives_up(1)


def test_retry_after_is_a_floor_capped_at_max_delay() -> None:
    assert POLICY.delay(1, 0.5, retry_after=7) == 7.0
    assert POLICY.delay(5, 0.5, retry_after=7) == 32.0  # the backoff is already longer
    assert POLICY.delay(1, 0.5, retry_after=86_400) == 300.0
    assert POLICY.delay(1, 0.5, retry_after=None) == 2.0


@pytest.mark.parametrize(
    ("attempt", "rand"), [(0, 0.5), (-1, 0.5), (1, 1.0), (1, -0.1), (1, float("nan"))]
)
def test_a_delay_needs_a_retry_number_and_a_rand_in_range(attempt: int, rand: float) -> None:
    with pytest.raises(ValueError, match=r"retries count|rand must"):
        POLICY.delay(attempt, rand)


@pytest.mark.parametrize(
    "changes",
    [
        {"first_delay": 0.0},
        {"first_delay": 500.0},
        {"max_delay": float("inf")},
        {"factor": 0.5},
        {"max_attempts": 0},
        {"jitter": 1.0},
        {"jitter": -0.1},
    ],
)
def test_a_policy_that_makes_no_sense_is_refused(changes: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="retry policy"):
        RetryPolicy(**changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("status", "transient"),
    [
        (500, True),
        (502, True),
        (503, True),
        (504, True),
        (408, True),
        (429, True),
        (400, False),
        (401, False),
        (403, False),
        (404, False),
        (409, False),
        (410, False),
        (413, False),
        (422, False),
        (301, False),
        (302, False),
        (307, False),
    ],
)
def test_which_http_answers_are_retried(status: int, transient: bool) -> None:
    assert http_is_transient(status) is transient


@pytest.mark.parametrize(
    ("status", "value", "seconds"),
    [
        (429, "7", 7.0),
        (503, " 120 ", 120.0),
        (429, "0", 0.0),
        (500, "7", None),  # only 429 and 503 carry a meaningful Retry-After here
        (429, None, None),
        (429, "Wed, 21 Oct 2015 07:28:00 GMT", None),  # the date form is ignored
        (429, "-3", None),
        (429, "1.5", None),
        (429, "abc", None),
    ],
)
def test_a_numeric_retry_after_is_read(
    status: int, value: str | None, seconds: float | None
) -> None:
    assert retry_after_seconds(status, value) == seconds


@pytest.mark.parametrize(
    ("code", "transient"), [(421, True), (450, True), (451, True), (452, True), (500, False),
                            (550, False), (552, False), (554, False)]
)  # fmt: skip
def test_which_smtp_replies_are_retried(code: int, transient: bool) -> None:
    assert smtp_is_transient(code) is transient


# The Deliverer, with a scripted send and a sleep that only records.


class Script:
    """A send that fails with the given errors in turn, then succeeds."""

    def __init__(self, *errors: DeliveryError) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def __call__(self) -> None:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)


def run(
    send: Callable[[], Awaitable[None]], policy: RetryPolicy = POLICY
) -> tuple[DeliveryOutcome, list[float]]:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    deliverer = Deliverer(policy=policy, sleep=sleep, rand=lambda: 0.5)
    return asyncio.run(deliverer.deliver(send)), slept


def transient(retry_after: float | None = None) -> DeliveryError:
    return DeliveryError("503 busy", permanent=False, retry_after=retry_after)


def test_a_first_success_needs_no_wait() -> None:
    outcome, slept = run(Script())
    assert outcome == DeliveryOutcome(delivered=True, attempts=1, error=None)
    assert slept == []


def test_transient_failures_are_retried_with_backoff() -> None:
    send = Script(transient(), transient(), transient(retry_after=30))
    outcome, slept = run(send)
    assert outcome == DeliveryOutcome(delivered=True, attempts=4, error=None)
    assert slept == [2.0, 4.0, 30.0]
    assert send.calls == 4


def test_a_permanent_failure_is_not_retried() -> None:
    send = Script(DeliveryError("404 Not Found", permanent=True))
    outcome, slept = run(send)
    assert outcome == DeliveryOutcome(delivered=False, attempts=1, error="404 Not Found")
    assert slept == []
    assert send.calls == 1


def test_it_gives_up_after_max_attempts() -> None:
    send = Script(*(transient() for _ in range(20)))
    outcome, slept = run(send, RetryPolicy(max_attempts=4))
    assert outcome == DeliveryOutcome(delivered=False, attempts=4, error="503 busy")
    assert slept == [2.0, 4.0, 8.0]
    assert send.calls == 4


def test_the_default_policy_waits_about_four_minutes_before_giving_up() -> None:
    outcome, slept = run(Script(*(transient() for _ in range(20))))
    assert outcome.attempts == 8
    assert sum(slept) == 2 + 4 + 8 + 16 + 32 + 64 + 128


def test_an_unexpected_exception_is_a_bug_and_propagates() -> None:
    async def broken() -> None:
        raise KeyError("oops")

    with pytest.raises(KeyError):
        run(broken)
