"""The transaction timers of RFC 3261 Table 4 and RFC 6026, and per-transaction deadlines.

:class:`TimerSettings` derives every timer from T1, T2 and T4 exactly as the tables say:

=====  =====================================  =============================================
Timer  Value                                  Meaning
=====  =====================================  =============================================
A      initially T1, doubling; unreliable     INVITE request retransmit interval
B      64*T1                                  INVITE transaction timeout
D      > 32 s unreliable, 0 s reliable        wait time for response retransmits
E      initially T1, then MIN(2x, T2);        non-INVITE request retransmit interval
       unreliable only
F      64*T1                                  non-INVITE transaction timeout
G      initially T1, then MIN(2x, T2);        INVITE response retransmit interval
       unreliable only
H      64*T1                                  wait time for ACK receipt
I      T4 unreliable, 0 s reliable            wait time for ACK retransmits
J      64*T1 unreliable, 0 s reliable         wait time for non-INVITE request retransmits
K      T4 unreliable, 0 s reliable            wait time for response retransmits
L      64*T1                                  wait time for accepted INVITE retransmits
M      64*T1                                  wait time for 2xx retransmits and forked 2xx
=====  =====================================  =============================================

A timer that is not started on a reliable transport is ``None``; a timer of zero seconds fires at
once, so the machine passes straight through the state it guards.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum

from ringfence.errors import ConfigError

__all__ = ["Deadlines", "TimerName", "TimerSettings"]


class TimerName(Enum):
    """The timers of RFC 3261 Table 4 and RFC 6026, and the 100 (Trying) delay of §17.2.1."""

    A = "A"
    B = "B"
    D = "D"
    E = "E"
    F = "F"
    G = "G"
    H = "H"
    I = "I"  # noqa: E741 - the RFC's name
    J = "J"
    K = "K"
    L = "L"
    M = "M"
    TRYING = "100 Trying"


@dataclass(frozen=True, slots=True, kw_only=True)
class TimerSettings:
    """T1, T2 and T4 in seconds, and the timers derived from them.

    RFC 3261 §17.1.1.1: "T1 is an estimate of the round-trip time (RTT), and it defaults to
    500 ms." ``d_unreliable`` is the unreliable-transport value of Timer D, which the RFC gives only
    as "> 32s". ``trying_delay`` is how long an INVITE server transaction waits for the TU before
    it sends 100 (Trying) itself, when it is told to wait (RFC 3261 §17.2.1: "unless it knows that
    the TU will generate a provisional or final response within 200 ms").
    """

    t1: float = 0.5
    t2: float = 4.0
    t4: float = 5.0
    d_unreliable: float = 32.0
    trying_delay: float = 0.2

    def __post_init__(self) -> None:
        if not self.t1 > 0:
            raise ConfigError(f"T1 must be positive, not {self.t1}")
        if not self.t2 >= self.t1:
            raise ConfigError(f"T2 ({self.t2}) must not be less than T1 ({self.t1})")
        if not self.t4 >= 0:
            raise ConfigError(f"T4 must not be negative, not {self.t4}")
        if not self.d_unreliable >= 0:
            raise ConfigError(f"Timer D must not be negative, not {self.d_unreliable}")
        if not self.trying_delay >= 0:
            raise ConfigError(
                f"the 100 (Trying) delay must not be negative, not {self.trying_delay}"
            )

    # -- the client INVITE transaction (RFC 3261 §17.1.1.2, RFC 6026 §8.4) -------------------

    def timer_a(self, *, reliable: bool) -> float | None:
        """First retransmission interval of an INVITE; it doubles each time (see :meth:`doubled`).

        RFC 3261 §17.1.1.2: "If an unreliable transport is being used, the client transaction MUST
        start timer A with a value of T1. If a reliable transport is being used, the client
        transaction SHOULD NOT start timer A".
        """
        return None if reliable else self.t1

    @property
    def timer_b(self) -> float:
        """RFC 3261 §17.1.1.2: "the client transaction MUST start timer B with a value of 64*T1"."""
        return 64 * self.t1

    def timer_d(self, *, reliable: bool) -> float:
        """RFC 3261 §17.1.1.2: "a value of at least 32 seconds for unreliable transports, and a
        value of zero seconds for reliable transports"."""
        return 0.0 if reliable else self.d_unreliable

    @property
    def timer_m(self) -> float:
        """RFC 6026 §8.4: "If Timer M fires while the client transaction is in the "Accepted" state,
        the client transaction MUST move to the "Terminated" state." Its value is 64*T1."""
        return 64 * self.t1

    # -- the client non-INVITE transaction (RFC 3261 §17.1.2.2) ------------------------------

    def timer_e(self, *, reliable: bool) -> float | None:
        """First retransmission interval of a non-INVITE request (then :meth:`doubled_to_t2`).

        RFC 3261 §17.1.2.2: "If an unreliable transport is in use, the client transaction MUST
        set timer E to fire in T1 seconds."
        """
        return None if reliable else self.t1

    @property
    def timer_f(self) -> float:
        """RFC 3261 §17.1.2.2: "timer F to fire in 64*T1 seconds"."""
        return 64 * self.t1

    def timer_k(self, *, reliable: bool) -> float:
        """RFC 3261 §17.1.2.2: "it MUST set Timer K to fire in T4 seconds for unreliable
        transports, and zero seconds for reliable transports"."""
        return 0.0 if reliable else self.t4

    # -- the server INVITE transaction (RFC 3261 §17.2.1, RFC 6026 §8.7) ---------------------

    def timer_g(self, *, reliable: bool) -> float | None:
        """First retransmission interval of a non-2xx final response (then :meth:`doubled_to_t2`).

        RFC 3261 §17.2.1: "For unreliable transports, timer G is set to fire in T1 seconds, and is
        not set to fire for reliable transports."
        """
        return None if reliable else self.t1

    @property
    def timer_h(self) -> float:
        """RFC 3261 §17.2.1: "timer H MUST be set to fire in 64*T1 seconds for all transports"."""
        return 64 * self.t1

    def timer_i(self, *, reliable: bool) -> float:
        """RFC 3261 §17.2.1: "timer I is set to fire in T4 seconds for unreliable transports, and
        zero seconds for reliable transports"."""
        return 0.0 if reliable else self.t4

    @property
    def timer_l(self) -> float:
        """RFC 6026 §8.7: "If Timer L fires while the INVITE server transaction is in the "Accepted"
        state, the transaction MUST transition to the "Terminated" state." Its value is 64*T1."""
        return 64 * self.t1

    # -- the server non-INVITE transaction (RFC 3261 §17.2.2) --------------------------------

    def timer_j(self, *, reliable: bool) -> float:
        """RFC 3261 §17.2.2: "it MUST set Timer J to fire in 64*T1 seconds for unreliable
        transports, and zero seconds for reliable transports"."""
        return 0.0 if reliable else 64 * self.t1

    # -- back-off ----------------------------------------------------------------------------

    @staticmethod
    def doubled(interval: float) -> float:
        """The next Timer A interval. RFC 3261 §17.1.1.2: "When timer A fires, the client
        transaction MUST retransmit the request by passing it to the transport layer, and MUST
        reset the timer with a value of 2*T1."""
        return 2 * interval

    def doubled_to_t2(self, interval: float) -> float:
        """The next Timer E or Timer G interval: RFC 3261 §17.1.2.2 and §17.2.1, "MIN(2*T1, T2)"."""
        return min(2 * interval, self.t2)


class Deadlines:
    """The timers one transaction has running, as absolute deadlines in seconds.

    The layer keeps one heap for all transactions. A transaction starts and stops timers here;
    the layer collects newly started ones with :meth:`take_started` and, when a heap entry comes
    due, asks :meth:`is_running` whether it still stands (a stopped or restarted timer leaves a
    stale entry behind, which is skipped).
    """

    __slots__ = ("_running", "_started")

    def __init__(self) -> None:
        self._running: dict[TimerName, float] = {}
        self._started: list[tuple[TimerName, float]] = []

    def start(self, timer: TimerName, at: float) -> None:
        """Run ``timer`` to fire at ``at``, replacing any deadline it had."""
        self._running[timer] = at
        self._started.append((timer, at))

    def stop(self, *timers: TimerName) -> None:
        for timer in timers:
            self._running.pop(timer, None)

    def stop_all(self) -> None:
        self._running.clear()
        self._started.clear()

    def is_running(self, timer: TimerName, at: float) -> bool:
        return self._running.get(timer) == at

    def fire(self, timer: TimerName) -> None:
        """Mark ``timer`` as fired: it no longer runs."""
        self._running.pop(timer, None)

    def take_started(self) -> list[tuple[TimerName, float]]:
        """The timers started since the last call, for the layer's heap."""
        started, self._started = self._started, []
        return [(timer, at) for timer, at in started if self._running.get(timer) == at]

    def items(self) -> Iterator[tuple[TimerName, float]]:
        return iter(tuple(self._running.items()))

    def __len__(self) -> int:
        return len(self._running)

    def __repr__(self) -> str:
        running = ", ".join(f"{timer.value}@{at:g}" for timer, at in self._running.items())
        return f"Deadlines({running})"
