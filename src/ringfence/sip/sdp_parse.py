"""The line level of SDP (RFC 8866): the values one line carries, and reading a body into lines.

:func:`ringfence.sip.sdp.parse_sdp` reads a body in two steps. This module takes the first: it
splits the body into lines, checks their order (RFC 8866 §5) and reads every line of the session
section and of each media section into its value (:class:`Origin`, :class:`Connection`,
:class:`Bandwidth`, :class:`TimeDescription`, :class:`Attribute`, or text kept as written).
:mod:`ringfence.sip.sdp` then builds the media and session descriptions from those values.

The lexical checks that every SDP value object validates with (tokens, text, numbers, addresses)
live here as well, so that this module needs nothing from :mod:`ringfence.sip.sdp`: the import
goes one way only. Import the public names from :mod:`ringfence.sip.sdp`, which re-exports them.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import Enum
from typing import Any, NamedTuple

from ringfence.errors import ParseError

__all__ = [
    "AddrType",
    "Attribute",
    "Bandwidth",
    "Connection",
    "NetType",
    "Origin",
    "TimeDescription",
]

_TOKEN = re.compile(r"[A-Za-z0-9!#$%&'*+\-.^_`{|}~]+")
_HOSTNAME = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)*[A-Za-z][A-Za-z0-9-]*\.?")
_SESSION_ORDER = "vosiuepcbtrzka"  # RFC 8866 §5: the order of session-level lines
_SESSION_REPEATS = "epbtra"
_MEDIA_ORDER = "micbka"  # RFC 8866 §5: the order of lines in a media description
_MEDIA_REPEATS = "cba"


class NetType(Enum):
    """``<nettype>``: RFC 8866 defines only ``IN``; other network types are refused."""

    IN = "IN"


class AddrType(Enum):
    """``<addrtype>`` for the ``IN`` network type."""

    IP4 = "IP4"
    IP6 = "IP6"


def _show(text: str) -> str:
    return repr(text[:40])


def _token(value: str, what: str, pattern: re.Pattern[str] = _TOKEN) -> None:
    if not pattern.fullmatch(value):
        raise ValueError(f"{what} {_show(value)} is not a valid token")


def _text(value: str | None, what: str) -> None:
    # RFC 8866 §5: text fields "may contain any octet with the exceptions of 0x00 (Nul),
    # 0x0a (ASCII newline), and 0x0d (ASCII carriage return)."
    if value is not None and ("\r" in value or "\n" in value or "\x00" in value):
        raise ValueError(f"{what} contains CR, LF or NUL")


def _number(text: str, what: str) -> int:
    """Read a decimal number; a leading zero is refused so that it writes back the same."""
    if not (text.isascii() and text.isdigit()) or len(text) > 32:
        raise ValueError(f"{what} {_show(text)} is not a number")
    if len(text) > 1 and text[0] == "0":
        raise ValueError(f"{what} {_show(text)} has a leading zero")
    return int(text)


def _fields(value: str, count: int, what: str, *, more: bool = False) -> list[str]:
    # RFC 8866 §5: "<value> is either a number of subfields delimited by a single space
    # character or a free format string"
    parts = value.split(" ")
    if len(parts) < count or (len(parts) > count and not more) or "" in parts:
        at_least = "at least " if more else ""
        raise ValueError(f"{what} needs {at_least}{count} fields separated by single spaces")
    return parts


def _ip(
    address: str, addrtype: AddrType, what: str
) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """Check that ``address`` suits ``addrtype``; return it as an IP address unless it is a name."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        if len(address) > 253 or not _HOSTNAME.fullmatch(address):
            raise ValueError(
                f"{what} {_show(address)} is neither an IP address nor a host name"
            ) from None
        return None
    if ip.version != (4 if addrtype is AddrType.IP4 else 6):
        raise ValueError(f"{what} {address} is not an {addrtype.value} address")
    return ip


@dataclass(frozen=True, slots=True, kw_only=True)
class Attribute:
    """``a=<name>`` (a property attribute, ``value`` is None) or ``a=<name>:<value>``."""

    name: str
    value: str | None = None

    def __post_init__(self) -> None:
        _token(self.name, "attribute name")
        _text(self.value, f"attribute {self.name}")

    def __str__(self) -> str:
        return self.name if self.value is None else f"{self.name}:{self.value}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Origin:
    """``o=<username> <sess-id> <sess-version> <nettype> <addrtype> <unicast-address>``."""

    username: str = "-"
    sess_id: str
    sess_version: int
    nettype: NetType = NetType.IN
    addrtype: AddrType = AddrType.IP4
    address: str

    def __post_init__(self) -> None:
        # RFC 8866 §5.2: "The <username> MUST NOT contain spaces."
        if not self.username or any(c.isspace() for c in self.username):
            raise ValueError("origin username is empty or contains white space")
        _text(self.username, "origin username")
        if not (self.sess_id.isascii() and self.sess_id.isdigit()):
            raise ValueError(f"origin sess-id {_show(self.sess_id)} is not numeric")
        if self.sess_version < 0:
            raise ValueError("origin sess-version is negative")
        _ip(self.address, self.addrtype, "origin address")

    def __str__(self) -> str:
        return (
            f"{self.username} {self.sess_id} {self.sess_version} "
            f"{self.nettype.value} {self.addrtype.value} {self.address}"
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Connection:
    """``c=<nettype> <addrtype> <address>[/<ttl>][/<number of addresses>]``."""

    nettype: NetType = NetType.IN
    addrtype: AddrType = AddrType.IP4
    address: str
    ttl: int | None = None
    count: int | None = None

    def __post_init__(self) -> None:
        ip = _ip(self.address, self.addrtype, "connection address")
        multicast = ip is not None and ip.is_multicast
        if self.ttl is not None:
            # RFC 8866 §5.7: "the TTL value MUST NOT be present for "IP6" multicast."
            if self.addrtype is AddrType.IP6 or not multicast:
                raise ValueError("a TTL belongs only to an IPv4 multicast address")
            # RFC 8866 §5.7: "TTL values MUST be in the range 0-255."
            if not 0 <= self.ttl <= 255:
                raise ValueError(f"TTL {self.ttl} is not in 0..255")
        elif multicast and self.addrtype is AddrType.IP4:
            # RFC 8866 §5.7: ""IP4" multicast connection address MUST also have a time to
            # live (TTL) value present"
            raise ValueError("an IPv4 multicast address needs a TTL")
        # RFC 8866 §5.7: "The slash notation for multiple addresses ... MUST NOT be used for IP
        # unicast addresses."
        if self.count is not None and (not multicast or self.count < 1):
            raise ValueError("a number of addresses belongs only to a multicast address")

    @property
    def is_null(self) -> bool:
        """True for ``0.0.0.0`` or ``::``, the RFC 2543 way of putting a call on hold."""
        return self.address in ("0.0.0.0", "::")  # noqa: S104 - compared, not bound

    def __str__(self) -> str:
        address = self.address
        if self.ttl is not None:
            address += f"/{self.ttl}"
        if self.count is not None:
            address += f"/{self.count}"
        return f"{self.nettype.value} {self.addrtype.value} {address}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Bandwidth:
    """``b=<bwtype>:<bandwidth>``, in kilobits per second unless the type says otherwise."""

    bwtype: str
    bandwidth: int

    def __post_init__(self) -> None:
        _token(self.bwtype, "bandwidth type")
        if self.bandwidth < 0:
            raise ValueError("bandwidth is negative")

    def __str__(self) -> str:
        return f"{self.bwtype}:{self.bandwidth}"


@dataclass(frozen=True, slots=True, kw_only=True)
class TimeDescription:
    """``t=<start> <stop>`` with its ``r=`` lines and ``z=`` line kept as text."""

    start: int = 0
    stop: int = 0
    repeats: tuple[str, ...] = ()
    zone: str | None = None

    def __post_init__(self) -> None:
        if self.start < 0 or self.stop < 0:
            raise ValueError("times are negative")
        for repeat in self.repeats:
            _text(repeat, "repeat time")
        _text(self.zone, "time zone")
        # RFC 8866 §9: "repeat-description = 1*repeat-field [zone-field]"
        if self.zone is not None and not self.repeats:
            raise ValueError("a z= line must follow an r= line")


class _Line(NamedTuple):
    number: int
    letter: str
    value: str


def _split(data: bytes | str, max_size: int, max_lines: int) -> list[_Line]:
    if isinstance(data, str):
        if len(data) > max_size:  # a character is at least one byte
            raise ParseError(f"SDP body is larger than {max_size} bytes")
        try:
            data = data.encode("utf-8")
        except UnicodeEncodeError:
            raise ParseError("SDP body is not encodable as UTF-8") from None
    if len(data) > max_size:
        raise ParseError(f"SDP body is larger than {max_size} bytes")
    raw_lines = data.split(b"\n")
    if raw_lines[-1] == b"":
        raw_lines.pop()  # the last line ended with its line break
    if len(raw_lines) > max_lines:
        raise ParseError(f"SDP body has more than {max_lines} lines")
    lines = []
    for number, raw in enumerate(raw_lines, start=1):
        # RFC 8866 §5: "parsers SHOULD be tolerant and also accept lines terminated with a
        # single newline character."
        line = raw.removesuffix(b"\r")
        if b"\r" in line or b"\x00" in line:
            raise ParseError(f"line {number}: contains a bare CR or a NUL byte")
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            raise ParseError(f"line {number}: not valid UTF-8") from None
        # RFC 8866 §5: "<type> is exactly one case-significant character"
        if len(text) < 2 or text[1] != "=" or not "a" <= text[0] <= "z":
            raise ParseError(f"line {number}: expected <letter>=<value>, got {_show(text)}")
        if text[0] not in _SESSION_ORDER + "m":
            # RFC 8866 §5: "an SDP parser MUST completely ignore or reject any session
            # description that contains a type letter that it does not understand."
            raise ParseError(f"line {number}: unknown line type {text[0]}=")
        lines.append(_Line(number, text[0], text[2:]))
    if not lines:
        raise ParseError("SDP body is empty")
    return lines


def _check_order(line: _Line, previous: str, in_media: bool) -> None:
    letter, where = line.letter, "a media description" if in_media else "the session section"
    order, repeats = (
        (_MEDIA_ORDER, _MEDIA_REPEATS) if in_media else (_SESSION_ORDER, _SESSION_REPEATS)
    )
    if letter not in order:
        raise ParseError(f"line {line.number}: {letter}= is not allowed in {where}")
    if letter == "t" and previous in "rz":
        return  # a further time description
    # RFC 8866 §9: "time-description = time-field [repeat-description]" and
    # "repeat-description = 1*repeat-field [zone-field]"
    if (letter == "r" and previous not in "tr") or (letter == "z" and previous != "r"):
        raise ParseError(
            f"line {line.number}: {letter}= must follow {'r=' if letter == 'z' else 't='}"
        )
    rank, last = order.index(letter), order.index(previous)
    if rank == last and letter not in repeats:
        raise ParseError(f"line {line.number}: more than one {letter}= line in {where}")
    if rank < last:
        # RFC 8866 §5: lines "must appear in exactly the order given here"
        raise ParseError(f"line {line.number}: {letter}= line after {previous}= line in {where}")


def _origin(value: str) -> Origin:
    username, sess_id, version, nettype, addrtype, address = _fields(value, 6, "o= line")
    return Origin(
        username=username,
        sess_id=sess_id,
        sess_version=_number(version, "sess-version"),
        nettype=NetType(nettype),
        addrtype=AddrType(addrtype),
        address=address,
    )


def _connection(value: str) -> Connection:
    nettype, addrtype, address = _fields(value, 3, "c= line")
    ip4 = AddrType(addrtype) is AddrType.IP4
    address, *rest = address.split("/")
    if len(rest) > (2 if ip4 else 1):
        raise ValueError("too many /-separated parts in the connection address")
    numbers = [_number(part, "TTL or number of addresses") for part in rest]
    return Connection(
        nettype=NetType(nettype),
        addrtype=AddrType(addrtype),
        address=address,
        ttl=numbers.pop(0) if ip4 and numbers else None,
        count=numbers[0] if numbers else None,
    )


def _bandwidth(value: str) -> Bandwidth:
    bwtype, sep, amount = value.partition(":")
    if not sep:
        raise ValueError("b= line needs <bwtype>:<bandwidth>")
    return Bandwidth(bwtype=bwtype, bandwidth=_number(amount, "bandwidth"))


def _time(value: str) -> TimeDescription:
    start, stop = _fields(value, 2, "t= line")
    return TimeDescription(start=_number(start, "start time"), stop=_number(stop, "stop time"))


def _attribute(value: str) -> Attribute:
    name, sep, rest = value.partition(":")
    return Attribute(name=name, value=rest if sep else None)


def _media_line(value: str) -> dict[str, Any]:
    media_type, port, proto, *formats = _fields(value, 4, "m= line", more=True)
    port, _, count = port.partition("/")
    # RFC 8866 §9: "port = 1*DIGIT"; MediaDescription keeps it in 0..65535.
    return {
        "media_type": media_type,
        "port": _number(port, "port"),
        "port_count": _number(count, "number of ports") if count else None,
        "proto": proto,
        "formats": tuple(formats),
    }


# Line letter -> (field of the value object, reader, whether the field is a tuple).
_Fields = dict[str, tuple[str, Callable[[str], object], bool]]
_SESSION_FIELDS: _Fields = {
    "o": ("origin", _origin, False),
    "s": ("name", str, False),
    "i": ("information", str, False),
    "u": ("uri", str, False),
    "e": ("emails", str, True),
    "p": ("phones", str, True),
    "c": ("connection", _connection, False),
    "b": ("bandwidths", _bandwidth, True),
    "k": ("key", str, False),
    "a": ("attributes", _attribute, True),
}
_MEDIA_FIELDS: _Fields = {
    "i": ("information", str, False),
    "c": ("connections", _connection, True),
    "b": ("bandwidths", _bandwidth, True),
    "k": ("key", str, False),
    "a": ("attributes", _attribute, True),
}


def _read(line: _Line, found: dict[str, Any], fields: _Fields) -> None:
    try:
        if line.letter == "t":
            found["times"].append(_time(line.value))
        elif line.letter == "r":
            last = found["times"][-1]
            found["times"][-1] = replace(last, repeats=(*last.repeats, line.value))
        elif line.letter == "z":
            found["times"][-1] = replace(found["times"][-1], zone=line.value)
        else:
            name, reader, repeated = fields[line.letter]
            value = reader(line.value)
            if repeated:
                found.setdefault(name, []).append(value)
            else:
                found[name] = value
    except ValueError as exc:
        raise ParseError(f"line {line.number} ({line.letter}=): {exc}") from exc


def _tuples(found: dict[str, Any]) -> dict[str, Any]:
    return {name: tuple(v) if isinstance(v, list) else v for name, v in found.items()}


def _read_body(
    data: bytes | str, max_size: int, max_lines: int
) -> tuple[dict[str, Any], list[tuple[_Line, dict[str, Any]]]]:
    """Read a body into the session section's fields and, for each media section, its ``m=``
    line and its fields. Raises :class:`ParseError` when a line is malformed or out of order,
    or when a required session-level line is missing. The ``m=`` lines themselves are left to
    :func:`_media_line`.
    """
    lines = _split(data, max_size, max_lines)
    # RFC 8866 §5.1: "This memo defines version 0." The v= line comes first (§5).
    if lines[0].letter != "v" or lines[0].value != "0":
        raise ParseError('line 1: an SDP body must start with "v=0"')
    session: dict[str, Any] = {"times": []}
    found, previous = session, "v"
    media: list[tuple[_Line, dict[str, Any]]] = []
    for line in lines[1:]:
        if line.letter == "m":
            found, previous = {}, "m"
            media.append((line, found))
            continue
        _check_order(line, previous, in_media=bool(media))
        _read(line, found, _MEDIA_FIELDS if media else _SESSION_FIELDS)
        previous = line.letter
    # RFC 8866 §5: the v=, o=, s= and t= lines are required; the others are optional.
    for letter, name in (("o", "origin"), ("s", "name"), ("t", "times")):
        if session.get(name) in (None, []):
            raise ParseError(f"the session section has no {letter}= line")
    return _tuples(session), [(head, _tuples(found)) for head, found in media]
