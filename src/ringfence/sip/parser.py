"""Bytes to messages: the datagram parser, the stream framer and their limits.

:func:`parse_message` turns one datagram (or one framed stream message) into a
:class:`Request` or :class:`Response`. It always checks the framing: the start line, the header
field syntax and Content-Length. With ``lazy=False`` (the default) it also parses and checks every
header the core understands; with ``lazy=True`` those are parsed on first access, which is what a
transaction layer that needs only Via, Call-ID and CSeq wants.

Every fault raises :class:`ParseError`; nothing else escapes, whatever the input. Work is bounded by
:class:`Limits`: total size, number of header lines and line length.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ringfence.errors import MessageTooLarge, ParseError
from ringfence.sip.fields import _KEYS, Headers, header_key
from ringfence.sip.grammar import is_token
from ringfence.sip.message import ANSWER_HEADERS, Request, Response, new_request, new_response
from ringfence.sip.status import StatusCode

__all__ = [
    "DEFAULT_LIMITS",
    "Frame",
    "KeepAlive",
    "Limits",
    "StreamFramer",
    "parse_message",
    "response_for_parse_error",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """Bounds on what the parser accepts. Anything larger is refused before it is parsed."""

    max_datagram: int = 65_507  # the largest UDP payload over IPv4
    max_stream_message: int = 65_536  # one message on TCP or TLS, headers and body
    max_header_lines: int = 128
    max_line: int = 8_192


DEFAULT_LIMITS = Limits()

_RESPONSE_LINE = re.compile(r"SIP/([0-9]+\.[0-9]+) ([0-9]{3})(?: (.*))?")
_VERSION = re.compile(r"SIP/[0-9]+\.[0-9]+")
# RFC 3261 §25.1: Reason-Phrase = *(reserved / unreserved / escaped / UTF8-NONASCII / UTF8-CONT /
# SP / HTAB); no other control characters.
_BAD_REASON = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def parse_message(
    data: bytes, *, lazy: bool = False, stream: bool = False, limits: Limits = DEFAULT_LIMITS
) -> Request | Response:
    """Parse one SIP message. Raise :class:`ParseError` saying what is wrong.

    ``stream`` says the bytes came framed from TCP or TLS: Content-Length is then required
    (RFC 3261 §20.14) and the size limit is ``max_stream_message``. For a datagram, bytes past
    Content-Length are ignored (RFC 3261 §18.3) and a missing Content-Length means the body runs
    to the end of the datagram.
    """
    limit = limits.max_stream_message if stream else limits.max_datagram
    if len(data) > limit:
        raise MessageTooLarge(f"message of {len(data)} bytes is over the {limit}-byte limit")
    # RFC 3261 §7.5: "Implementations processing SIP messages over stream-oriented transports
    # MUST ignore any CRLF appearing before the start-line". We do the same for datagrams.
    start = 0
    while data.startswith(b"\r\n", start):
        start += 2
    end = data.find(b"\r\n\r\n", start)
    newline = "\r\n"
    body_at = end + 4
    lf_end = data.find(b"\n\n", start, None if end < 0 else end)
    if lf_end >= 0:
        # Interop: some embedded stacks end lines with a bare LF. The earlier blank line ends
        # the header section, so a CRLF CRLF inside a body (multipart) does not confuse it.
        if b"\r\n" in data[start:lf_end]:
            raise ParseError("mixed CRLF and bare LF line ends in the header section")
        end, newline, body_at = lf_end, "\n", lf_end + 2
    elif end < 0:
        raise ParseError("no blank line ends the header section")
    try:
        head = data[start:end].decode("utf-8")
    except UnicodeDecodeError:
        raise ParseError("header section is not valid UTF-8") from None
    lines = head.split(newline)
    joined = "".join(lines)
    if "\r" in joined or "\n" in joined:
        # A bare CR or LF inside a line would be read as a line end by some next hop, which
        # lets a sender smuggle in header fields (a Via, say) that we never parsed.
        raise ParseError("bare CR or LF inside a header line")
    if len(lines) > limits.max_header_lines:
        raise MessageTooLarge(f"more than {limits.max_header_lines} header lines")
    headers = _header_fields(lines, head, limits.max_line)
    fields = headers.fields
    try:
        message = _build(lines[0], headers, data, body_at, stream=stream)
        if not lazy:
            message.validate()
    except ParseError as error:
        if error.headers:
            raise
        raise error.with_context(
            headers=tuple(f for f in fields if header_key(f[0]) in ANSWER_HEADERS),
            is_request=not lines[0].startswith("SIP/"),
        ) from error
    return message


def _header_fields(lines: list[str], head: str, max_line: int) -> Headers:
    """Split header lines into (name, value) fields, unfolding continuation lines."""
    if len(lines) < 2:
        return Headers()
    if (
        "\n " in head
        or "\n\t" in head
        or (len(head) > max_line and max(map(len, lines)) > max_line)
    ):
        return Headers(_header_fields_slow(lines, max_line))
    # Fast path: no folded lines. One loop splits the fields and builds the lookup index; a
    # name found in the key cache is known to be a token already.
    fields: list[tuple[str, str]] = []
    append = fields.append
    index: dict[str, tuple[int, ...]] = {}
    known = _KEYS
    for position, line in enumerate(lines[1:]):
        name, colon, value = line.partition(":")
        if not colon:
            return Headers(_header_fields_slow(lines, max_line))  # to name the fault precisely
        name = name.rstrip(" \t")
        key = known.get(name)
        if key is None:
            if not is_token(name):
                return Headers(_header_fields_slow(lines, max_line))
            key = header_key(name)
        append((name, value.strip(" \t")))
        if key in index:
            index[key] += (position,)
        else:
            index[key] = (position,)
    return Headers.prebuilt(tuple(fields), index)


def _header_fields_slow(lines: list[str], max_line: int) -> tuple[tuple[str, str], ...]:
    fields: list[tuple[str, str]] = []
    name = ""
    value = ""
    for line in lines[1:]:
        if len(line) > max_line:
            raise MessageTooLarge(f"a header line is over {max_line} characters")
        if line[:1] in (" ", "\t"):
            # RFC 3261 §7.3.1: a line that starts with whitespace continues the previous one.
            if not name:
                raise ParseError("continuation line before the first header")
            continued = line.strip(" \t")
            if continued:
                value = f"{value} {continued}" if value else continued
            if len(value) > max_line:
                raise MessageTooLarge(f"a header field is over {max_line} characters")
            continue
        if name:
            fields.append((name, value))
        raw_name, colon, raw_value = line.partition(":")
        if not colon:
            raise ParseError(f"header line without a colon: {line[:40]!r}")
        name = raw_name.rstrip(" \t")
        if not is_token(name):
            raise ParseError(f"bad header name {name[:40]!r}")
        value = raw_value.strip(" \t")
    if name:
        fields.append((name, value))
    return tuple(fields)


def _build(
    start_line: str, headers: Headers, data: bytes, body_at: int, *, stream: bool
) -> Request | Response:
    # The first Content-Length frames the datagram; a second one is refused by validate() (a
    # full parse, RFC 4475 §3.3.9), so the lazy path does not build the header index here.
    text = headers.get("Content-Length")
    available = len(data) - body_at
    if text is not None:
        if not text.isdigit() or not text.isascii() or len(text) > 10:
            raise ParseError(f"bad Content-Length {text[:20]!r}")
        length = int(text)
        if length > available:
            # RFC 4475 §3.1.2.2: a datagram shorter than its Content-Length is an error.
            raise ParseError(f"body is {available} bytes, Content-Length says {length}")
        body = data[body_at : body_at + length]
    elif stream:
        raise ParseError("Content-Length is required on a stream transport")
    else:
        body = data[body_at:]
    if start_line.startswith("SIP/"):
        return _response(start_line, headers, body)
    return _request(start_line, headers, body)


def _request(line: str, headers: Headers, body: bytes) -> Request:
    # RFC 3261 §7.1: Request-Line = Method SP Request-URI SP SIP-Version CRLF, single spaces.
    parts = line.split(" ")
    if len(parts) != 3 or not all(parts):
        raise ParseError("request line must be METHOD SP URI SP SIP/2.0")
    method, uri, version = parts
    if not is_token(method):
        raise ParseError(f"bad method {method[:30]!r}")
    if version != "SIP/2.0":
        if _VERSION.fullmatch(version):
            # RFC 4475 §3.1.2.16: answer an unknown version with 505.
            raise ParseError(f"SIP version {version} is not supported", status=505)
        raise ParseError(f"bad SIP version {version[:20]!r}")
    if "\t" in uri:
        raise ParseError("whitespace in Request-URI")
    return new_request(method, uri, headers, body)


def _response(line: str, headers: Headers, body: bytes) -> Response:
    match = _RESPONSE_LINE.fullmatch(line)
    if match is None:
        # RFC 4475 §3.1.2.19: an overlarge status code must not break the receiver.
        raise ParseError(f"bad status line {line[:40]!r}")
    version, code, reason = match.groups()
    if version != "2.0":
        raise ParseError(f"SIP version {version} is not supported", status=505)
    status = int(code)
    if status < 100:
        raise ParseError(f"status code {status} is below 100")
    reason = reason or ""
    if _BAD_REASON.search(reason):
        raise ParseError("control character in reason phrase")
    return new_response(status, reason, headers, body)


def response_for_parse_error(
    error: ParseError, *, to_tag: str, warn_agent: str | None = None
) -> Response | None:
    """Build the response a malformed request gets, or ``None`` when it must be dropped.

    A response is possible only for a request whose Via was readable, since the response is
    routed by it (RFC 3261 §18.2.2). The rest of §8.2.6.2 is copied as far as it was readable.
    ``warn_agent`` adds a ``Warning: 399`` with the reason (RFC 3261 §20.43).
    """
    if not error.is_request or not any(header_key(n) == "via" for n, _ in error.headers):
        return None
    fields: list[tuple[str, str]] = []
    for name, value in error.headers:
        if header_key(name) == "to" and ";tag=" not in value.replace(" ", ""):
            fields.append((name, f"{value};tag={to_tag}"))
        else:
            fields.append((name, value))
    if warn_agent is not None:
        reason = error.reason.replace("\\", "").replace('"', "'")
        fields.append(("Warning", f'399 {warn_agent} "{reason}"'))
    fields.append(("Content-Length", "0"))
    return Response(
        status=error.status,
        reason=StatusCode.phrase_for(error.status),
        headers=Headers(tuple(fields)),
    )


# --- stream framing ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Frame:
    """One complete message cut from a stream, ready for :func:`parse_message`."""

    data: bytes


@dataclass(frozen=True, slots=True)
class KeepAlive:
    """A double-CRLF ping (RFC 5626 §3.5.1); the transport answers with a single CRLF pong."""


# The value is taken greedily and stripped afterwards: a lazy value followed by optional
# whitespace backtracks quadratically on a long run of spaces.
_CONTENT_LENGTH = re.compile(rb"(?im)^(?:content-length|l)[ \t]*:([^\r\n]*)\r?$")


class StreamFramer:
    """Cuts a TCP or TLS byte stream into messages by Content-Length (RFC 3261 §18.3).

    Feed it bytes as they arrive; it returns the frames completed so far. A fault that
    leaves the stream unsynchronised raises :class:`ParseError`, and the connection must be closed.
    Memory is bounded by ``limits.max_stream_message``.
    """

    def __init__(self, *, limits: Limits = DEFAULT_LIMITS) -> None:
        self._buffer = bytearray()
        self._limit = limits.max_stream_message
        self._scan_from = 0  # where the search for the end of the header section resumes
        self._expected: int | None = None  # size of the message being collected, once known

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def feed(self, data: bytes) -> list[Frame | KeepAlive]:
        self._buffer += data
        out: list[Frame | KeepAlive] = []
        buffer = self._buffer
        while buffer:
            # RFC 5626 §3.5.1: "a double-CRLF ... ping"; a single CRLF is a pong or padding.
            if buffer.startswith(b"\r\n\r\n"):
                del buffer[:4]
                out.append(KeepAlive())
                continue
            if buffer.startswith(b"\r\n"):
                if len(buffer) < 4 and b"\r\n\r\n".startswith(bytes(buffer)):
                    break  # might be the start of a ping
                del buffer[:2]
                continue
            total = self._expected
            if total is None:
                # Resume the search where the last one stopped: bytes fed one at a time cost
                # linear time, not quadratic.
                end = buffer.find(b"\r\n\r\n", self._scan_from)
                if end < 0:
                    if len(buffer) > self._limit:
                        raise MessageTooLarge("header section over the stream message limit")
                    self._scan_from = max(0, len(buffer) - 3)
                    break
                length = self._content_length(bytes(buffer[:end]))
                total = end + 4 + length
                if total > self._limit:
                    raise MessageTooLarge(
                        f"message of {total} bytes is over the {self._limit}-byte limit"
                    )
                self._expected = total
            if len(buffer) < total:
                break
            out.append(Frame(bytes(buffer[:total])))
            del buffer[:total]
            self._expected = None
            self._scan_from = 0
        return out

    @staticmethod
    def _content_length(head: bytes) -> int:
        found = _CONTENT_LENGTH.findall(head)
        if not found:
            # RFC 3261 §20.14: on a stream transport, "the header field MUST be used".
            raise ParseError("Content-Length is required on a stream transport")
        values = {v.strip(b" \t\r") for v in found}
        if len(values) > 1:
            raise ParseError("conflicting Content-Length headers")
        text = values.pop()
        if not text.isdigit() or len(text) > 10:
            raise ParseError("bad Content-Length")
        return int(text)
