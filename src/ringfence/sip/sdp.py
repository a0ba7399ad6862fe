"""SDP (RFC 8866) value objects: parse, inspect and rewrite session descriptions.

A proxy or media anchor reads an offer with :func:`parse_sdp`, rewrites it through the ``with_*``
methods (each returns a new object) and writes it back with :meth:`SessionDescription.to_bytes`.

Guarantees:

* ``parse_sdp(sd.to_bytes()) == sd`` for every description this module builds or accepts.
* A well-formed body (CRLF line ends, fields in RFC 8866 §5 order, single spaces, numbers without
  leading zeros) comes back byte for byte, and a rewrite touches only the lines it rewrites.
* :func:`parse_sdp` raises :class:`ParseError` and nothing else, whatever the bytes.

Lines the model does not interpret (``i= u= e= p= r= z= k=``) are kept as text in their place.
Attributes are stored raw; the typed views (:meth:`MediaDescription.rtpmap`,
:meth:`MediaDescription.crypto`, directions) parse on demand and raise :class:`ParseError` on a
malformed value. Programmatic construction is validated too: a constructor or ``with_*`` method
given a bad value raises ``ValueError``, so no caller can inject a line break into the body.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from enum import Enum
from typing import Any, NamedTuple

from ringfence.errors import ParseError
from ringfence.sip.sdp_crypto import CryptoAttribute, CryptoKey

__all__ = [
    "AddrType",
    "Attribute",
    "Bandwidth",
    "Connection",
    "CryptoAttribute",
    "CryptoKey",
    "Direction",
    "MediaDescription",
    "NetType",
    "Origin",
    "RtpMap",
    "SessionDescription",
    "TimeDescription",
    "parse_sdp",
]

_TOKEN = re.compile(r"[A-Za-z0-9!#$%&'*+\-.^_`{|}~]+")
_PROTO = re.compile(r"[A-Za-z0-9!#$%&'*+\-.^_`{|}~]+(?:/[A-Za-z0-9!#$%&'*+\-.^_`{|}~]+)*")
_HOSTNAME = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)*[A-Za-z][A-Za-z0-9-]*\.?")
_SESSION_ORDER = "vosiuepcbtrzka"  # RFC 8866 §5: the order of session-level lines
_SESSION_REPEATS = "epbtra"
_MEDIA_ORDER = "micbka"  # RFC 8866 §5: the order of lines in a media description
_MEDIA_REPEATS = "cba"
_SDES_PROTOS = frozenset({"RTP/SAVP", "RTP/SAVPF"})
# RFC 3551 §6 table 4: static audio payload types -> (encoding, clock rate, channels if not 1).
_STATIC_PAYLOADS: dict[int, tuple[str, int, int | None]] = {
    0: ("PCMU", 8000, None), 3: ("GSM", 8000, None), 4: ("G723", 8000, None),
    5: ("DVI4", 8000, None), 6: ("DVI4", 16000, None), 7: ("LPC", 8000, None),
    8: ("PCMA", 8000, None), 9: ("G722", 8000, None), 10: ("L16", 44100, 2),
    11: ("L16", 44100, None), 12: ("QCELP", 8000, None), 13: ("CN", 8000, None),
    15: ("G728", 8000, None), 16: ("DVI4", 11025, None), 17: ("DVI4", 22050, None),
    18: ("G729", 8000, None),
}  # fmt: skip


class NetType(Enum):
    """``<nettype>``: RFC 8866 defines only ``IN``; other network types are refused."""

    IN = "IN"


class AddrType(Enum):
    """``<addrtype>`` for the ``IN`` network type."""

    IP4 = "IP4"
    IP6 = "IP6"


class Direction(Enum):
    """Media direction attributes (RFC 8866 §6.7, RFC 3264 §5.1)."""

    SENDRECV = "sendrecv"
    SENDONLY = "sendonly"
    RECVONLY = "recvonly"
    INACTIVE = "inactive"


_DIRECTIONS = frozenset(d.value for d in Direction)


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


def _addrtype_for(address: str, addrtype: AddrType | None) -> AddrType:
    if addrtype is not None:
        return addrtype
    return AddrType.IP6 if ":" in address else AddrType.IP4


def _replace_attributes(
    attributes: tuple[Attribute, ...], names: Iterable[str], new: Iterable[Attribute]
) -> tuple[Attribute, ...]:
    """Drop every attribute named in ``names`` and put ``new`` where the first one stood."""
    names = frozenset(names)
    kept: list[Attribute] = []
    at: int | None = None
    for attribute in attributes:
        if attribute.name in names:
            at = len(kept) if at is None else at
        else:
            kept.append(attribute)
    at = len(kept) if at is None else at
    return (*kept[:at], *new, *kept[at:])


def _own_direction(attributes: tuple[Attribute, ...]) -> Direction | None:
    found = {a.name for a in attributes if a.name in _DIRECTIONS}
    if len(found) > 1:
        raise ParseError(f"conflicting direction attributes: {', '.join(sorted(found))}")
    return Direction(found.pop()) if found else None


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


@dataclass(frozen=True, slots=True, kw_only=True)
class RtpMap:
    """``a=rtpmap:<payload type> <encoding name>/<clock rate>[/<channels>]`` (RFC 8866 §6.6).

    ``channels`` is None when the line leaves it out, which for audio means one channel.
    """

    payload_type: int
    encoding: str
    clock_rate: int
    channels: int | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.payload_type <= 127:
            raise ValueError(f"payload type {self.payload_type} is not in 0..127")
        _token(self.encoding, "encoding name")
        if self.clock_rate < 1 or (self.channels is not None and self.channels < 1):
            raise ValueError("clock rate and channels must be positive")

    @classmethod
    def parse(cls, value: str) -> RtpMap:
        """Read an ``a=rtpmap:`` value. Raises :class:`ParseError` when it is malformed."""
        try:
            payload, sep, encoding = value.partition(" ")
            name, *numbers = encoding.split("/")
            if not sep or not 1 <= len(numbers) <= 2:
                raise ValueError("expected '<payload type> <encoding>/<clock rate>[/<channels>]'")
            channels = _number(numbers[1], "rtpmap channels") if len(numbers) == 2 else None
            return cls(
                payload_type=_number(payload, "payload type"),
                encoding=name,
                clock_rate=_number(numbers[0], "clock rate"),
                channels=channels,
            )
        except ValueError as exc:
            raise ParseError(f"a=rtpmap:{value[:40]}: {exc}") from exc

    def __str__(self) -> str:
        text = f"{self.payload_type} {self.encoding}/{self.clock_rate}"
        return text if self.channels is None else f"{text}/{self.channels}"


@dataclass(frozen=True, slots=True, kw_only=True)
class MediaDescription:
    """One ``m=`` section: ``m=<media> <port>[/<count>] <proto> <fmt> ...`` and its lines."""

    media_type: str
    port: int
    port_count: int | None = None
    proto: str
    formats: tuple[str, ...]
    information: str | None = None
    connections: tuple[Connection, ...] = ()
    bandwidths: tuple[Bandwidth, ...] = ()
    key: str | None = None
    attributes: tuple[Attribute, ...] = ()

    def __post_init__(self) -> None:
        _token(self.media_type, "media type")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port {self.port} is not in 0..65535")
        if self.port_count is not None and self.port_count < 1:
            raise ValueError("number of ports must be positive")
        _token(self.proto, "transport protocol", _PROTO)
        # RFC 8866 §9: "media-field = %s"m" "=" media SP port ["/" integer] SP proto 1*(SP fmt)"
        if not self.formats:
            raise ValueError("m= line needs at least one format")
        for fmt in self.formats:
            _token(fmt, "media format")
        _text(self.information, "media information")
        _text(self.key, "media key")

    @property
    def is_rejected(self) -> bool:
        """True when the port is zero: RFC 3264 §6 rejects or disables a stream that way."""
        return self.port == 0

    @property
    def direction(self) -> Direction | None:
        """This section's own direction attribute; ``SessionDescription.direction_of`` inherits."""
        return _own_direction(self.attributes)

    @property
    def is_srtp(self) -> bool:
        """True when this stream is SRTP keyed by SDES (RFC 4568).

        That needs both the profile ``RTP/SAVP`` or ``RTP/SAVPF`` and at least one ``a=crypto``
        line in this section (RFC 4568 defines the attribute at media level only). ``RTP/AVP``
        with crypto lines ("best effort" SRTP) and the DTLS-SRTP profiles such as
        ``UDP/TLS/RTP/SAVP`` (keyed by the DTLS handshake, RFC 5764) are not SDES-SRTP and give
        False. Only the presence of the line is checked; :meth:`crypto` parses it.
        """
        return self.proto in _SDES_PROTOS and any(a.name == "crypto" for a in self.attributes)

    def attribute(self, name: str) -> Attribute | None:
        """The first attribute called ``name`` in this section, if any."""
        return next((a for a in self.attributes if a.name == name), None)

    def rtpmap(self, payload_type: int) -> RtpMap | None:
        """The mapping for ``payload_type``: its ``a=rtpmap`` line or, for an RTP profile that
        lists a static audio type without one, the RFC 3551 table. None when neither applies."""
        wanted = str(payload_type)
        for attr in self.attributes:
            if attr.name == "rtpmap" and attr.value and attr.value.split(" ")[0] == wanted:
                return RtpMap.parse(attr.value)
        static = _STATIC_PAYLOADS.get(payload_type)
        if static is None or wanted not in self.formats or "RTP" not in self.proto.split("/"):
            return None
        encoding, clock_rate, channels = static
        return RtpMap(
            payload_type=payload_type, encoding=encoding, clock_rate=clock_rate, channels=channels
        )

    def crypto(self) -> tuple[CryptoAttribute, ...]:
        """The ``a=crypto`` lines of this section, parsed, in order of preference."""
        return tuple(
            CryptoAttribute.parse(a.value or "") for a in self.attributes if a.name == "crypto"
        )

    def with_port(self, port: int) -> MediaDescription:
        return replace(self, port=port)

    def with_connection_address(
        self, address: str, *, addrtype: AddrType | None = None
    ) -> MediaDescription:
        """Send this stream to ``address`` through one media-level ``c=`` line.

        ``addrtype`` defaults to IP6 when the address contains a colon, else IP4.
        """
        connection = Connection(addrtype=_addrtype_for(address, addrtype), address=address)
        return replace(self, connections=(connection,))

    def with_attribute(self, name: str, value: str | None = None) -> MediaDescription:
        """Set ``a=name[:value]``, replacing every attribute of that name in place."""
        new = Attribute(name=name, value=value)
        return replace(self, attributes=_replace_attributes(self.attributes, (name,), (new,)))

    def without_attribute(self, name: str) -> MediaDescription:
        return replace(self, attributes=_replace_attributes(self.attributes, (name,), ()))

    def with_direction(self, direction: Direction) -> MediaDescription:
        """Replace any direction attribute of this section by ``direction``."""
        new = Attribute(name=direction.value)
        return replace(self, attributes=_replace_attributes(self.attributes, _DIRECTIONS, (new,)))

    def with_crypto(self, crypto: Iterable[CryptoAttribute]) -> MediaDescription:
        """Replace the ``a=crypto`` lines by ``crypto``, where the first one stood."""
        chosen = tuple(crypto)
        if len({c.tag for c in chosen}) != len(chosen):
            # RFC 4568 §4.1: "The tag is a decimal number used as an identifier for a particular
            # crypto attribute" - two lines with one tag could not be told apart.
            raise ValueError("crypto tags must be unique within a media description")
        new = tuple(Attribute(name="crypto", value=str(c)) for c in chosen)
        return replace(self, attributes=_replace_attributes(self.attributes, ("crypto",), new))

    def without_crypto(self) -> MediaDescription:
        return self.without_attribute("crypto")

    def _lines(self) -> Iterator[str]:
        port = str(self.port) if self.port_count is None else f"{self.port}/{self.port_count}"
        yield f"m={self.media_type} {port} {self.proto} {' '.join(self.formats)}"
        if self.information is not None:
            yield f"i={self.information}"
        yield from (f"c={c}" for c in self.connections)
        yield from (f"b={b}" for b in self.bandwidths)
        if self.key is not None:
            yield f"k={self.key}"
        yield from (f"a={a}" for a in self.attributes)


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionDescription:
    """A whole session description: the session-level lines and the media descriptions."""

    origin: Origin
    name: str = "-"
    information: str | None = None
    uri: str | None = None
    emails: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()
    connection: Connection | None = None
    bandwidths: tuple[Bandwidth, ...] = ()
    times: tuple[TimeDescription, ...] = (TimeDescription(),)
    key: str | None = None
    attributes: tuple[Attribute, ...] = ()
    media: tuple[MediaDescription, ...] = ()

    def __post_init__(self) -> None:
        # RFC 8866 §5.3: "The "s=" line MUST NOT be empty."
        if not self.name:
            raise ValueError('session name (s=) is empty; use "-"')
        for what, value in (("s=", self.name), ("i=", self.information), ("u=", self.uri)):
            _text(value, what)
        for value in (*self.emails, *self.phones, self.key):
            _text(value, "e=, p= or k= line")
        if not self.times:
            raise ValueError("at least one t= line is required")
        # RFC 8866 §5.7: "A session description MUST contain either at least one "c=" line in
        # each media description or a single "c=" line at the session level."
        if self.connection is None:
            for number, media in enumerate(self.media, start=1):
                if not media.connections:
                    raise ValueError(
                        f"media description {number} ({media.media_type}) has no c= line "
                        "and there is no session-level c= line"
                    )

    @property
    def direction(self) -> Direction | None:
        """The session-level direction attribute, if any."""
        return _own_direction(self.attributes)

    def direction_of(self, index: int) -> Direction:
        """The direction in force for media description ``index``.

        Its own attribute wins, then the session-level one.
        """
        # RFC 8866 §6.7: if none of the direction attributes is present, then ""sendrecv"
        # SHOULD be assumed as the default"
        return self.media[index].direction or self.direction or Direction.SENDRECV

    def connection_of(self, index: int) -> Connection:
        """The (first) connection in force for media description ``index``."""
        own = self.media[index].connections
        connection = own[0] if own else self.connection
        assert connection is not None  # noqa: S101 - guaranteed by __post_init__
        return connection

    def attribute(self, name: str) -> Attribute | None:
        """The first session-level attribute called ``name``, if any."""
        return next((a for a in self.attributes if a.name == name), None)

    def offers_srtp(self) -> bool:
        """True when at least one stream that is not rejected (port 0) is SDES-SRTP.

        See :attr:`MediaDescription.is_srtp` for what that requires.
        """
        return any(m.is_srtp and not m.is_rejected for m in self.media)

    def with_media(self, index: int, media: MediaDescription) -> SessionDescription:
        streams = list(self.media)
        streams[index] = media
        return replace(self, media=tuple(streams))

    def with_media_port(self, index: int, port: int) -> SessionDescription:
        return self.with_media(index, self.media[index].with_port(port))

    def with_connection_address(
        self, address: str, *, addrtype: AddrType | None = None
    ) -> SessionDescription:
        """Point every stream at ``address``, as a media anchor does.

        The session-level ``c=`` line (if any) and every media-level ``c=`` line are rewritten;
        no line is added or removed. ``addrtype`` defaults to IP6 when the address contains a
        colon, else IP4. Use :meth:`MediaDescription.with_connection_address` for one stream.
        """
        connection = Connection(addrtype=_addrtype_for(address, addrtype), address=address)
        media = tuple(
            replace(m, connections=(connection,) * len(m.connections)) if m.connections else m
            for m in self.media
        )
        session = connection if self.connection is not None else None
        return replace(self, connection=session, media=media)

    def with_origin_address(
        self, address: str, *, addrtype: AddrType | None = None
    ) -> SessionDescription:
        origin = replace(self.origin, addrtype=_addrtype_for(address, addrtype), address=address)
        return replace(self, origin=origin)

    def with_incremented_version(self) -> SessionDescription:
        """Bump ``<sess-version>`` by one, as a modified offer or answer requires."""
        # RFC 3264 §8: in a new offer the version "MUST be incremented by one from the previous
        # SDP"
        origin = replace(self.origin, sess_version=self.origin.sess_version + 1)
        return replace(self, origin=origin)

    def with_attribute(self, name: str, value: str | None = None) -> SessionDescription:
        """Set the session-level ``a=name[:value]``, replacing every attribute of that name."""
        new = Attribute(name=name, value=value)
        return replace(self, attributes=_replace_attributes(self.attributes, (name,), (new,)))

    def without_attribute(self, name: str) -> SessionDescription:
        return replace(self, attributes=_replace_attributes(self.attributes, (name,), ()))

    def with_crypto(self, index: int, crypto: Iterable[CryptoAttribute]) -> SessionDescription:
        return self.with_media(index, self.media[index].with_crypto(crypto))

    def without_crypto(self) -> SessionDescription:
        """Drop every ``a=crypto`` line from every media description."""
        return replace(self, media=tuple(m.without_crypto() for m in self.media))

    def _lines(self) -> Iterator[str]:
        yield "v=0"
        yield f"o={self.origin}"
        yield f"s={self.name}"
        if self.information is not None:
            yield f"i={self.information}"
        if self.uri is not None:
            yield f"u={self.uri}"
        yield from (f"e={e}" for e in self.emails)
        yield from (f"p={p}" for p in self.phones)
        if self.connection is not None:
            yield f"c={self.connection}"
        yield from (f"b={b}" for b in self.bandwidths)
        for time in self.times:
            yield f"t={time.start} {time.stop}"
            yield from (f"r={r}" for r in time.repeats)
            if time.zone is not None:
                yield f"z={time.zone}"
        if self.key is not None:
            yield f"k={self.key}"
        yield from (f"a={a}" for a in self.attributes)
        for media in self.media:
            yield from media._lines()

    def __str__(self) -> str:
        return "".join(f"{line}\r\n" for line in self._lines())

    def to_bytes(self) -> bytes:
        """The description in RFC 8866 §5 order, each line ended by CRLF, in UTF-8."""
        return str(self).encode("utf-8")


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


def parse_sdp(
    data: bytes | str, *, max_size: int = 16384, max_lines: int = 512
) -> SessionDescription:
    """Parse an SDP body. Raises :class:`ParseError`, and nothing else, when it is malformed.

    CRLF and bare LF line ends are accepted, and the last line may lack its line end.
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
    descriptions = []
    for head, found in media:
        try:
            descriptions.append(MediaDescription(**_media_line(head.value), **_tuples(found)))
        except ValueError as exc:
            raise ParseError(f"line {head.number} (m=): {exc}") from exc
    try:
        return SessionDescription(**_tuples(session), media=tuple(descriptions))
    except ValueError as exc:
        raise ParseError(str(exc)) from exc
