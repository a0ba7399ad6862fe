"""Delivering one notice through one channel, trying again after transient failures.

:class:`Deliverer` calls a channel's one-attempt ``send`` until it succeeds, fails permanently
or the :class:`~ringfence.notify.retry.RetryPolicy` gives up, and waits between attempts with
the ``sleep`` it was given. Tests pass a ``sleep`` that only records the waits, so they run in
virtual time.

It logs to ``ringfence.notify``: ``notify_retry`` before each wait, ``notify_delivered`` and
``notify_failed`` at the end. The log lines carry the attempt count and the error message (which
the channels keep free of secrets), never a notice body.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog

from ringfence.notify.channels import DeliveryError
from ringfence.notify.retry import RetryPolicy

__all__ = ["Deliverer", "DeliveryOutcome"]


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryOutcome:
    """How a delivery ended: ``attempts`` made in all, and the last error if it failed."""

    delivered: bool
    attempts: int
    error: str | None


class Deliverer:
    """Sends with retries: exponential backoff with jitter, as ``policy`` says.

    ``sleep`` waits the given seconds (``asyncio.sleep`` in service) and ``rand`` returns a
    number in [0, 1) for the jitter (``random.random`` in service).
    """

    def __init__(
        self,
        *,
        policy: RetryPolicy,
        sleep: Callable[[float], Awaitable[None]],
        rand: Callable[[], float],
    ) -> None:
        self._policy = policy
        self._sleep = sleep
        self._rand = rand

    async def deliver(
        self,
        send: Callable[[], Awaitable[None]],
        *,
        key: str | None = None,
        channel: str | None = None,
    ) -> DeliveryOutcome:
        """Call ``send`` until one attempt succeeds or no attempt is left.

        ``send`` makes one attempt and raises :class:`DeliveryError` when it fails; any other
        exception is a bug and propagates. ``key`` and ``channel`` (say ``"incident-42"`` and
        ``"webhook"``) only label the log lines.
        """
        # A fresh logger each time, so that a logging set-up made later (or by a test) applies.
        log = structlog.get_logger("ringfence.notify")
        labels = {name: value for name, value in (("key", key), ("channel", channel)) if value}
        attempts = 0
        while True:
            attempts += 1
            try:
                await send()
            except DeliveryError as error:
                message = str(error)
                if error.permanent or self._policy.gives_up(attempts):
                    log.warning(
                        "notify_failed",
                        attempts=attempts,
                        permanent=error.permanent,
                        error=message,
                        **labels,
                    )
                    return DeliveryOutcome(delivered=False, attempts=attempts, error=message)
                delay = self._policy.delay(attempts, self._rand(), retry_after=error.retry_after)
                log.info("notify_retry", attempt=attempts, delay=delay, error=message, **labels)
                await self._sleep(delay)
            else:
                log.info("notify_delivered", attempts=attempts, **labels)
                return DeliveryOutcome(delivered=True, attempts=attempts, error=None)
