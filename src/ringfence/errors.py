"""The one error tree of ringfence.

Every exception that ringfence raises on purpose derives from :class:`RingfenceError`.
Foreign exceptions (SQLAlchemy, psycopg, ssl, OSError and so on) are translated into this tree
at the boundary where they occur, so that the core never sees them::

    RingfenceError
    ├── SipError                    the SIP core refused something
    │   ├── ParseError              bytes that are not a valid SIP message (status 400 or 505)
    │   ├── MessageTooLarge         a message, line or header count over the configured limit
    │   │                           (a ParseError: the sender gets a 400/413 or is dropped)
    │   └── TransactionError        the transaction user asked for something the RFC 3261 §17
    │                               machine cannot do in its current state
    ├── ConfigError                 settings that cannot be used; the message says what to fix
    ├── InvalidInput                a value given to a service (a tenant name, a domain, an
    │                               extension, an E.164 number, a HOST:PORT) is malformed
    ├── DeliveryError               one attempt to deliver a notice (SMTP, webhook) failed;
    │                               ``permanent`` says whether trying again can help
    └── StoreError                  the store failed or refused a change; nothing was written
        ├── NotFound                the tenant, extension, trunk or number named does not exist
        ├── Conflict                the change collides with stored data (a name, domain,
        │                           extension or number that is already taken, or still in use)
        ├── SchemaMismatch          the database has no ringfence schema, or an older or newer
        │                           one than this version of ringfence (run ``ringfence init``)
        └── StoreUnavailable        the database cannot be reached, opened or locked in time

This module imports nothing but the standard library, so that the sans-I/O SIP core may use it.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "Conflict",
    "DeliveryError",
    "InvalidInput",
    "MessageTooLarge",
    "NotFound",
    "ParseError",
    "RingfenceError",
    "SchemaMismatch",
    "SipError",
    "StoreError",
    "StoreUnavailable",
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


class InvalidInput(RingfenceError):
    """A value given to a service is malformed. The message names the value and its form."""


class StoreError(RingfenceError):
    """The store failed or refused a change. The transaction was rolled back: nothing of the
    change was written."""


class NotFound(StoreError):
    """The tenant, extension, trunk or number named does not exist."""


class Conflict(StoreError):
    """The change collides with stored data: a name, domain, extension or number that is
    already taken, or a row that something else still refers to."""


class SchemaMismatch(StoreError):
    """The database has no ringfence schema, or one at another revision than this code."""


class StoreUnavailable(StoreError):
    """The database cannot be reached or opened, or stayed locked past the busy timeout."""


class DeliveryError(RingfenceError):
    """One attempt to deliver a notice failed.

    ``permanent`` is true when trying again cannot help (a 4xx answer, a 5xx SMTP reply, a
    notice that cannot be encoded); ``retry_after`` is the least wait, in seconds, that the
    receiver asked for, or None.
    """

    def __init__(self, message: str, *, permanent: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after
