"""What the sans-I/O transaction layer asks its shell to do, and the values those requests name.

Every input to :class:`ringfence.sip.transaction.TransactionLayer` returns a list of effects,
to be performed in order:

- :class:`Transmit`: put a message on the wire towards a :class:`Peer`.
- :class:`DeliverRequest` and :class:`DeliverResponse`: hand a message up to the transaction user
  (the TU: a proxy core, a UA core or a B2BUA).
- :class:`TransactionTimeout`, :class:`AckTimeout`, :class:`TransportFailed`: tell the TU that a
  transaction failed, and why.
- :class:`TransactionTerminated`: the transaction is gone; the TU may forget what it kept for it.

A :class:`Peer` is opaque to the core. It reads only the transport name, to decide between
reliable and unreliable transports (RFC 3261 §17: the retransmission timers run only on
unreliable ones).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import TypeAlias

from ringfence.sip.message import Request, Response

__all__ = [
    "RELIABLE_TRANSPORTS",
    "AckTimeout",
    "DeliverRequest",
    "DeliverResponse",
    "Effect",
    "Peer",
    "Side",
    "TransactionKey",
    "TransactionTerminated",
    "TransactionTimeout",
    "Transmit",
    "TransportFailed",
]

#: Transports that deliver in order and retransmit on their own. RFC 3261 §17.1.1.2: "If a
#: reliable transport is being used, the client transaction SHOULD NOT start timer A".
RELIABLE_TRANSPORTS = frozenset({"TCP", "TLS", "SCTP", "TLS-SCTP", "WS", "WSS"})


@dataclass(frozen=True, slots=True, kw_only=True)
class Peer:
    """The far end of a hop: where a request came from, or where a message goes.

    ``transport`` is the transport name as in a Via (``UDP``, ``TCP``, ``TLS``, ``SCTP``,
    ``WS``, ``WSS``). For a response, the shell applies RFC 3261 §18.2.2 and RFC 3581 (same
    connection on a stream transport; ``received``/``rport`` on UDP); the core passes back the
    peer the request came from.
    """

    transport: str
    host: str
    port: int

    @property
    def reliable(self) -> bool:
        """True for a stream or message transport that needs no SIP retransmissions."""
        return self.transport.upper() in RELIABLE_TRANSPORTS

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host and not self.host.startswith("[") else self.host
        return f"{self.transport.upper()}:{host}:{self.port}"


class Side(Enum):
    """Which half of a transaction this element plays (RFC 3261 §17)."""

    CLIENT = "client"
    SERVER = "server"


@dataclass(frozen=True, slots=True, kw_only=True)
class TransactionKey:
    """Names one live transaction.

    A client transaction is named by its branch and method (RFC 3261 §17.1.3); a server
    transaction also by the sent-by of the top Via (§17.2.3). The branch is kept in lower case:
    RFC 3261 §7.3.1: "Tokens are always case-insensitive." A server transaction for an RFC 2543
    request (no magic cookie) gets a branch of the form ``rfc2543-<n>``, which no RFC 3261
    branch can equal, since those begin with ``z9hG4bK``.
    """

    side: Side
    method: str
    branch: str
    sent_by: str = ""

    def __str__(self) -> str:
        where = f" from {self.sent_by}" if self.sent_by else ""
        return f"{self.side.value} {self.method} {self.branch}{where}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Transmit:
    """Send ``message`` to ``target``. ``transaction`` is the key to report a failure against."""

    message: Request | Response
    target: Peer
    transaction: TransactionKey | None


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliverRequest:
    """Hand a request to the TU.

    ``transaction`` is the server transaction the TU answers on with
    :meth:`~ringfence.sip.transaction.TransactionLayer.send_response`. It is ``None`` for an ACK,
    which never gets a response: an ACK to a 2xx is no part of the INVITE transaction
    (RFC 3261 §17), and the layer absorbs the ACK to a non-2xx.
    """

    request: Request
    source: Peer
    transaction: TransactionKey | None


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliverResponse:
    """Hand a response to the TU.

    ``transaction`` is the client transaction it belongs to, or ``None`` for a stray response
    that matched none (RFC 3261 §18.1.2: it goes to the core; under RFC 6026 a proxy forwards a
    stray 2xx to an INVITE statelessly and drops other stray responses).
    """

    response: Response
    source: Peer
    transaction: TransactionKey | None


@dataclass(frozen=True, slots=True, kw_only=True)
class TransactionTimeout:
    """Timer B or Timer F fired: no final response came. The client transaction is over.

    The TU acts as if a 408 (Request Timeout) arrived (RFC 3261 §8.1.3.1).
    """

    transaction: TransactionKey


@dataclass(frozen=True, slots=True, kw_only=True)
class AckTimeout:
    """Timer H fired: no ACK came for the non-2xx final response of an INVITE server transaction.

    RFC 3261 §17.2.1: "If timer H fires while in the "Completed" state, it implies that the ACK
    was never received. In this case, the server transaction MUST transition to the "Terminated"
    state, and MUST indicate to the TU that a transaction failure has occurred."
    """

    transaction: TransactionKey


@dataclass(frozen=True, slots=True, kw_only=True)
class TransportFailed:
    """The shell reported that a message of this transaction could not be sent.

    The transaction is over (RFC 3261 §17.1.4 and §17.2.4); the TU handles any fail-over
    (RFC 3263).
    """

    transaction: TransactionKey


@dataclass(frozen=True, slots=True, kw_only=True)
class TransactionTerminated:
    """The transaction reached "Terminated" and the layer has forgotten it.

    RFC 3261 §17.1.1.2: "The client transaction MUST be destroyed the instant it enters the
    "Terminated" state."
    """

    transaction: TransactionKey


Effect: TypeAlias = (
    Transmit
    | DeliverRequest
    | DeliverResponse
    | TransactionTimeout
    | AckTimeout
    | TransportFailed
    | TransactionTerminated
)
