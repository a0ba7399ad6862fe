"""The sans-I/O SIP core (RFC 3261 and friends), standard library only.

Nothing here reads a socket, a clock or a random source: every input takes ``now`` and every
identifier is passed in. The shell in ``ringfence.transport`` performs the effects returned.

* messages: :func:`parse_message`, :class:`Request`, :class:`Response`, :class:`StreamFramer`
* values: :class:`SipUri`, :class:`TelUri`, :class:`Via`, :class:`NameAddr`, :class:`CSeq`
* authentication: :class:`DigestVerifier`, :func:`compute_ha1`, :func:`build_credentials`
* transactions: :class:`TransactionLayer` and its effects (:class:`Transmit`, ...)
* proxy and registrar steps: :func:`validate_request`, :func:`forward_request`,
  :class:`ResponseContext`, :func:`process_register`, :func:`inspect_request`
* SDP: :func:`parse_sdp`, :class:`SessionDescription`
"""

from ringfence.errors import MessageTooLarge, ParseError, TransactionError
from ringfence.sip.digest import (
    Algorithm,
    Challenge,
    Credentials,
    DigestOutcome,
    DigestVerifier,
    build_credentials,
    compute_ha1,
    parse_challenge,
    parse_credentials,
)
from ringfence.sip.effects import (
    AckTimeout,
    DeliverRequest,
    DeliverResponse,
    Effect,
    Peer,
    TransactionKey,
    TransactionTerminated,
    TransactionTimeout,
    Transmit,
    TransportFailed,
)
from ringfence.sip.headers import CSeq, Headers, MediaType, NameAddr, Via
from ringfence.sip.inspect import Capabilities, Refusal, inspect_request
from ringfence.sip.message import Message, Request, Response, make_response
from ringfence.sip.nonce import NonceFactory, ReplayTracker
from ringfence.sip.parser import (
    Frame,
    KeepAlive,
    Limits,
    StreamFramer,
    parse_message,
    response_for_parse_error,
)
from ringfence.sip.proxy import (
    ForwardedRequest,
    ProxyIdentity,
    ResponseContext,
    ResponseDecision,
    forward_request,
    make_branch,
    preprocess_route,
    validate_request,
)
from ringfence.sip.registrar import (
    Binding,
    RegisterAccepted,
    RegisterRefused,
    RegistrarSettings,
    by_priority,
    process_register,
    register_response,
)
from ringfence.sip.sdp import CryptoAttribute, MediaDescription, SessionDescription, parse_sdp
from ringfence.sip.status import StatusCode
from ringfence.sip.timers import TimerSettings
from ringfence.sip.transaction import MAGIC_COOKIE, TransactionLayer
from ringfence.sip.transaction_server import TryingMode
from ringfence.sip.uri import AbsoluteUri, SipUri, TelUri, Uri, parse_uri

__all__ = [
    "MAGIC_COOKIE",
    "AbsoluteUri",
    "AckTimeout",
    "Algorithm",
    "Binding",
    "CSeq",
    "Capabilities",
    "Challenge",
    "Credentials",
    "CryptoAttribute",
    "DeliverRequest",
    "DeliverResponse",
    "DigestOutcome",
    "DigestVerifier",
    "Effect",
    "ForwardedRequest",
    "Frame",
    "Headers",
    "KeepAlive",
    "Limits",
    "MediaDescription",
    "MediaType",
    "Message",
    "MessageTooLarge",
    "NameAddr",
    "NonceFactory",
    "ParseError",
    "Peer",
    "ProxyIdentity",
    "Refusal",
    "RegisterAccepted",
    "RegisterRefused",
    "RegistrarSettings",
    "ReplayTracker",
    "Request",
    "Response",
    "ResponseContext",
    "ResponseDecision",
    "SessionDescription",
    "SipUri",
    "StatusCode",
    "StreamFramer",
    "TelUri",
    "TimerSettings",
    "TransactionError",
    "TransactionKey",
    "TransactionLayer",
    "TransactionTerminated",
    "TransactionTimeout",
    "Transmit",
    "TransportFailed",
    "TryingMode",
    "Uri",
    "Via",
    "build_credentials",
    "by_priority",
    "compute_ha1",
    "forward_request",
    "inspect_request",
    "make_branch",
    "make_response",
    "parse_challenge",
    "parse_credentials",
    "parse_message",
    "parse_sdp",
    "parse_uri",
    "preprocess_route",
    "process_register",
    "register_response",
    "response_for_parse_error",
    "validate_request",
]
