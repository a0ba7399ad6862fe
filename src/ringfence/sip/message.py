"""SIP requests and responses as immutable values with lazily parsed, cached accessors.

A message holds its start line, its header fields raw (:class:`Headers`) and its body. Typed
views such as :attr:`Message.via` or :attr:`Message.cseq` are parsed on first use and cached, so a
proxy that reads only Via, Route and Max-Forwards never parses SDP or authorisation headers.
An accessor raises :class:`ParseError` when the header it reads is malformed;
:meth:`Message.validate` reads them all, which is what a full parse does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Self, TypeVar, cast

from ringfence.errors import ParseError
from ringfence.sip.digest import Challenge, Credentials, parse_challenge, parse_credentials
from ringfence.sip.grammar import is_token, split_commas
from ringfence.sip.headers import (
    CSeq,
    Headers,
    MediaType,
    NameAddr,
    Via,
    canonical_name,
    header_key,
    parse_call_id,
    parse_cseq,
    parse_media_type,
    parse_name_addr,
    parse_uint,
    parse_via,
)
from ringfence.sip.status import StatusCode
from ringfence.sip.uri import Uri, parse_uri

__all__ = ["ANSWER_HEADERS", "KNOWN_METHODS", "Message", "Request", "Response", "make_response"]

T = TypeVar("T")

#: Methods of RFC 3261 and its registered extensions.
KNOWN_METHODS = frozenset(
    {
        "INVITE",
        "ACK",
        "BYE",
        "CANCEL",
        "OPTIONS",
        "REGISTER",
        "PRACK",
        "SUBSCRIBE",
        "NOTIFY",
        "PUBLISH",
        "INFO",
        "REFER",
        "MESSAGE",
        "UPDATE",
    }
)

#: The header fields a response copies from its request (RFC 3261 §8.2.6.2).
ANSWER_HEADERS = ("via", "from", "to", "call-id", "cseq")

# Header fields that may appear at most once (RFC 4475 §3.3.8 and §3.3.9).
_SINGLE = (
    "from",
    "to",
    "call-id",
    "cseq",
    "max-forwards",
    "content-length",
    "content-type",
    "expires",
)
_MAX_FORWARDS_LIMIT = 255  # RFC 3261 §20.22 allows 0-255
_DELTA_SECONDS_LIMIT = 2**32 - 1  # RFC 3261 §20.19


_MISSING = object()


@dataclass(frozen=True, slots=True, kw_only=True)
class Message:
    """What requests and responses share: header fields, body and the typed accessors."""

    headers: Headers
    body: bytes = b""
    version: str = "SIP/2.0"
    _cache: dict[str, object] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False
    )

    # -- plumbing -------------------------------------------------------------------------

    def _memo(self, key: str, compute: Callable[[], T]) -> T:
        cached = self._cache.get(key, _MISSING)
        if cached is not _MISSING:
            return cast(T, cached)
        try:
            value = compute()
        except ParseError as error:
            raise error.with_context(
                headers=self.answer_fields(), is_request=isinstance(self, Request)
            ) from error
        self._cache[key] = value
        return value

    def with_top_via(self, via: Via) -> Self:
        """This message with its first Via element replaced by ``via`` (a proxy stamping
        received/rport, say). What was parsed already carries over, except the Via values."""
        headers = self.headers.without_first_element("Via").with_added("Via", str(via), first=True)
        changed = replace(self, headers=headers)
        cache = changed._cache
        cache.update(self._cache)
        cache["top_via"] = via
        vias = self._cache.get("via")
        if vias is not None:
            cache["via"] = (via, *cast(tuple[Via, ...], vias)[1:])
        return changed

    def forget_parsed(self) -> None:
        """Drop the typed values parsed so far; an accessor parses its header again if asked.

        A transaction that only waits out a timer keeps its messages for 32 s or more; shedding
        their parsed values keeps the live objects few, and the garbage collector's passes short.
        """
        self._cache.clear()

    def _single(self, name: str) -> str | None:
        # The first field; a repeated single-value header is refused by validate() (a full
        # parse), which checks them all at once, so the lazy path does not pay for it here.
        return self.headers.get(name)

    def _required(self, name: str) -> str:
        value = self._single(name)
        if value is None:
            raise ParseError(f"missing {name} header")
        return value

    def _fail(self, reason: str) -> ParseError:
        """A ParseError for this message that carries what is needed to answer it."""
        return ParseError(reason).with_context(
            headers=self.answer_fields(), is_request=isinstance(self, Request)
        )

    def answer_fields(self) -> tuple[tuple[str, str], ...]:
        """The raw Via, From, To, Call-ID and CSeq fields a response copies (§8.2.6.2)."""
        return tuple(f for f in self.headers.fields if header_key(f[0]) in ANSWER_HEADERS)

    # -- the accessors ----------------------------------------------------------------------

    @property
    def via(self) -> tuple[Via, ...]:
        """Every Via element, topmost first (RFC 3261 §20.42)."""
        return self._memo("via", lambda: tuple(parse_via(v) for v in self.headers.elements("via")))

    @property
    def top_via(self) -> Via:
        """The topmost Via element; it names the transaction (RFC 3261 §17.1.3)."""

        def compute() -> Via:
            first = self.headers.get("via")
            if first is None:
                raise ParseError("missing Via header")
            return parse_via(next(iter(split_commas(first))))

        return self._memo("top_via", compute)

    @property
    def from_(self) -> NameAddr:
        return self._memo("from", lambda: parse_name_addr(self._required("From")))

    @property
    def to(self) -> NameAddr:
        return self._memo("to", lambda: parse_name_addr(self._required("To")))

    @property
    def call_id(self) -> str:
        return self._memo("call-id", lambda: parse_call_id(self._required("Call-ID")))

    @property
    def cseq(self) -> CSeq:
        return self._memo("cseq", lambda: parse_cseq(self._required("CSeq")))

    @property
    def max_forwards(self) -> int | None:
        def compute() -> int | None:
            value = self._single("Max-Forwards")
            if value is None:
                return None
            return parse_uint(value, "Max-Forwards", _MAX_FORWARDS_LIMIT)

        return self._memo("max-forwards", compute)

    @property
    def expires(self) -> int | None:
        def compute() -> int | None:
            value = self._single("Expires")
            if value is None:
                return None
            return parse_uint(value, "Expires", _DELTA_SECONDS_LIMIT)

        return self._memo("expires", compute)

    @property
    def content_length(self) -> int | None:
        def compute() -> int | None:
            value = self._single("Content-Length")
            if value is None:
                return None
            return parse_uint(value, "Content-Length", 2**31 - 1)

        return self._memo("content-length", compute)

    @property
    def content_type(self) -> MediaType | None:
        def compute() -> MediaType | None:
            value = self._single("Content-Type")
            return None if value is None else parse_media_type(value)

        return self._memo("content-type", compute)

    @property
    def accept(self) -> tuple[MediaType, ...]:
        return self._memo(
            "accept", lambda: tuple(parse_media_type(v) for v in self.headers.elements("Accept"))
        )

    @property
    def contact_is_wildcard(self) -> bool:
        """True for ``Contact: *`` (RFC 3261 §10.2.2, removal of all bindings)."""

        def compute() -> bool:
            elements = self.headers.elements("Contact")
            if "*" in elements:
                if len(elements) > 1:
                    raise ParseError("Contact '*' mixed with other contacts")
                return True
            return False

        return self._memo("contact*", compute)

    @property
    def contacts(self) -> tuple[NameAddr, ...]:
        """Contact addresses; empty for ``Contact: *`` (see :attr:`contact_is_wildcard`)."""

        def compute() -> tuple[NameAddr, ...]:
            if self.contact_is_wildcard:
                return ()
            return tuple(parse_name_addr(v) for v in self.headers.elements("Contact"))

        return self._memo("contact", compute)

    @property
    def routes(self) -> tuple[NameAddr, ...]:
        return self._memo(
            "route", lambda: tuple(parse_name_addr(v) for v in self.headers.elements("Route"))
        )

    @property
    def record_routes(self) -> tuple[NameAddr, ...]:
        return self._memo(
            "record-route",
            lambda: tuple(parse_name_addr(v) for v in self.headers.elements("Record-Route")),
        )

    @property
    def www_authenticate(self) -> tuple[Challenge, ...]:
        return self._memo("www-auth", lambda: self._challenges("WWW-Authenticate"))

    @property
    def proxy_authenticate(self) -> tuple[Challenge, ...]:
        return self._memo("proxy-auth", lambda: self._challenges("Proxy-Authenticate"))

    @property
    def authorization(self) -> tuple[Credentials, ...]:
        return self._memo(
            "authz",
            lambda: tuple(parse_credentials(v) for v in self.headers.get_all("Authorization")),
        )

    @property
    def proxy_authorization(self) -> tuple[Credentials, ...]:
        return self._memo(
            "proxy-authz",
            lambda: tuple(
                parse_credentials(v) for v in self.headers.get_all("Proxy-Authorization")
            ),
        )

    def _challenges(self, name: str) -> tuple[Challenge, ...]:
        return tuple(parse_challenge(v) for v in self.headers.get_all(name))

    def option_tags(self, name: str) -> tuple[str, ...]:
        """Option tags of Require, Proxy-Require, Supported or Unsupported (RFC 3261 §19.2)."""
        return self._memo(f"tags:{name.lower()}", lambda: self._tokens(name))

    def _tokens(self, name: str) -> tuple[str, ...]:
        tags = self.headers.elements(name)
        for tag in tags:
            if not is_token(tag):
                raise ParseError(f"bad option tag in {name}: {tag[:30]!r}")
        return tags

    # -- whole-message checks ------------------------------------------------------------------

    def validate(self) -> None:
        """Parse every header this core understands and check the message as a whole.

        Raise :class:`ParseError` (with what is needed to answer it) on the first fault.
        The Date header is not checked: RFC 4475 §3.1.2.12 lets an element that does not use
        Date accept a malformed one, and this core never uses it.
        """
        for name in self.headers.repeated():
            if name in _SINGLE:
                # RFC 4475 §3.3.8 and §3.3.9: repeated single-value fields get a 400.
                raise self._fail(f"more than one {canonical_name(name)} header")
        if not self.via:
            raise self._fail("missing Via header")
        _ = (self.from_, self.to, self.call_id, self.cseq)
        # The optional headers: only those present are read (an absent one has nothing to check).
        present = self.headers.keys()
        for key, read in _OPTIONAL_READERS:
            if key in present:
                read(self)

    # -- serialisation ------------------------------------------------------------------------

    def start_line(self) -> str:
        raise NotImplementedError

    def to_bytes(self) -> bytes:
        """Serialise: start line, header fields as held, a blank line and the body."""
        lines = [self.start_line()]
        lines.extend(f"{name}: {value}" for name, value in self.headers.fields)
        head = "\r\n".join(lines) + "\r\n\r\n"
        return head.encode("utf-8", "surrogateescape") + self.body

    def __bytes__(self) -> bytes:
        return self.to_bytes()

    # -- derived copies -----------------------------------------------------------------------

    def with_headers(self: M, headers: Headers) -> M:
        return replace(self, headers=headers)

    def with_body(self: M, body: bytes, content_type: str | None = None) -> M:
        """Replace the body and set Content-Length (and Content-Type when given)."""
        headers = self.headers.with_value("Content-Length", str(len(body)))
        if content_type is not None:
            headers = headers.with_value("Content-Type", content_type)
        elif not body:
            headers = headers.without("Content-Type")
        return replace(self, headers=headers, body=body)


M = TypeVar("M", bound=Message)


_OPTIONAL_READERS: tuple[tuple[str, Callable[[Message], object]], ...] = (
    ("max-forwards", lambda m: m.max_forwards),
    ("expires", lambda m: m.expires),
    ("content-length", lambda m: m.content_length),
    ("content-type", lambda m: m.content_type),
    ("accept", lambda m: m.accept),
    ("contact", lambda m: m.contacts),
    ("route", lambda m: m.routes),
    ("record-route", lambda m: m.record_routes),
    ("www-authenticate", lambda m: m.www_authenticate),
    ("proxy-authenticate", lambda m: m.proxy_authenticate),
    ("authorization", lambda m: m.authorization),
    ("proxy-authorization", lambda m: m.proxy_authorization),
    ("require", lambda m: m.option_tags("Require")),
    ("proxy-require", lambda m: m.option_tags("Proxy-Require")),
    ("supported", lambda m: m.option_tags("Supported")),
    ("unsupported", lambda m: m.option_tags("Unsupported")),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Request(Message):
    """A SIP request. ``request_uri`` is kept as written; :attr:`uri` is the parsed URI."""

    method: str
    request_uri: str

    @property
    def uri(self) -> Uri:
        return self._memo("ruri", lambda: parse_uri(self.request_uri))

    def start_line(self) -> str:
        return f"{self.method} {self.request_uri} {self.version}"

    def with_uri(self, uri: Uri | str) -> Request:
        return replace(self, request_uri=str(uri))

    def validate(self) -> None:
        Message.validate(self)
        uri = self.uri
        if getattr(uri, "headers", ()):
            # RFC 4475 §3.1.2.11: escaped headers in a Request-URI; RFC 3261 §19.1.5 forbids them.
            raise self._fail("Request-URI must not contain headers")
        if self.cseq.method != self.method:
            # RFC 4475 §3.1.2.17: start line and CSeq method must agree, or 400.
            # RFC 4475 §3.1.2.18: for an unknown method "choosing a 501 (particularly at
            # proxies) has better future-proof characteristics".
            error = self._fail("CSeq method does not match the request method")
            if self.method not in KNOWN_METHODS:
                error.status = 501
            raise error


@dataclass(frozen=True, slots=True, kw_only=True)
class Response(Message):
    """A SIP response."""

    status: int
    reason: str = ""

    @property
    def status_class(self) -> int:
        return self.status // 100

    @property
    def is_provisional(self) -> bool:
        return self.status < 200

    @property
    def is_final(self) -> bool:
        return self.status >= 200

    @property
    def is_success(self) -> bool:
        return 200 <= self.status < 300

    def start_line(self) -> str:
        return f"{self.version} {self.status} {self.reason}"


def make_response(
    request: Request,
    status: int,
    reason: str | None = None,
    *,
    to_tag: str | None = None,
    extra: Iterable[tuple[str, str]] = (),
    body: bytes = b"",
    copy_record_route: bool = False,
) -> Response:
    """Build a response to ``request`` as a UAS or a proxy core does (RFC 3261 §8.2.6).

    RFC 3261 §8.2.6.2: "The From field of the response MUST equal the From header field of the
    request. The Call-ID header field of the response MUST equal the Call-ID header field of the
    request. The CSeq header field of the response MUST equal the CSeq field of the request. The
    Via header field values in the response MUST equal the Via header field values in the request
    and MUST maintain the same ordering." A ``to_tag`` is added to To when it has none.
    """
    fields: list[tuple[str, str]] = []
    for name, value in request.headers.fields:
        key = header_key(name)
        if key == "to" and to_tag is not None and request.to.tag is None:
            fields.append((name, f"{value};tag={to_tag}"))
        elif key in ANSWER_HEADERS or (copy_record_route and key == "record-route"):
            fields.append((name, value))
        elif key == "timestamp" and status == StatusCode.TRYING:
            # RFC 3261 §8.2.6.1: a 100 copies the Timestamp header of the request.
            fields.append((name, value))
    # The body decides Content-Length, whatever ``extra`` says.
    fields.extend((n, v) for n, v in extra if header_key(n) != "content-length")
    fields.append(("Content-Length", str(len(body))))
    return Response(
        status=int(status),
        reason=StatusCode.phrase_for(status) if reason is None else reason,
        headers=Headers(tuple(fields)),
        body=body,
    )


# The parser builds requests and responses by writing their slots directly: the same values the
# dataclass constructors make, in about half the time.
_msg_new = object.__new__
_m_headers, _m_body, _m_version, _m_cache = (
    Message.__dict__[n].__set__ for n in ("headers", "body", "version", "_cache")
)
_r_method, _r_uri = (Request.__dict__[n].__set__ for n in ("method", "request_uri"))
_s_status, _s_reason = (Response.__dict__[n].__set__ for n in ("status", "reason"))


def new_request(method: str, request_uri: str, headers: Headers, body: bytes) -> Request:
    """A :class:`Request` as the parser makes it (the version is SIP/2.0)."""
    request: Request = _msg_new(Request)
    _m_headers(request, headers)
    _m_body(request, body)
    _m_version(request, "SIP/2.0")
    _m_cache(request, {})
    _r_method(request, method)
    _r_uri(request, request_uri)
    return request


def new_response(status: int, reason: str, headers: Headers, body: bytes) -> Response:
    """A :class:`Response` as the parser makes it (the version is SIP/2.0)."""
    response: Response = _msg_new(Response)
    _m_headers(response, headers)
    _m_body(response, body)
    _m_version(response, "SIP/2.0")
    _m_cache(response, {})
    _s_status(response, status)
    _s_reason(response, reason)
    return response
