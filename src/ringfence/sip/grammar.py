"""Lexical pieces of the RFC 3261 §25 grammar shared by the header and URI parsers.

Everything here is a pure function over ``str``. The functions raise
:class:`ringfence.errors.ParseError` with a reason that names the fault.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TypeAlias

from ringfence.errors import ParseError

__all__ = [
    "Params",
    "find_unquoted",
    "format_params",
    "has_param",
    "is_token",
    "param",
    "parse_params",
    "quote",
    "quoted_end",
    "split_commas",
    "unescape",
    "unquote",
]

#: A parameter list in wire order: name as written, value or ``None`` for a bare flag.
Params: TypeAlias = tuple[tuple[str, str | None], ...]

# RFC 3261 §25.1: token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~")
_TOKEN = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+")
# RFC 3261 §25.1: escaped = "%" HEXDIG HEXDIG
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
_LWS = " \t"


def is_token(text: str) -> bool:
    """True when ``text`` is a non-empty RFC 3261 token."""
    return _TOKEN.fullmatch(text) is not None


def unescape(text: str) -> str:
    """Decode ``%HH`` escapes (RFC 3261 §19.1.2). A ``%`` not followed by two hex digits stays."""
    if "%" not in text:
        return text
    raw = _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)
    # Escapes encode octets; re-read octet sequences as UTF-8 where they form valid UTF-8.
    try:
        return raw.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return raw


def quote(text: str) -> str:
    """Return ``text`` as a quoted-string, escaping ``"`` and ``\\`` (RFC 3261 §25.1)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def unquote(text: str) -> str:
    """Decode a quoted-string that starts and ends with DQUOTE, resolving quoted-pairs."""
    if len(text) < 2 or text[0] != '"' or text[-1] != '"':
        raise ParseError(f"expected a quoted string, got {text[:40]!r}")
    end = quoted_end(text, 0)
    if end != len(text):
        raise ParseError("text after the closing quote of a quoted string")
    body = text[1:-1]
    if "\\" not in body:
        return body
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\":
            # RFC 3261 §25.1: quoted-pair = "\" (%x00-09 / %x0B-0C / %x0E-7F)
            i += 1
            nxt = body[i]
            if nxt in "\r\n":
                raise ParseError("CR or LF escaped inside a quoted string")
            out.append(nxt)
        else:
            out.append(ch)
        i += 1
    return "".join(out)


def quoted_end(text: str, start: int) -> int:
    """Index just past the quoted-string that begins at ``text[start] == '"'``."""
    i = start + 1
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if ch == '"':
            return i + 1
        i += 1
    raise ParseError("unterminated quoted string")


def find_unquoted(text: str, chars: str, start: int = 0) -> int:
    """Index of the first of ``chars`` outside quoted strings and ``<...>``, or -1."""
    i = start
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == '"':
            i = quoted_end(text, i)
            continue
        if ch == "<":
            close = text.find(">", i + 1)
            if close < 0:
                raise ParseError("'<' without a matching '>'")
            i = close + 1
            continue
        if ch in chars:
            return i
        i += 1
    return -1


def split_commas(text: str) -> Iterator[str]:
    """Split a header value into its comma-separated elements (RFC 3261 §7.3.1).

    Commas inside quoted strings and inside ``<...>`` do not separate. Each element is stripped
    of surrounding whitespace. An empty element is an error: ``a,,b`` is not a list.
    """
    if "," not in text:
        stripped = text.strip(_LWS)
        if not stripped:
            raise ParseError("empty header value")
        yield stripped
        return
    if '"' not in text and "<" not in text:
        # Fast path: nothing can hide a comma, so a plain split is exact.
        for part in text.split(","):
            part = part.strip(_LWS)  # noqa: PLW2901
            if not part:
                raise ParseError("empty element in a comma-separated header value")
            yield part
        return
    start = 0
    while True:
        comma = find_unquoted(text, ",", start)
        part = text[start:] if comma < 0 else text[start:comma]
        part = part.strip(_LWS)
        if not part:
            raise ParseError("empty element in a comma-separated header value")
        yield part
        if comma < 0:
            return
        start = comma + 1


# RFC 3261 §25.1: a generic-param value is a token, a host or a quoted-string.


_SIMPLE_PARAMS = re.compile(r"(?:;[A-Za-z0-9\-.!%*_+`'~]+(?:=[A-Za-z0-9\-.!%*_+`'~:\[\]]+)?)+")


_ONE_PARAM = re.compile(
    r"[ \t]*;[ \t]*([A-Za-z0-9\-.!%*_+`'~]+)"
    r"(?:[ \t]*=[ \t]*(\"[^\"\\]*(?:\\.[^\"\\]*)*\"|[A-Za-z0-9\-.!%*_+`'~:\[\]]+))?[ \t]*",
    re.S,
)


def parse_params(text: str) -> Params:
    """Parse ``;name[=value]`` pairs as they follow a header value (RFC 3261 §7.3.1).

    ``text`` begins at the first ``;`` (or is empty). Whitespace around ``;`` and ``=`` is
    allowed. Empty names (``;;``) are an error: RFC 4475 §3.1.2.1 calls such a message invalid.
    """
    if _SIMPLE_PARAMS.fullmatch(text):
        # Fast path: no whitespace and no quoted strings.
        out: list[tuple[str, str | None]] = []
        for piece in text[1:].split(";"):
            key, eq, val = piece.partition("=")
            out.append((key, val if eq else None))
        return tuple(out)
    params: list[tuple[str, str | None]] = []
    pos = 0
    end = len(text.rstrip(" \t"))
    while pos < end:
        match = _ONE_PARAM.match(text, pos)
        if match is None or (match.end() < end and text[match.end()] != ";"):
            raise ParseError(_param_fault(text, pos))
        params.append((match.group(1), match.group(2)))
        pos = match.end()
    return tuple(params)


def _param_fault(text: str, pos: int) -> str:
    """Say what is wrong with the parameter that starts at ``pos``."""
    rest = text[pos:].lstrip(" \t")
    if not rest.startswith(";"):
        return f"expected ';' before parameter, got {rest[:20]!r}"
    rest = rest[1:].lstrip(" \t")
    name = re.match(r"[^;= \t]*", rest)
    name_text = name.group() if name else ""
    if not name_text:
        return "empty parameter"
    if not is_token(name_text):
        return f"bad parameter name {name_text[:30]!r}"
    if '"' in rest:
        quote_at = rest.find('"')
        quoted_end(rest, quote_at)  # raises for an unterminated quoted string
    return f"bad value for parameter {name_text[:30]!r}"


def format_params(params: Params) -> str:
    """Serialise parameters as ``;name=value`` pairs (the inverse of :func:`parse_params`)."""
    return "".join(f";{k}" if v is None else f";{k}={v}" for k, v in params)


def param(params: Params, name: str) -> str | None:
    """Value of the first parameter called ``name`` (case-insensitive); ``""`` for a flag."""
    lowered = name.lower()
    for key, value in params:
        if key.lower() == lowered:
            return "" if value is None else value
    return None


def has_param(params: Params, name: str) -> bool:
    """True when a parameter called ``name`` is present (case-insensitive)."""
    lowered = name.lower()
    return any(key.lower() == lowered for key, _ in params)
