"""Signatures of webhook deliveries, so that a receiver can tell that a body came from us.

The header reads ``t=<timestamp>,v1=<signature>``. The signature is the hex HMAC-SHA256, keyed
by the webhook's secret, of the timestamp, a dot and the raw body: ``b"1700000000." + body``.
Signing the timestamp lets a receiver refuse old deliveries replayed by someone who recorded
them. A receiver checks a delivery with :func:`verify`, on the bytes exactly as received.
"""

from __future__ import annotations

import hashlib
import hmac
import re

__all__ = ["SIGNATURE_HEADER", "sign", "verify"]

SIGNATURE_HEADER = "X-Ringfence-Signature"

_TIMESTAMP = re.compile(r"[0-9]{1,15}")
_DIGEST = re.compile(r"[0-9a-f]{64}")


def _digest(secret: str, timestamp: int, body: bytes) -> str:
    signed = f"{timestamp}.".encode("ascii") + body
    return hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header value for ``body`` sent at ``timestamp`` (whole epoch seconds)."""
    if timestamp < 0:
        raise ValueError("a signature timestamp cannot be negative")
    return f"t={timestamp},v1={_digest(secret, timestamp, body)}"


def verify(secret: str, header: str, body: bytes, now: float, tolerance: float = 300) -> bool:
    """Whether ``header`` signs ``body`` with ``secret`` at a time within ``tolerance`` seconds
    of ``now``, either side.

    A malformed header is a failed check, never an exception. Several ``v1`` entries are allowed
    (a sender may sign with an old and a new secret while they rotate); one match is enough.
    """
    if not isinstance(header, str) or not isinstance(body, bytes):
        return False
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        name, sep, value = part.strip().partition("=")
        if not sep:
            return False
        if name == "t":
            if timestamp is not None or not _TIMESTAMP.fullmatch(value):
                return False
            timestamp = int(value)
        elif name == "v1":
            if not _DIGEST.fullmatch(value):
                return False
            candidates.append(value)
        # Other schemes (v2 and so on) are for newer receivers; skip them.
    if timestamp is None or not candidates:
        return False
    # Written so that a NaN ``now`` or ``tolerance`` fails the check instead of passing it.
    if not abs(now - timestamp) <= tolerance:
        return False
    try:
        expected = _digest(secret, timestamp, body).encode("ascii")
    except UnicodeEncodeError:  # a secret that is no text at all signs nothing
        return False
    matched = False
    for candidate in candidates:
        # Compare every candidate, so the time taken does not tell which one matched.
        matched |= hmac.compare_digest(expected, candidate.encode("ascii"))
    return matched
