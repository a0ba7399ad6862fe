"""The typed values read from header fields: Via, name-addr, CSeq, Call-ID, media types.

A message keeps its header fields raw (:class:`ringfence.sip.fields.Headers`, re-exported here);
these values are parsed only when someone asks for them, by the accessors on
:class:`ringfence.sip.message.Message`.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, replace

from ringfence.errors import ParseError
from ringfence.sip.fields import Headers, canonical_name, header_key
from ringfence.sip.grammar import (
    Params,
    format_params,
    has_param,
    is_token,
    param,
    parse_params,
    quote,
    quoted_end,
    unquote,
)
from ringfence.sip.uri import _IPV4, Uri, _check_host, parse_uri

__all__ = [
    "CSeq",
    "Headers",
    "MediaType",
    "NameAddr",
    "Via",
    "canonical_name",
    "header_key",
    "parse_call_id",
    "parse_cseq",
    "parse_media_type",
    "parse_name_addr",
    "parse_uint",
    "parse_via",
]

# --- Via ----------------------------------------------------------------------------------

_VIA = re.compile(
    r"([A-Za-z0-9\-.!%*_+`'~]+)[ \t]*/[ \t]*([A-Za-z0-9\-.!%*_+`'~]+)[ \t]*/[ \t]*"
    r"([A-Za-z0-9\-.!%*_+`'~]+)[ \t]+(\[[^\]]*\]|[^ \t:;]+)(?:[ \t]*:[ \t]*([0-9]{1,5}))?"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Via:
    """One Via element: ``SIP/2.0/UDP host:port;branch=...`` (RFC 3261 §20.42)."""

    protocol: str = "SIP"
    version: str = "2.0"
    transport: str
    host: str
    port: int | None = None
    params: Params = ()

    def param(self, name: str) -> str | None:
        return param(self.params, name)

    @property
    def branch(self) -> str | None:
        return self.param("branch")

    @property
    def received(self) -> str | None:
        return self.param("received")

    @property
    def rport_requested(self) -> bool:
        """True when the client asked for symmetric response routing (RFC 3581 §3)."""
        return has_param(self.params, "rport")

    @property
    def rport(self) -> int | None:
        """The port a server filled in (RFC 3581 §4), or ``None`` when empty or absent."""
        value = self.param("rport")
        return int(value) if value else None

    @property
    def sent_by(self) -> tuple[str, int | None]:
        return self.host, self.port

    def with_params(self, **values: str | None) -> Via:
        lowered = {k.lower() for k in values}
        kept = tuple((k, v) for k, v in self.params if k.lower() not in lowered)
        return replace(self, params=kept + tuple(values.items()))

    def __str__(self) -> str:
        port = "" if self.port is None else f":{self.port}"
        return (
            f"{self.protocol}/{self.version}/{self.transport} {self.host}{port}"
            f"{format_params(self.params)}"
        )


# The usual form in one pass: SIP/2.0/UDP, an IPv4 address or a name, a port, plain params.
_VIA_FAST = re.compile(
    r"SIP/2\.0/([A-Za-z]+) ([A-Za-z0-9][A-Za-z0-9\-.]*)(?::([0-9]{1,5}))?"
    r"((?:;(?:branch|rport|received|alias|[A-Za-z0-9\-.!%*_+`'~]+)(?:=[A-Za-z0-9\-.!%*_+`'~]+)?)*)"
)


def parse_via(text: str) -> Via:
    """Parse one Via element (already split from its neighbours)."""
    fast = _VIA_FAST.fullmatch(text)
    if fast is not None:
        transport, host, port_text, params_text = fast.groups()
        if host[-1] != "." and (not host[0].isdigit() or _IPV4.fullmatch(host)):
            params = (
                tuple(
                    (name, value if eq else None)
                    for name, eq, value in (p.partition("=") for p in params_text[1:].split(";"))
                )
                if params_text
                else ()
            )
            port = None if port_text is None else int(port_text)
            if (port is None or port <= 65535) and _via_params_fault(params) is None:
                return _new_via(transport.upper(), host, port, params)
    match = _VIA.match(text)
    if match is None:
        raise ParseError(f"bad Via: {text[:60]!r}")
    protocol, version, transport, host, port_text = match.groups()
    _check_host(host)
    port = None
    if port_text is not None:
        port = int(port_text)
        if port > 65535:
            raise ParseError("Via port out of range")
    params = parse_params(text[match.end() :])
    fault = _via_params_fault(params)
    if fault is not None:
        raise ParseError(fault)
    return Via(
        protocol=protocol,
        version=version,
        transport=transport.upper(),
        host=host,
        port=port,
        params=params,
    )


def _via_params_fault(params: Params) -> str | None:
    """What is wrong with the parameters of a Via, or ``None``."""
    for name, value in params:
        lowered = name.lower()
        if lowered == "received" and value is not None:
            address = value[1:-1] if value.startswith("[") and value.endswith("]") else value
            try:
                ipaddress.ip_address(address)
            except ValueError:
                return f"Via received is not an IP address: {value[:60]!r}"
        elif lowered == "rport" and value is not None and not _is_number(value, 65535):
            return "Via rport is not a port number"
        elif lowered == "ttl" and not (value and _is_number(value, 255)):
            return "Via ttl is not 0-255"
        elif lowered == "branch" and not value:
            return "empty Via branch"
    return None


def _is_number(text: str, limit: int) -> bool:
    return text.isascii() and text.isdigit() and len(text) <= 10 and int(text) <= limit


# --- name-addr / addr-spec ------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class NameAddr:
    """From, To, Contact, Route and Record-Route values (RFC 3261 §20.10, §20.20, §20.39)."""

    display_name: str | None = None
    uri: Uri
    params: Params = ()

    def param(self, name: str) -> str | None:
        return param(self.params, name)

    @property
    def tag(self) -> str | None:
        return self.param("tag")

    @property
    def expires(self) -> int | None:
        """The Contact ``expires`` parameter, if present and numeric."""
        value = self.param("expires")
        if value is None:
            return None
        return parse_uint(value, "Contact expires", 2**32 - 1)

    @property
    def q(self) -> float | None:
        """The Contact ``q`` parameter (0 to 1), if present."""
        value = self.param("q")
        if value is None:
            return None
        try:
            q = float(value)
        except ValueError:
            raise ParseError("Contact q is not a number") from None
        if not 0.0 <= q <= 1.0:
            raise ParseError("Contact q outside 0-1")
        return q

    def with_params(self, **values: str | None) -> NameAddr:
        lowered = {k.lower() for k in values}
        kept = tuple((k, v) for k, v in self.params if k.lower() not in lowered)
        return replace(self, params=kept + tuple(values.items()))

    def with_tag(self, tag: str) -> NameAddr:
        return self.with_params(tag=tag)

    def __str__(self) -> str:
        display = "" if self.display_name is None else quote(self.display_name) + " "
        return f"{display}<{self.uri}>{format_params(self.params)}"


def parse_name_addr(text: str) -> NameAddr:
    """Parse a name-addr or addr-spec followed by header parameters."""
    text = text.strip(" \t")
    if not text:
        raise ParseError("empty address")
    display: str | None = None
    if text[0] == '"':
        end = quoted_end(text, 0)
        display = unquote(text[:end])
        rest = text[end:].lstrip(" \t")
        if not rest.startswith("<"):
            raise ParseError("quoted display name without <URI>")
    else:
        lt = text.find("<")
        semi = text.find(";")
        if lt >= 0 and (semi < 0 or lt < semi):
            words = text[:lt].split()
            for word in words:
                if not is_token(word):
                    # RFC 4475 §3.1.2.15: an unquoted display name must be tokens.
                    raise ParseError(f"display name must be quoted: {text[:lt].strip()!r}")
            display = " ".join(words) or None
            rest = text[lt:]
        else:
            # RFC 3261 §20.10: "if the URI contains a comma, question mark or semicolon, the URI
            # MUST be enclosed in angle brackets"; so the first ";" starts the parameters.
            uri_text = (text if semi < 0 else text[:semi]).rstrip(" \t")
            if any(ch in uri_text for ch in "?, \t>"):
                raise ParseError(f"URI must be enclosed in <>: {uri_text[:60]!r}")
            params = _address_params(text[semi:]) if semi >= 0 else ()
            return _new_name_addr(None, parse_uri(uri_text), params)
    close = rest.find(">")
    if close < 0:
        raise ParseError("'<' without a matching '>'")
    uri_text = rest[1:close]
    if uri_text != uri_text.strip(" \t"):
        # RFC 4475 §3.1.2.14: no LWS inside the angle brackets.
        raise ParseError("whitespace inside <URI>")
    return _new_name_addr(display, parse_uri(uri_text), _address_params(rest[close + 1 :]))


def _address_params(text: str) -> Params:
    return parse_params(text) if text.strip(" \t") else ()


# --- scalars ---------------------------------------------------------------------------------


def parse_uint(text: str, what: str, limit: int) -> int:
    """Parse a decimal scalar with an upper bound (RFC 4475 §3.1.2.4 overlarge values)."""
    stripped = text.strip(" \t")
    if not stripped.isdigit() or not stripped.isascii():
        raise ParseError(f"{what} is not a number: {stripped[:30]!r}")
    if len(stripped) > 12 or int(stripped) > limit:
        raise ParseError(f"{what} is too large")
    return int(stripped)


@dataclass(frozen=True, slots=True, kw_only=True)
class CSeq:
    """The CSeq header (RFC 3261 §20.16)."""

    number: int
    method: str

    def __str__(self) -> str:
        return f"{self.number} {self.method}"


_CSEQ = re.compile(r"[ \t]*([0-9]+)[ \t]+([A-Za-z0-9\-.!%*_+`'~]+)[ \t]*")


def parse_cseq(text: str) -> CSeq:
    match = _CSEQ.fullmatch(text)
    if match is None:
        raise ParseError(f"bad CSeq: {text[:40]!r}")
    # RFC 3261 §8.1.1.5: "The sequence number value MUST be expressible as a 32-bit unsigned
    # integer and MUST be less than 2**31."
    number = parse_uint(match.group(1), "CSeq number", 2**31 - 1)
    return _new_cseq(number, match.group(2))


# RFC 3261 §25.1: word = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" /
# "~" / "(" / ")" / "<" / ">" / ":" / "\" / DQUOTE / "/" / "[" / "]" / "?" / "{" / "}")
_CALL_ID = re.compile(
    r"[A-Za-z0-9\-.!%*_+`'~()<>:\\\"/\[\]?{}]+(?:@[A-Za-z0-9\-.!%*_+`'~()<>:\\\"/\[\]?{}]+)?"
)


def parse_call_id(text: str) -> str:
    value = text.strip(" \t")
    if _CALL_ID.fullmatch(value) is None:
        raise ParseError(f"bad Call-ID: {value[:40]!r}")
    return value


# --- media types -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class MediaType:
    """A media type or media range (Content-Type, Accept; RFC 3261 §20.1, §20.15)."""

    type: str
    subtype: str
    params: Params = ()

    @property
    def essence(self) -> str:
        """``type/subtype`` in lower case, without parameters."""
        return f"{self.type}/{self.subtype}".lower()

    def matches(self, other: MediaType) -> bool:
        """True when this range (``*/*``, ``type/*`` or exact) accepts ``other``."""
        if self.type == "*":
            return True
        if self.type.lower() != other.type.lower():
            return False
        return self.subtype == "*" or self.subtype.lower() == other.subtype.lower()

    def __str__(self) -> str:
        return f"{self.type}/{self.subtype}{format_params(self.params)}"


_MEDIA = re.compile(r"[ \t]*([A-Za-z0-9\-.!%*_+`'~]+)[ \t]*/[ \t]*([A-Za-z0-9\-.!%*_+`'~]+)")


def parse_media_type(text: str) -> MediaType:
    match = _MEDIA.match(text)
    if match is None:
        raise ParseError(f"bad media type: {text[:40]!r}")
    return MediaType(
        type=match.group(1), subtype=match.group(2), params=parse_params(text[match.end() :])
    )


# The parser builds these hot values by writing their slots directly: the same values the
# dataclass constructors make, in about half the time.
_new = object.__new__
_na_display, _na_uri, _na_params = (
    NameAddr.__dict__[n].__set__ for n in ("display_name", "uri", "params")
)
_via_protocol, _via_version, _via_transport, _via_host, _via_port, _via_params = (
    Via.__dict__[n].__set__ for n in ("protocol", "version", "transport", "host", "port", "params")
)
_cseq_number, _cseq_method = (CSeq.__dict__[n].__set__ for n in ("number", "method"))


def _new_name_addr(display: str | None, uri: Uri, params: Params) -> NameAddr:
    address: NameAddr = _new(NameAddr)
    _na_display(address, display)
    _na_uri(address, uri)
    _na_params(address, params)
    return address


def _new_via(transport: str, host: str, port: int | None, params: Params) -> Via:
    via: Via = _new(Via)
    _via_protocol(via, "SIP")
    _via_version(via, "2.0")
    _via_transport(via, transport)
    _via_host(via, host)
    _via_port(via, port)
    _via_params(via, params)
    return via


def _new_cseq(number: int, method: str) -> CSeq:
    cseq: CSeq = _new(CSeq)
    _cseq_number(cseq, number)
    _cseq_method(cseq, method)
    return cseq
