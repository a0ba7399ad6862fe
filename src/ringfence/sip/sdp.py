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

The module is split by concern: :mod:`ringfence.sip.sdp_parse` holds the line level (the values of
``o= c= b= t= a=`` lines, the lexical checks and the reading of a body into lines) and
:mod:`ringfence.sip.sdp_crypto` the RFC 4568 crypto attribute. This module holds the media and
session descriptions with their rewriting, and re-exports every public name: import from here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from enum import Enum

from ringfence.errors import ParseError
from ringfence.sip.sdp_crypto import CryptoAttribute, CryptoKey
from ringfence.sip.sdp_parse import (
    AddrType,
    Attribute,
    Bandwidth,
    Connection,
    NetType,
    Origin,
    TimeDescription,
    _media_line,
    _number,
    _read_body,
    _text,
    _token,
)

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

_PROTO = re.compile(r"[A-Za-z0-9!#$%&'*+\-.^_`{|}~]+(?:/[A-Za-z0-9!#$%&'*+\-.^_`{|}~]+)*")
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


class Direction(Enum):
    """Media direction attributes (RFC 8866 §6.7, RFC 3264 §5.1)."""

    SENDRECV = "sendrecv"
    SENDONLY = "sendonly"
    RECVONLY = "recvonly"
    INACTIVE = "inactive"


_DIRECTIONS = frozenset(d.value for d in Direction)


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


def parse_sdp(
    data: bytes | str, *, max_size: int = 16384, max_lines: int = 512
) -> SessionDescription:
    """Parse an SDP body. Raises :class:`ParseError`, and nothing else, when it is malformed.

    CRLF and bare LF line ends are accepted, and the last line may lack its line end.
    """
    session, media = _read_body(data, max_size, max_lines)
    descriptions = []
    for head, found in media:
        try:
            descriptions.append(MediaDescription(**_media_line(head.value), **found))
        except ValueError as exc:
            raise ParseError(f"line {head.number} (m=): {exc}") from exc
    try:
        return SessionDescription(**session, media=tuple(descriptions))
    except ValueError as exc:
        raise ParseError(str(exc)) from exc
