"""The two steps every RFC 3261 §17 transaction machine takes, written once.

Each machine keeps its own state enum and transition table (DESIGN.md §3); what they share is
how a table is applied and how a timer is started or, at zero seconds, fired at once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import Enum
from typing import TypeVar

from ringfence.sip.effects import Effect
from ringfence.sip.timers import Deadlines, TimerName

__all__ = ["start_or_fire", "transition"]

S = TypeVar("S", bound=Enum)
E = TypeVar("E", bound=Enum)


def transition(
    table: Mapping[tuple[S, E], S], state: S, event: E, terminated: S, deadlines: Deadlines
) -> S | None:
    """The state ``event`` leads to from ``state``, or ``None`` when the table absorbs it.
    Entering ``terminated`` stops every timer of the transaction."""
    after = table.get((state, event))
    if after is not None and after is terminated:
        deadlines.stop_all()
    return after


def start_or_fire(
    deadlines: Deadlines,
    timer: TimerName,
    seconds: float,
    now: float,
    fire: Callable[[TimerName, float], list[Effect]],
) -> list[Effect]:
    """Start ``timer`` to fire ``seconds`` from ``now``; a zero-second timer (Timers D, I, J and
    K on reliable transports) fires at once."""
    if seconds > 0:
        deadlines.start(timer, now + seconds)
        return []
    return fire(timer, now)
