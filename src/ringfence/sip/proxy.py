"""Stateful proxy mechanics of RFC 3261 §16, as pure functions and one pure response context.

The transaction user decides *where* a request goes (location service, trunks, policy); this
module does the RFC's part of *how*: request validation (§16.3), route preprocessing (§16.4),
building each forwarded copy (§16.6) and choosing the response to send back (§16.7).
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Hashable
from dataclasses import dataclass, field, replace
from enum import Enum

from ringfence.sip.headers import NameAddr, Via
from ringfence.sip.inspect import Refusal
from ringfence.sip.message import Request, Response, make_response
from ringfence.sip.status import StatusCode
from ringfence.sip.transaction import MAGIC_COOKIE
from ringfence.sip.uri import SipUri, TelUri, Uri, canonical_host

__all__ = [
    "BranchOutcome",
    "ForwardedRequest",
    "ProxyIdentity",
    "ResponseContext",
    "ResponseDecision",
    "forward_request",
    "loop_hash",
    "make_branch",
    "preprocess_route",
    "response_destination_is_safe",
    "strip_top_via",
    "validate_request",
]

DEFAULT_MAX_FORWARDS = 70


@dataclass(frozen=True, slots=True, kw_only=True)
class ProxyIdentity:
    """How this proxy recognises itself in URIs and Via headers.

    ``addresses`` are (host, port) pairs this element listens on; hosts in canonical form
    (lower case, IPv6 in brackets). ``record_route`` is the URI put in Record-Route; it carries
    ``lr`` (RFC 3261 §16.6 step 4: "The URI placed in the Record-Route header field MUST resolve
    to the element inserting it").
    """

    addresses: frozenset[tuple[str, int]]
    record_route: SipUri
    supported_extensions: frozenset[str] = frozenset()

    def indicates_us(self, uri: Uri) -> bool:
        """True when the URI names this element (host and port, default port by scheme)."""
        if not isinstance(uri, SipUri):
            return False
        port = uri.port if uri.port is not None else (5061 if uri.secure else 5060)
        return (canonical_host(uri.host), port) in self.addresses

    def is_own_via(self, via: Via) -> bool:
        port = via.port if via.port is not None else (5061 if via.transport == "TLS" else 5060)
        return (canonical_host(via.host), port) in self.addresses


# --- §16.3 request validation ---------------------------------------------------------------


def validate_request(request: Request, identity: ProxyIdentity) -> Refusal | None:
    """RFC 3261 §16.3: the checks before a proxy forwards anything. ``None`` means go on."""
    # Step 2: URI scheme. "If the Request-URI has a URI whose scheme is not understood by the
    # proxy, the proxy SHOULD reject the request with a 416 (Unsupported URI Scheme) response."
    if not isinstance(request.uri, SipUri | TelUri):
        return Refusal(status=StatusCode.UNSUPPORTED_URI_SCHEME, code="unsupported_uri_scheme")
    # Step 3: Max-Forwards. "If the request does not contain a Max-Forwards header field, this
    # check is passed." "If the Max-Forwards value is zero (0), the element MUST NOT forward the
    # request. If the request was for OPTIONS, the element MAY act as the final recipient".
    if request.max_forwards == 0 and request.method != "OPTIONS":
        return Refusal(status=StatusCode.TOO_MANY_HOPS, code="too_many_hops")
    # Step 4: loop detection (optional). A Via of ours whose branch carries the same loop hash as
    # this request means it came round unchanged: a loop, not a spiral.
    # The hash is taken over the request as it first arrived, when the Via just below ours was
    # on top; so each Via of ours is checked against a hash with that Via as topmost.
    if request.method not in ("ACK", "CANCEL"):
        vias = request.via
        for below, via in zip(vias[1:], vias, strict=False):
            branch = via.branch or ""
            if identity.is_own_via(via) and branch.rsplit(".", 1)[-1] == loop_hash(request, below):
                return Refusal(status=StatusCode.LOOP_DETECTED, code="loop_detected")
    # Step 5: Proxy-Require. "If the request contains a Proxy-Require header field with one or
    # more option-tags this element does not understand, the element MUST return a 420 (Bad
    # Extension) response. The response MUST include an Unsupported header field".
    unknown = [
        tag
        for tag in request.option_tags("Proxy-Require")
        if tag.lower() not in identity.supported_extensions
    ]
    if unknown:
        return Refusal(
            status=StatusCode.BAD_EXTENSION,
            code="bad_extension",
            headers=(("Unsupported", ", ".join(unknown)),),
        )
    return None


def loop_hash(request: Request, top_via: Via | None = None) -> str:
    """RFC 3261 §16.6 step 8: a hash over the fields that, unchanged, make a loop.

    "...the To tag, From tag, Call-ID header field, the Request-URI of the request received
    (before translation), the topmost Via header, and the sequence number from the CSeq header
    field, in addition to any Proxy-Require and Proxy-Authorization header fields".
    Route is included as well, so that a request spiralling through us on a new route is not
    mistaken for a loop. ``top_via`` defaults to the request's topmost Via.
    """
    parts = [
        request.to.tag or "",
        request.from_.tag or "",
        request.call_id,
        request.request_uri,
        str(top_via if top_via is not None else request.top_via),
        str(request.cseq.number),
        *request.headers.get_all("Proxy-Require"),
        *request.headers.get_all("Proxy-Authorization"),
        *request.headers.get_all("Route"),
    ]
    return hashlib.sha256("\x00".join(parts).encode("utf-8", "surrogateescape")).hexdigest()[:16]


def make_branch(unique: str, request: Request | None = None) -> str:
    """A branch with the magic cookie, a unique part and, for loop detection, the loop hash."""
    if request is None or request.method in ("ACK", "CANCEL"):
        return f"{MAGIC_COOKIE}{unique}"
    return f"{MAGIC_COOKIE}{unique}.{loop_hash(request)}"


# --- §16.4 route information preprocessing ------------------------------------------------------


def preprocess_route(request: Request, identity: ProxyIdentity) -> Request:
    """RFC 3261 §16.4, before the proxy decides where the request goes."""
    routes = request.routes
    uri = request.uri
    # "If the Request-URI of the request contains a value this proxy previously placed into a
    # Record-Route header field, the proxy MUST replace the Request-URI in the request with the
    # last value from the Route header field, and remove that value from the Route header field."
    # (A strict router upstream sent the request to us.)
    if (
        routes
        and isinstance(uri, SipUri)
        and uri.user is None
        and uri.loose_route
        and identity.indicates_us(uri)
    ):
        last = routes[-1]
        request = _with_routes(request.with_uri(last.uri), routes[:-1])
        routes = routes[:-1]
    # "If the first value in the Route header field indicates this proxy, the proxy MUST remove
    # that value from the request."
    if routes and identity.indicates_us(routes[0].uri):
        request = replace(request, headers=request.headers.without_first_element("Route"))
    return request


def _with_routes(request: Request, routes: tuple[NameAddr, ...]) -> Request:
    headers = request.headers.without("Route")
    for route in routes:
        headers = headers.with_added("Route", str(route))
    return replace(request, headers=headers)


# --- §16.6 request forwarding ------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ForwardedRequest:
    """The copy to send on one branch and the URI that names its next hop (§16.6 step 7)."""

    request: Request
    next_hop: Uri


def forward_request(
    request: Request,
    *,
    target: Uri,
    via: Via,
    branch: str,
    identity: ProxyIdentity,
    record_route: bool = True,
) -> ForwardedRequest:
    """Build the request forwarded to ``target`` (RFC 3261 §16.6 steps 1 to 8).

    ``via`` names the transport and sent-by this copy leaves from; the branch is added to it.
    The body is forwarded untouched.
    """
    # Step 1 and 2: copy the request and put the target in the Request-URI.
    headers = request.headers
    # Step 3: "If the copy contains a Max-Forwards header field, the proxy MUST decrement its
    # value by one (1). If the copy does not contain a Max-Forwards header field, the proxy MUST
    # add one with a field value, which SHOULD be 70."
    max_forwards = request.max_forwards
    headers = headers.with_value(
        "Max-Forwards", str(DEFAULT_MAX_FORWARDS if max_forwards is None else max_forwards - 1)
    )
    # Step 4: Record-Route. "If the Request-URI contains a SIPS URI, or the topmost Route header
    # field value ... contains a SIPS URI, the URI placed into the Record-Route header field MUST
    # be a SIPS URI."
    if record_route and request.method not in ("REGISTER", "ACK", "CANCEL"):
        rr = identity.record_route
        if _needs_sips(request, target):
            rr = replace(rr, scheme="sips")
        headers = headers.with_added("Record-Route", f"<{rr}>", first=True)
    forwarded = replace(request, request_uri=str(target), headers=headers)
    # Step 6: postprocess routing information. "If the copy contains a Route header field, the
    # proxy MUST inspect the URI in its first value. If that URI does not contain an lr
    # parameter, the proxy MUST modify the copy as follows": the strict-router dance.
    routes = forwarded.routes
    if routes and isinstance(routes[0].uri, SipUri) and not routes[0].uri.loose_route:
        first = routes[0]
        new_routes = (*routes[1:], NameAddr(uri=target))
        forwarded = _with_routes(forwarded.with_uri(first.uri), new_routes)
        routes = forwarded.routes
    # Step 7: the next hop is the first Route, or else the Request-URI.
    next_hop = routes[0].uri if routes else forwarded.uri
    # Step 8: "The proxy MUST insert a Via header field value into the copy before the existing
    # Via header field values."
    top = via.with_params(branch=branch)
    forwarded = replace(
        forwarded, headers=forwarded.headers.with_added("Via", str(top), first=True)
    )
    return ForwardedRequest(request=forwarded, next_hop=next_hop)


def _needs_sips(request: Request, target: Uri) -> bool:
    if isinstance(target, SipUri) and target.secure:
        return True
    uri = request.uri
    if isinstance(uri, SipUri) and uri.secure:
        return True
    routes = request.routes
    return bool(routes) and isinstance(routes[0].uri, SipUri) and routes[0].uri.secure


# --- §16.7 response processing ------------------------------------------------------------------


def strip_top_via(response: Response) -> Response | None:
    """RFC 3261 §16.7 step 3 and 9: remove our Via; ``None`` if none is left (it was for us)."""
    if len(response.via) <= 1:
        return None
    return replace(response, headers=response.headers.without_first_element("Via"))


def response_destination_is_safe(response: Response) -> bool:
    """False when the Via a response would travel to names a broadcast, multicast or unspecified
    address (RFC 4475 §3.3.10): such a response is dropped rather than forwarded."""
    via = response.top_via
    for candidate in (via.received, via.host):
        if not candidate:
            continue
        text = candidate.strip("[]")
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            continue
        if address.is_multicast or address.is_unspecified or text == "255.255.255.255":
            return False
    return True


class BranchOutcome(Enum):
    """Where one branch of a forked request stands."""

    PENDING = "pending"
    PROCEEDING = "proceeding"
    COMPLETED = "completed"


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponseDecision:
    """What the proxy does after a response or a branch timeout.

    ``forward`` is the response to send upstream (its top Via already removed);
    ``cancel`` lists branches to CANCEL (RFC 3261 §16.7 step 10 and §16.10).
    """

    forward: Response | None = None
    cancel: tuple[Hashable, ...] = ()


# RFC 3261 §16.7 step 6: "The proxy SHOULD give preference to responses that provide information
# affecting resubmission of this request, such as 401, 407, 415, 420, and 484 if the 4xx class
# is chosen."
_PREFERRED_4XX = (407, 401, 415, 420, 484)


@dataclass(slots=True)
class ResponseContext:
    """The response context of one proxied request (RFC 3261 §16.7), free of I/O.

    Add a branch for each client transaction, feed responses and timeouts in; it answers with
    :class:`ResponseDecision` values. It never sees the transport.
    """

    request: Request
    branches: dict[Hashable, BranchOutcome] = field(default_factory=dict)
    finals: list[Response] = field(default_factory=list)
    final_sent: bool = False
    forwarded_success: bool = False

    def add_branch(self, key: Hashable) -> None:
        if self.final_sent and not self.forwarded_success:
            raise ValueError("no new branches after the final response was sent")
        self.branches[key] = BranchOutcome.PENDING

    def retire(self, key: Hashable) -> None:
        """Forget a branch whose request is being sent again as another branch (with
        credentials, say): its final response no longer counts."""
        self.branches.pop(key, None)

    @property
    def complete(self) -> bool:
        return all(o is BranchOutcome.COMPLETED for o in self.branches.values())

    def pending(self) -> tuple[Hashable, ...]:
        return tuple(k for k, o in self.branches.items() if o is not BranchOutcome.COMPLETED)

    def on_response(self, key: Hashable, response: Response) -> ResponseDecision:
        """A response arrived on branch ``key`` (it still carries our Via on top)."""
        if key not in self.branches:
            return ResponseDecision()
        upstream = strip_top_via(response)
        status = response.status
        if status < 200:
            self.branches[key] = BranchOutcome.PROCEEDING
            # Step 5: "Any provisional response other than 100 (Trying) MUST be forwarded
            # upstream immediately." Not after a final answer.
            if status == 100 or upstream is None or self.final_sent:
                return ResponseDecision()
            return ResponseDecision(forward=upstream)
        self.branches[key] = BranchOutcome.COMPLETED
        if 200 <= status < 300:
            # Step 5: "Any 2xx response ... MUST be forwarded upstream immediately", even after
            # another 2xx (forking can give several), and the other branches are cancelled.
            self.final_sent = True
            self.forwarded_success = True
            return ResponseDecision(forward=upstream, cancel=self.pending())
        if self.final_sent:
            return ResponseDecision()
        self.finals.append(response)
        cancel: tuple[Hashable, ...] = ()
        if status >= 600:
            # §16.7 step 5 with §16.10: a 6xx ends the search; cancel the rest.
            cancel = self.pending()
        if self.complete:
            return ResponseDecision(forward=self._best(), cancel=cancel)
        return ResponseDecision(cancel=cancel)

    def on_timeout(self, key: Hashable) -> ResponseDecision:
        """A branch's client transaction timed out: it counts as a 408 (RFC 3261 §16.7 step 2)."""
        if key not in self.branches or self.branches[key] is BranchOutcome.COMPLETED:
            return ResponseDecision()
        self.branches[key] = BranchOutcome.COMPLETED
        if self.final_sent or not self.complete:
            return ResponseDecision()
        return ResponseDecision(forward=self._best())

    def _best(self) -> Response:
        self.final_sent = True
        finals = self.finals
        if not finals:
            return make_response(self.request, StatusCode.REQUEST_TIMEOUT)
        six = [r for r in finals if r.status >= 600]
        if six:
            chosen = six[0]
        else:
            lowest = min(r.status // 100 for r in finals)
            candidates = [r for r in finals if r.status // 100 == lowest]
            chosen = min(candidates, key=_preference)
        # Step 6: "If the selected response is 503 (Service Unavailable), the proxy MUST generate
        # a 500 (Server Internal Error) response instead" (RFC 3261 §16.7 step 6 with §21.5.4).
        if chosen.status == 503:
            return make_response(self.request, StatusCode.SERVER_INTERNAL_ERROR)
        upstream = strip_top_via(chosen)
        if upstream is None:
            return make_response(self.request, chosen.status, chosen.reason)
        if chosen.status in (401, 407):
            upstream = _aggregate_challenges(upstream, finals)
        return upstream


def _preference(response: Response) -> tuple[int, int]:
    status = response.status
    rank = _PREFERRED_4XX.index(status) if status in _PREFERRED_4XX else len(_PREFERRED_4XX)
    return rank, status


def _aggregate_challenges(chosen: Response, finals: list[Response]) -> Response:
    """RFC 3261 §16.7 step 7: "the proxy MUST collect any WWW-Authenticate and
    Proxy-Authenticate header field values from all other 401 (Unauthorized) and 407 (Proxy
    Authentication Required) responses received so far in this response context and add them to
    this response without modification before forwarding"."""
    headers = chosen.headers
    seen = set(headers.get_all("WWW-Authenticate")) | set(headers.get_all("Proxy-Authenticate"))
    for other in finals:
        if other.status not in (401, 407):
            continue
        for name in ("WWW-Authenticate", "Proxy-Authenticate"):
            for value in other.headers.get_all(name):
                if value not in seen:
                    seen.add(value)
                    headers = headers.with_added(name, value)
    return replace(chosen, headers=headers)
