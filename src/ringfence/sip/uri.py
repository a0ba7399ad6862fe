"""SIP, SIPS and tel URIs (RFC 3261 §19.1, RFC 3966), with RFC 3261 §19.1.4 equality.

Components are kept as written (escaped), so that a URI serialises back to the same text.
Comparison decodes escapes first, as §19.1.4 requires.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from dataclasses import dataclass, field, replace
from typing import TypeAlias

from ringfence.errors import ParseError
from ringfence.sip.grammar import Params, format_params, has_param, param, unescape

__all__ = [
    "AbsoluteUri",
    "SipUri",
    "TelUri",
    "Uri",
    "canonical_host",
    "forget_parsed_uris",
    "parse_uri",
]

MAX_URI_LENGTH = 4096

# RFC 3261 §25.1: unreserved, escaped and the user-unreserved marks.
_USER = re.compile(r"(?:[A-Za-z0-9\-_.!~*'()&=+$,;?/]|%[0-9A-Fa-f]{2})+")
_PASSWORD = re.compile(r"(?:[A-Za-z0-9\-_.!~*'()&=+$,]|%[0-9A-Fa-f]{2})*")
# paramchar = param-unreserved / unreserved / escaped
_PARAMCHARS = re.compile(r"(?:[\[\]/:&+$A-Za-z0-9\-_.!~*'()]|%[0-9A-Fa-f]{2})+")
# hname / hvalue = hnv-unreserved / unreserved / escaped (hvalue may be empty)
_HCHARS = re.compile(r"(?:[\[\]/?:+$A-Za-z0-9\-_.!~*'()]|%[0-9A-Fa-f]{2})*")
# Interop: an underscore is not legal in a hostname, but Windows hosts and some gateways send it.
_HOSTNAME = re.compile(
    r"[A-Za-z0-9](?:[A-Za-z0-9\-_]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-_]*[A-Za-z0-9])?)*\.?"
)
_IPV4 = re.compile(
    r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(?:\.(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}"
)
_HOSTPORT = re.compile(r"(\[[^\]]*\]|[^:;?\[\]]+)(?::([0-9]{1,5}))?", re.S)
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+\-.]*")
# RFC 3966 §3: global numbers start with "+", visual separators are "-", "." and "(" ")".
_TEL_NUMBER = re.compile(r"\+?[0-9A-Fa-f*#\-.()]+")
_VISUAL = re.compile(r"[\-.()]")

# RFC 3261 §19.1.4: "A URI omitting any component with a default value will not match a URI
# explicitly containing that component with its default value." For these parameters,
# "any present in one URI MUST be present in the other, and MUST match".
_STRICT_PARAMS = ("user", "ttl", "method", "maddr", "transport")


def canonical_host(host: str) -> str:
    """Lower-case a host and put a bracketed IPv6 reference into its canonical text form."""
    lowered = host.lower()
    if lowered.startswith("["):
        try:
            return "[" + ipaddress.IPv6Address(lowered[1:-1]).compressed + "]"
        except ValueError:
            return lowered
    return lowered


def _check_host(host: str) -> None:
    if host.startswith("["):
        # RFC 5118 §4.5: an IPv6 reference may end in an embedded IPv4 address.
        if not host.endswith("]"):
            raise ParseError(f"unterminated IPv6 reference {host!r}")
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            raise ParseError(f"bad IPv6 reference {host!r}") from None
        return
    if _IPV4.fullmatch(host) is None and _HOSTNAME.fullmatch(host) is None:
        raise ParseError(f"bad host {host!r}")


def _parse_uri_params(text: str) -> Params:
    if not text:
        return ()
    out: list[tuple[str, str | None]] = []
    for piece in text[1:].split(";"):
        name, eq, value = piece.partition("=")
        if _PARAMCHARS.fullmatch(name) is None:
            raise ParseError(f"bad URI parameter {piece!r}" if piece else "empty URI parameter")
        if eq and _PARAMCHARS.fullmatch(value) is None:
            raise ParseError(f"bad value for URI parameter {name!r}")
        out.append((name, value if eq else None))
    return tuple(out)


def _parse_uri_headers(text: str | None) -> tuple[tuple[str, str], ...]:
    if text is None:
        return ()
    out: list[tuple[str, str]] = []
    for piece in text.split("&"):
        name, eq, value = piece.partition("=")
        if not eq or not name or _HCHARS.fullmatch(name) is None:
            raise ParseError(f"bad URI header {piece!r}")
        if _HCHARS.fullmatch(value) is None:
            raise ParseError(f"bad value for URI header {name!r}")
        out.append((name, value))
    return tuple(out)


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class SipUri:
    """A ``sip:`` or ``sips:`` URI. ``user``, ``password``, parameters and headers stay escaped."""

    scheme: str = "sip"
    user: str | None = None
    password: str | None = None
    host: str
    port: int | None = None
    params: Params = ()
    headers: tuple[tuple[str, str], ...] = ()
    _key: tuple[object, ...] | None = field(default=None, init=False, repr=False, compare=False)

    def _cmp_key(self) -> tuple[object, ...]:
        """Scheme, unescaped userinfo, canonical host and port: computed once, when compared."""
        key = self._key
        if key is None:
            key = (
                self.scheme.lower(),
                None if self.user is None else unescape(self.user),
                None if self.password is None else unescape(self.password),
                canonical_host(self.host),
                self.port,
            )
            object.__setattr__(self, "_key", key)
        return key

    @property
    def secure(self) -> bool:
        return self.scheme.lower() == "sips"

    def param(self, name: str) -> str | None:
        """Value of a URI parameter (``""`` for a flag such as ``lr``), or ``None``."""
        return param(self.params, name)

    def has_param(self, name: str) -> bool:
        return has_param(self.params, name)

    @property
    def transport(self) -> str | None:
        value = self.param("transport")
        return value.lower() if value else None

    @property
    def loose_route(self) -> bool:
        """True for a loose router (RFC 3261 §19.1.1: the ``lr`` parameter)."""
        return self.has_param("lr")

    @property
    def user_unescaped(self) -> str | None:
        return None if self.user is None else unescape(self.user)

    def with_params(self, **values: str | None) -> SipUri:
        """Return a copy with the named parameters set (``None`` makes a flag)."""
        lowered = {k.lower() for k in values}
        kept = tuple((k, v) for k, v in self.params if k.lower() not in lowered)
        return replace(self, params=kept + tuple(values.items()))

    def without_params(self, *names: str) -> SipUri:
        lowered = {n.lower() for n in names}
        return replace(
            self, params=tuple((k, v) for k, v in self.params if k.lower() not in lowered)
        )

    def aor(self) -> SipUri:
        """The address-of-record form: scheme, user and host only (RFC 3261 §10.3 step 5)."""
        return SipUri(scheme=self.scheme.lower(), user=self.user, host=self.host.lower())

    def __str__(self) -> str:
        userinfo = ""
        if self.user is not None:
            userinfo = self.user
            if self.password is not None:
                userinfo += ":" + self.password
            userinfo += "@"
        port = "" if self.port is None else f":{self.port}"
        headers = ""
        if self.headers:
            headers = "?" + "&".join(f"{k}={v}" for k, v in self.headers)
        return f"{self.scheme}:{userinfo}{self.host}{port}{format_params(self.params)}{headers}"

    def __eq__(self, other: object) -> bool:
        # RFC 3261 §19.1.4 comparison rules.
        if not isinstance(other, SipUri):
            return NotImplemented
        if self._cmp_key() != other._cmp_key():
            return False
        mine = {k.lower(): unescape(v).lower() if v else "" for k, v in self.params}
        theirs = {k.lower(): unescape(v).lower() if v else "" for k, v in other.params}
        for name in _STRICT_PARAMS:
            if mine.get(name) != theirs.get(name):
                return False
        for name in mine.keys() & theirs.keys():
            if mine[name] != theirs[name]:
                return False
        # RFC 3261 §19.1.4: "URI header components are never ignored."
        my_headers = sorted((k.lower(), unescape(v)) for k, v in self.headers)
        their_headers = sorted((k.lower(), unescape(v)) for k, v in other.headers)
        return my_headers == their_headers

    def __hash__(self) -> int:
        return hash(self._cmp_key())


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class TelUri:
    """A ``tel:`` URI (RFC 3966). ``number`` is kept as written, visual separators included."""

    number: str
    params: Params = ()

    @property
    def is_global(self) -> bool:
        return self.number.startswith("+")

    @property
    def digits(self) -> str:
        """The number without visual separators, as RFC 3966 §4 compares it."""
        return _VISUAL.sub("", self.number).upper()

    def param(self, name: str) -> str | None:
        return param(self.params, name)

    def __str__(self) -> str:
        return f"tel:{self.number}{format_params(self.params)}"

    def _cmp_key(self) -> tuple[str, frozenset[tuple[str, str]]]:
        return self.digits, frozenset((k.lower(), (v or "").lower()) for k, v in self.params)

    def __eq__(self, other: object) -> bool:
        # RFC 3966 §4: numbers compare without visual separators; parameters in any order.
        if not isinstance(other, TelUri):
            return NotImplemented
        return self._cmp_key() == other._cmp_key()

    def __hash__(self) -> int:
        return hash(self.digits)


@dataclass(frozen=True, slots=True, kw_only=True)
class AbsoluteUri:
    """A URI of a scheme this core does not interpret, kept opaque (RFC 3261 §19: absoluteURI).

    The application answers a request whose Request-URI is one of these with 416 Unsupported URI
    Scheme (RFC 3261 §8.2.2.1); in other header fields it is carried as is (RFC 4475 §3.3.4).
    """

    scheme: str
    opaque: str

    def __str__(self) -> str:
        return f"{self.scheme}:{self.opaque}"


Uri: TypeAlias = SipUri | TelUri | AbsoluteUri

# The parser's fast path builds SipUri values by writing their slots directly: the same values
# the dataclass constructor makes, in half the time (this is the hottest object of a parse).
_sip_new = object.__new__
_set_scheme, _set_user, _set_password, _set_host, _set_port, _set_params, _set_headers, _set_key = (
    SipUri.__dict__[name].__set__
    for name in ("scheme", "user", "password", "host", "port", "params", "headers", "_key")
)


def _new_sip_uri(
    scheme: str, user: str | None, host: str, port: int | None, params: Params
) -> SipUri:
    uri: SipUri = _sip_new(SipUri)
    _set_scheme(uri, scheme)
    _set_user(uri, user)
    _set_password(uri, None)
    _set_host(uri, host)
    _set_port(uri, port)
    _set_params(uri, params)
    _set_headers(uri, ())
    _set_key(uri, None)
    return uri


def parse_uri(text: str) -> Uri:
    """Parse a URI. Raise :class:`ParseError` saying what is wrong.

    What follows the user part of a SIP URI is memoised (bounded; URIs are immutable values):
    the host, port and parameters of a phone's URIs (the server's domain, its Contact's
    address) repeat on every request it sends. The user part is read afresh every time: a memo
    keyed on the whole URI would answer a request naming a user in use sooner than one naming
    a user never seen, and so tell an attacker timing the answers which extensions have live
    phones (issue 6, ``bench/enumeration_timing.py``). A fault is never memoised.
    """
    if len(text) > MAX_URI_LENGTH:
        raise ParseError("URI too long")
    scheme, colon, rest = text.partition(":")
    at = rest.find("@")
    if at >= 0 and colon and scheme.lower() in ("sip", "sips"):
        # RFC 3261 §25.1: "@" may appear unescaped only after the userinfo.
        return _with_userinfo(_sip_memo(scheme, rest[at + 1 :]), rest[:at])
    return _parse_memo(text)


def forget_parsed_uris() -> None:
    """Empty the memo of :func:`parse_uri` (benchmarks of the cold path)."""
    _parse_memo.cache_clear()
    _sip_memo.cache_clear()


def _with_userinfo(base: SipUri, userinfo: str) -> SipUri:
    user_text, colon, pw = userinfo.partition(":")
    if _USER.fullmatch(user_text) is None:
        raise ParseError(f"bad user part in URI: {user_text[:60]!r}")
    if colon and _PASSWORD.fullmatch(pw) is None:
        raise ParseError("bad password part in URI")
    uri: SipUri = _sip_new(SipUri)
    _set_scheme(uri, base.scheme)
    _set_user(uri, user_text)
    _set_password(uri, pw if colon else None)
    _set_host(uri, base.host)
    _set_port(uri, base.port)
    _set_params(uri, base.params)
    _set_headers(uri, base.headers)
    _set_key(uri, None)
    return uri


@functools.lru_cache(maxsize=4096)
def _sip_memo(scheme: str, hostpart: str) -> SipUri:
    """A SIP URI after its userinfo (``host:port;params?headers``)."""
    return _parse_sip(scheme, hostpart)


@functools.lru_cache(maxsize=4096)
def _parse_memo(text: str) -> Uri:
    scheme, colon, rest = text.partition(":")
    if not colon or _SCHEME.fullmatch(scheme) is None:
        raise ParseError(f"not a URI: {text[:60]!r}")
    lowered = scheme.lower()
    if lowered in ("sip", "sips"):
        return _parse_sip(scheme, rest)
    if lowered == "tel":
        return _parse_tel(rest)
    if not rest or any(ch in rest for ch in ' \t\r\n<>"'):
        raise ParseError(f"bad {scheme} URI")
    return AbsoluteUri(scheme=scheme, opaque=rest)


# The common case in one pass: plain user, hostname or IPv4, port, simple parameters.
_FAST_SIP = re.compile(
    r"(?:([A-Za-z0-9\-_.!~*'()&=+$,/]+)@)?"
    r"([A-Za-z](?:[A-Za-z0-9\-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?)*"
    r"|(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(?:\.(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3})"
    r"(?::([0-9]{1,5}))?"
    r"((?:;[A-Za-z0-9\-_.!~*'()\[\]/:&+$]+(?:=[A-Za-z0-9\-_.!~*'()\[\]/:&+$]+)?)*)"
)


def _parse_sip(scheme: str, rest: str) -> SipUri:
    port: int | None
    fast = _FAST_SIP.fullmatch(rest)
    if fast is not None:
        user, host, port_text, params_text = fast.groups()
        port = None if port_text is None else int(port_text)
        if port is None or port <= 65535:
            params: list[tuple[str, str | None]] = []
            if params_text:
                for piece in params_text[1:].split(";"):
                    name, eq, value = piece.partition("=")
                    params.append((name, value if eq else None))
            return _new_sip_uri(scheme, user, host, port, tuple(params))
    user = None
    password: str | None = None
    at = rest.find("@")
    if at >= 0:
        userinfo, rest = rest[:at], rest[at + 1 :]
        user_text, colon, pw = userinfo.partition(":")
        if _USER.fullmatch(user_text) is None:
            raise ParseError(f"bad user part in URI: {user_text[:60]!r}")
        user = user_text
        if colon:
            if _PASSWORD.fullmatch(pw) is None:
                raise ParseError("bad password part in URI")
            password = pw
    match = _HOSTPORT.match(rest)
    if match is None:
        raise ParseError(f"bad host in URI: {rest[:60]!r}")
    host, port_text = match.group(1), match.group(2)
    _check_host(host)
    tail = rest[match.end() :]
    headers_text: str | None = None
    qmark = tail.find("?")
    if qmark >= 0:
        tail, headers_text = tail[:qmark], tail[qmark + 1 :]
    if tail and tail[0] != ";":
        raise ParseError(f"unexpected text after host in URI: {tail[:40]!r}")
    port = None
    if port_text is not None:
        port = int(port_text)
        if port > 65535:
            raise ParseError("URI port out of range")
    return SipUri(
        scheme=scheme,
        user=user,
        password=password,
        host=host,
        port=port,
        params=_parse_uri_params(tail),
        headers=_parse_uri_headers(headers_text),
    )


def _parse_tel(rest: str) -> TelUri:
    number, _, params_text = rest.partition(";")
    if _TEL_NUMBER.fullmatch(number) is None:
        raise ParseError(f"bad tel URI number {number[:40]!r}")
    params = _parse_uri_params(";" + params_text) if params_text else ()
    # RFC 3966 §5.1.5: "local numbers MUST have a 'phone-context' parameter". Real phones often
    # leave it out; we accept such a number and let the dial plan decide what it means.
    return TelUri(number=number, params=params)
