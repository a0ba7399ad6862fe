"""The one error tree of ringfence.

Every exception that ringfence raises on purpose derives from :class:`RingfenceError`.
Foreign exceptions (SQLAlchemy, ssl, OSError and so on) are translated into this tree at the
boundary where they occur, so that the core never sees them::

    RingfenceError
    ├── SipError                    the SIP core refused something
    │   ├── ParseError              bytes that are not a valid SIP message (status 400 or 505)
    │   ├── MessageTooLarge         a message, line or header count over the configured limit
    │   │                           (a ParseError: the sender gets a 400/413 or is dropped)
    │   └── TransactionError        the transaction user asked for something the RFC 3261 §17
    │                               machine cannot do in its current state
    └── ConfigError                 settings that cannot be used; the message says what to fix

This module imports nothing but the standard library, so that the sans-I/O SIP core may use it.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "MessageTooLarge",
    "ParseError",
    "RingfenceError",
    "SipError",
    "TransactionError",
]


class RingfenceError(Exception):
    """Root of every error that ringfence raises on purpose."""


class SipError(RingfenceError):
    """The SIP core refused an input."""


class ParseError(SipError):
    """Bytes that do not form a valid SIP message.

    ``reason`` says what is wrong in words fit for a Warning header or a log line.
    ``status`` is the response the RFC names for the fault: 400 in general, 505 for an unknown
    SIP version (RFC 3261 §8.2.2.1 and RFC 4475 §3.1.2.16).
    ``headers`` holds the raw header fields (name, value) that a 400 must copy (RFC 3261 §8.2.6.2:
    Via, From, To, Call-ID and CSeq) when they were readable, and ``is_request`` says whether the
    start line was a request line. Both are empty or ``None`` when the bytes were too broken to
    answer, in which case the message is dropped.
    """

    def __init__(
        self,
        reason: str,
        *,
        status: int = 400,
        headers: tuple[tuple[str, str], ...] = (),
        is_request: bool | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.headers = headers
        self.is_request = is_request

    def with_context(
        self, *, headers: tuple[tuple[str, str], ...], is_request: bool | None
    ) -> ParseError:
        """Return a copy of this error that carries what is needed to answer it."""
        clone = type(self)(self.reason, status=self.status, headers=headers, is_request=is_request)
        clone.__cause__ = self.__cause__
        return clone


class MessageTooLarge(ParseError):
    """A message, a line or the number of headers is over the configured limit."""


class TransactionError(SipError):
    """The transaction user asked a transaction for something its state does not allow."""


class ConfigError(RingfenceError):
    """A setting cannot be used. The message says which one and what to fix."""
