"""When to try a delivery again, and after how long; pure, with the randomness passed in.

:class:`RetryPolicy` is an exponential backoff: the first retry waits ``first_delay`` seconds,
each later one ``factor`` times longer, never more than ``max_delay``, and every wait is spread
by up to ``jitter`` (a fraction) either way so that many deliveries that failed together do not
come back together. After ``max_attempts`` attempts in all, the delivery gives up.

Which failures are worth another attempt:

- over HTTP, network errors and timeouts, any 5xx, 408 (Request Timeout) and 429 (Too Many
  Requests). Every other answer is permanent: a 4xx means our request is wrong for that receiver
  and will stay wrong, and a 3xx is not followed (a webhook URL that moved must be updated);
- a numeric ``Retry-After`` on a 429 or a 503 is the least wait before the next attempt
  (RFC 9110 §10.2.3), capped at ``max_delay``; the HTTP-date form is ignored;
- over SMTP, connection errors, timeouts and 4xx replies are transient, and 5xx replies are
  permanent (RFC 5321 §4.2.1: "4yz Transient Negative Completion reply", "5yz Permanent
  Negative Completion reply").
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

__all__ = ["RetryPolicy", "http_is_transient", "retry_after_seconds", "smtp_is_transient"]

_SECONDS = re.compile(r"[0-9]{1,10}")


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """An exponential backoff with jitter, and how many attempts to make in all."""

    first_delay: float = 2.0
    factor: float = 2.0
    max_delay: float = 300.0
    max_attempts: int = 8
    jitter: float = 0.1

    def __post_init__(self) -> None:
        if not 0 < self.first_delay <= self.max_delay or not math.isfinite(self.max_delay):
            raise ValueError("a retry policy needs 0 < first_delay <= max_delay, both finite")
        if not 1 <= self.factor < math.inf:
            raise ValueError("a retry policy's factor must be at least 1")
        if self.max_attempts < 1:
            raise ValueError("a retry policy makes at least one attempt")
        if not 0 <= self.jitter < 1:
            raise ValueError("a retry policy's jitter is a fraction in [0, 1)")

    def delay(self, attempt: int, rand: float, *, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number ``attempt`` (1 is the first retry, made after
        the first attempt failed); ``rand`` is a random number in [0, 1).

        The wait is the backoff spread by ``jitter`` either way and capped at ``max_delay``.
        ``retry_after``, what the receiver asked for, raises it to at least that many seconds,
        itself capped at ``max_delay``.
        """
        if attempt < 1:
            raise ValueError(f"retry number {attempt}: retries count from 1")
        if not 0 <= rand < 1:
            raise ValueError(f"rand must be in [0, 1), not {rand}")
        base = self.first_delay
        for _ in range(attempt - 1):
            base *= self.factor
            if base >= self.max_delay:
                break
        spread = base * (1 + self.jitter * (2 * rand - 1))
        wait = min(self.max_delay, spread)
        if retry_after is not None and retry_after > 0:
            wait = max(wait, min(retry_after, self.max_delay))
        return wait

    def gives_up(self, attempts: int) -> bool:
        """Whether a delivery that has failed ``attempts`` times in all should stop trying."""
        return attempts >= self.max_attempts


def http_is_transient(status: int) -> bool:
    """Whether an HTTP answer with this status is worth another attempt."""
    return status >= 500 or status in {408, 429}


def retry_after_seconds(status: int, value: str | None) -> float | None:
    """The wait a 429 or 503 asks for in a numeric ``Retry-After``; None when there is none."""
    if status not in {429, 503} or value is None:
        return None
    text = value.strip()
    if not _SECONDS.fullmatch(text):
        return None
    return float(text)


def smtp_is_transient(code: int) -> bool:
    """Whether an SMTP reply code is a transient failure (4yz) rather than a permanent one."""
    return 400 <= code < 500
