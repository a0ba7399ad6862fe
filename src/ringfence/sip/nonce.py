"""Stateless, HMAC-signed digest nonces and bounded replay tracking (RFC 7616 §3.3, §3.4).

:class:`NonceFactory` issues nonces that carry their own issue time and a MAC over the secret,
the time, a random salt and the realm, so no table of issued nonces is needed.
:class:`ReplayTracker` remembers which (nonce, nc) pairs were used while each nonce lives.
"""

from __future__ import annotations

import base64
import hashlib
import heapq
import hmac
import math
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

__all__ = ["NonceCheck", "NonceFactory", "NonceStatus", "ReplayTracker", "ReplayVerdict"]

_NONCE_VERSION = 1
_SALT_SIZE = 8
_HEAD = struct.Struct(">Bq")  # version, issue time in milliseconds
_MAC_SIZE = hashlib.sha256().digest_size
_NONCE_CHARS = math.ceil((_HEAD.size + _SALT_SIZE + _MAC_SIZE) * 4 / 3)
_NONCE_CHARS_RE = re.compile(r"[A-Za-z0-9_-]+")
_MAX_SKEW = 5.0  # seconds a nonce may be dated ahead of ``now`` (clocks of several nodes)
_NO_FLOOR = -(2**63)


def _ms(seconds: float) -> int:
    return math.floor(seconds * 1000)


class NonceStatus(Enum):
    FRESH = "fresh"
    EXPIRED = "expired"
    INVALID = "invalid"  # not ours, altered, for another realm, or dated in the future


@dataclass(frozen=True, slots=True, kw_only=True)
class NonceCheck:
    status: NonceStatus
    issued_at: float = 0.0


class NonceFactory:
    """Issues and checks stateless nonces: base64url(version | ms | salt | MAC), no padding.

    The MAC is HMAC-SHA256 over version, issue time, salt and realm, so a nonce is valid only
    for the realm it was issued for. The injected ``random_bytes`` gives the salt, so nonces
    issued in the same millisecond differ. A nonce dated over 5 s ahead of ``now`` is invalid.
    """

    def __init__(
        self, secret: bytes, *, lifetime: float = 300.0, random_bytes: Callable[[int], bytes]
    ) -> None:
        if len(secret) < 16 or lifetime <= 0:
            raise ValueError("the secret needs at least 16 bytes and the lifetime must be > 0")
        self._secret = secret
        self.lifetime = lifetime
        self._random_bytes = random_bytes

    def _mac(self, head: bytes, realm: str) -> bytes:
        message = head + realm.encode("utf-8", "surrogatepass")
        return hmac.new(self._secret, message, hashlib.sha256).digest()

    def issue(self, *, realm: str, now: float) -> str:
        salt = self._random_bytes(_SALT_SIZE)
        if len(salt) != _SALT_SIZE:
            raise ValueError(f"random_bytes returned {len(salt)} bytes, wanted {_SALT_SIZE}")
        head = _HEAD.pack(_NONCE_VERSION, _ms(now)) + salt
        return base64.urlsafe_b64encode(head + self._mac(head, realm)).rstrip(b"=").decode()

    def check(self, nonce: str, *, realm: str, now: float) -> NonceCheck:
        invalid = NonceCheck(status=NonceStatus.INVALID)
        if len(nonce) != _NONCE_CHARS or not _NONCE_CHARS_RE.fullmatch(nonce):
            return invalid
        raw = base64.urlsafe_b64decode(nonce + "=" * (-len(nonce) % 4))
        if base64.urlsafe_b64encode(raw).rstrip(b"=").decode() != nonce:
            return invalid  # a non-canonical spelling of a nonce is not that nonce
        head, mac = raw[:-_MAC_SIZE], raw[-_MAC_SIZE:]
        if not hmac.compare_digest(mac, self._mac(head, realm)):
            return invalid
        version, issued_ms = _HEAD.unpack_from(head)
        if version != _NONCE_VERSION or issued_ms > _ms(now + _MAX_SKEW):
            return invalid
        expired = _ms(now) > issued_ms + _ms(self.lifetime)
        status = NonceStatus.EXPIRED if expired else NonceStatus.FRESH
        return NonceCheck(status=status, issued_at=issued_ms / 1000)


class ReplayVerdict(Enum):
    FIRST_USE = "first_use"
    REPLAYED = "replayed"
    STALE = "stale"  # forgotten (issued at or before the floor) or used too often


class ReplayTracker:
    """Remembers used (nonce, nc) pairs while their nonce lives, in bounded memory.

    A request without qop (RFC 2069 style) records ``nc=0``, so such a nonce is single use.
    Entries drop out when their nonce expires. Past ``max_entries`` pairs, the tracker forgets
    the nonce issued earliest and raises :attr:`floor` to its issue time: from then on, every
    nonce issued at or before the floor is STALE, so forgetting never lets a replay through; the
    client just takes a fresh nonce. A nonce used ``max_uses_per_nonce`` times is STALE too, so
    one client cannot spend the whole budget on one nonce.
    """

    def __init__(
        self, *, lifetime: float, max_entries: int = 10_000, max_uses_per_nonce: int = 1_000
    ) -> None:
        if lifetime <= 0 or max_entries < 1 or max_uses_per_nonce < 1:
            raise ValueError("lifetime, max_entries and max_uses_per_nonce must be positive")
        self.lifetime = lifetime
        self._max_entries = max_entries
        self._max_uses = max_uses_per_nonce
        self._used: dict[str, set[int]] = {}
        self._by_age: list[tuple[int, str]] = []  # heap of (issued ms, nonce)
        self._count = 0
        self._floor_ms = _NO_FLOOR

    def __len__(self) -> int:
        return self._count

    @property
    def floor(self) -> float | None:
        """Nonces issued at or before this time are stale; ``None`` before any eviction."""
        return None if self._floor_ms == _NO_FLOOR else self._floor_ms / 1000

    def _drop_oldest(self) -> int:
        issued_ms, nonce = heapq.heappop(self._by_age)
        self._count -= len(self._used.pop(nonce))
        return issued_ms

    def record(self, *, nonce: str, issued_at: float, nc: int, now: float) -> ReplayVerdict:
        """Record one use of ``(nonce, nc)``; ``issued_at`` comes from a checked nonce."""
        issued_ms, horizon = round(issued_at * 1000), _ms(now) - _ms(self.lifetime)
        while self._by_age and self._by_age[0][0] < horizon:
            self._drop_oldest()
        used = self._used.get(nonce, set())
        if issued_ms <= self._floor_ms or issued_ms < horizon:
            return ReplayVerdict.STALE
        # RFC 7616 §3.4: "if the same nc value is seen twice, then the request is a replay."
        if nc in used:
            return ReplayVerdict.REPLAYED
        if len(used) >= self._max_uses:
            return ReplayVerdict.STALE
        while self._count >= self._max_entries:
            self._floor_ms = max(self._floor_ms, self._drop_oldest())
        if issued_ms <= self._floor_ms:  # the eviction reached this nonce's own age
            return ReplayVerdict.STALE
        if nonce not in self._used:
            heapq.heappush(self._by_age, (issued_ms, nonce))
        self._used.setdefault(nonce, set()).add(nc)
        self._count += 1
        return ReplayVerdict.FIRST_USE
