"""Counters of the perimeter, bounded in memory whatever an attacker sends.

:class:`Window` counts events per key within a sliding window, keeping no more timestamps per
key than its limit needs. :class:`Buckets` is a token bucket per key (a rate and a burst).
Both hold at most ``max_keys`` keys and forget the least recently touched one first, so a
flood from many addresses costs a fixed amount of memory.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Hashable
from dataclasses import dataclass

__all__ = ["Buckets", "Window"]


class Window:
    """Events per key in the last ``seconds``; :meth:`add` says whether ``limit`` is reached."""

    def __init__(self, *, limit: int, seconds: float, max_keys: int = 65_536) -> None:
        if limit < 1 or seconds <= 0:
            raise ValueError("a window needs a limit of at least 1 and a positive length")
        self.limit = limit
        self.seconds = seconds
        self._max_keys = max_keys
        self._times: OrderedDict[Hashable, deque[float]] = OrderedDict()

    def add(self, key: Hashable, now: float) -> bool:
        """Count one event; True once ``limit`` events fall within the window."""
        times = self._times.get(key)
        if times is None:
            times = self._times[key] = deque(maxlen=self.limit)
            if len(self._times) > self._max_keys:
                self._times.popitem(last=False)
        else:
            self._times.move_to_end(key)
        times.append(now)
        return len(times) >= self.limit and now - times[0] <= self.seconds

    def count(self, key: Hashable, now: float) -> int:
        times = self._times.get(key)
        return 0 if times is None else sum(1 for t in times if now - t <= self.seconds)

    def clear(self, key: Hashable) -> None:
        self._times.pop(key, None)

    def __len__(self) -> int:
        return len(self._times)


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float


class Buckets:
    """A token bucket per key: ``rate`` tokens a second, up to ``burst``."""

    def __init__(self, *, rate: float, burst: float, max_keys: int = 65_536) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("a bucket needs a positive rate and a burst of at least 1")
        self.rate = rate
        self.burst = burst
        self._max_keys = max_keys
        self._buckets: OrderedDict[Hashable, _Bucket] = OrderedDict()

    def take(self, key: Hashable, now: float, cost: float = 1.0) -> bool:
        """Take ``cost`` tokens if there are that many; False (and nothing taken) if not."""
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(tokens=self.burst, at=now)
            if len(self._buckets) > self._max_keys:
                self._buckets.popitem(last=False)  # a forgotten key starts full: no harm
        else:
            self._buckets.move_to_end(key)
            bucket.tokens = min(self.burst, bucket.tokens + max(0.0, now - bucket.at) * self.rate)
            bucket.at = max(bucket.at, now)
        if bucket.tokens < cost:
            return False
        bucket.tokens -= cost
        return True

    def __len__(self) -> int:
        return len(self._buckets)
