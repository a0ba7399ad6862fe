"""The composition root: the only module that knows every package and the real world.

The SIP core takes its clock, randomness and identifiers as arguments. Here they are bound to
the system clock and the operating system's random source. Nothing else imports this module
except the entry points (``cli.py``) and the tests.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

from ringfence.sip.digest import DigestVerifier
from ringfence.sip.nonce import NonceFactory, ReplayTracker

__all__ = ["SystemSources", "build_digest_verifier"]


@dataclass(frozen=True, slots=True)
class SystemSources:
    """Clock and randomness for production use."""

    def now(self) -> float:
        """Wall-clock seconds: digest nonces must stay valid across nodes and restarts."""
        return time.time()

    def random_bytes(self, size: int) -> bytes:
        return secrets.token_bytes(size)

    def token(self) -> str:
        """A short random token for branches, tags and Call-IDs (RFC 3261 §19.3)."""
        return secrets.token_urlsafe(12)


def build_digest_verifier(
    secret: bytes, sources: SystemSources, *, lifetime: float = 300.0
) -> DigestVerifier:
    """A digest verifier whose nonces are signed with ``secret`` and salted from the OS."""
    factory = NonceFactory(secret, lifetime=lifetime, random_bytes=sources.random_bytes)
    return DigestVerifier(nonces=factory, replay=ReplayTracker(lifetime=lifetime))
