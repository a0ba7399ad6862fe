"""What admin input must look like. Each function returns the value in its stored form, or
raises :class:`~ringfence.errors.InvalidInput` with a message that says what to fix.

Hosts are compared as written: a name is lower-cased, an IP literal is put in its canonical
form (``2001:DB8:0::1`` becomes ``[2001:db8::1]``, as in a SIP URI), and nothing is resolved.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers

from ringfence.accounts.model import TRUNK_TRANSPORTS
from ringfence.errors import InvalidInput

__all__ = [
    "PASSWORD_ALPHABET",
    "PASSWORD_LENGTH",
    "RandomSource",
    "check_country",
    "check_display_name",
    "check_ext",
    "check_name",
    "check_password",
    "check_timezone",
    "check_transport",
    "check_trunk_credentials",
    "generate_password",
    "normalise_domain",
    "normalise_e164",
    "normalise_host",
    "parse_host_port",
]

_NAME_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
_EXT_RE = re.compile(r"[0-9A-Za-z][0-9A-Za-z._-]{0,31}")
_LABEL_RE = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
_E164_RE = re.compile(r"\+[1-9][0-9]{7,14}")
_E164_VISUAL_RE = re.compile(r"[ .()\-]")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_TOKEN_RE = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,64}")
_PORT_RE = re.compile(r"[0-9]{1,5}")

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 128

PASSWORD_LENGTH = 20
"""Length of a generated password: 20 characters of 57 give about 116 bits."""

PASSWORD_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"
"""Letters and digits without the look-alikes 0 O 1 l I, so that a password can be typed into
a phone's keypad menu; no symbols, which some softphones and shells mangle."""


class RandomSource(Protocol):
    """Where generated passwords take their characters: ``secrets.SystemRandom()`` in
    production, a seeded ``random.Random`` in tests."""

    def choice(self, seq: Sequence[str], /) -> str: ...


def generate_password(random: RandomSource, length: int = PASSWORD_LENGTH) -> str:
    """A strong password of ``length`` (at least 16) characters of :data:`PASSWORD_ALPHABET`."""
    if length < 16:
        raise ValueError("a generated password has at least 16 characters")
    return "".join(random.choice(PASSWORD_ALPHABET) for _ in range(length))


def check_name(name: str, *, what: str = "tenant name") -> str:
    """A tenant or trunk name: a lower-case slug used on the command line."""
    if not _NAME_RE.fullmatch(name):
        raise InvalidInput(
            f"{what} {name!r} is not valid: use 1 to 63 lower-case letters, digits, '-' or '_',"
            " starting with a letter or digit (for example 'acme')"
        )
    return name


def normalise_host(host: str) -> str | None:
    """The stored form of a host name or IP literal, or ``None`` when it is neither.

    Names are lower-cased (without a trailing dot); an IPv4 address is kept; an IPv6 address,
    bracketed or not, takes the bracketed canonical form of a SIP URI host (``[2001:db8::1]``,
    as :func:`ringfence.sip.uri.canonical_host` writes it).
    """
    text = host.strip()
    bracketed = text.startswith("[") and text.endswith("]")
    try:
        address = ipaddress.ip_address(text[1:-1] if bracketed else text)
    except ValueError:
        if bracketed:
            return None
    else:
        if address.version == 6:
            return f"[{address.compressed}]"
        return None if bracketed else address.compressed
    text = text.lower().removesuffix(".")
    if not text or len(text) > 253:
        return None
    labels = text.split(".")
    if not all(_LABEL_RE.fullmatch(label) for label in labels):
        return None
    # RFC 3696 §2: a top-level label is never all-numeric, so "999.1.1.1" is a bad address,
    # not a host name.
    if labels[-1].isdigit():
        return None
    return text


def normalise_domain(domain: str) -> str:
    """A tenant's SIP domain (and digest realm): a host name or an IP literal, lower case."""
    canonical = normalise_host(domain)
    if canonical is None:
        raise InvalidInput(
            f"domain {domain!r} is not a host name or IP address"
            " (for example pbx.example.com or 192.0.2.10)"
        )
    return canonical


def parse_host_port(value: str, *, default_port: int) -> tuple[str, int]:
    """``HOST:PORT``, ``[IPv6]:PORT`` or a bare host (which takes ``default_port``)."""
    text = value.strip()
    port_text: str | None = None
    if text.startswith("["):
        close = text.find("]")
        host_text, rest = (text[: close + 1], text[close + 1 :]) if close > 0 else (text, "")
        if rest:
            host_text, port_text = (host_text, rest[1:]) if rest[0] == ":" else (text, None)
    elif text.count(":") == 1:
        host_text, port_text = text.split(":")
    else:
        host_text = text  # a bare name, IPv4 address or unbracketed IPv6 address
    host = normalise_host(host_text)
    if host is None:
        raise InvalidInput(
            f"{value!r} is not HOST:PORT: {host_text!r} is not a host name or IP address"
            " (for example 203.0.113.5:5060 or [2001:db8::5]:5060)"
        )
    if port_text is None:
        return host, default_port
    if not _PORT_RE.fullmatch(port_text) or not 1 <= int(port_text) <= 65535:
        raise InvalidInput(f"{value!r} is not HOST:PORT: the port must be a number from 1 to 65535")
    return host, int(port_text)


def check_transport(transport: str) -> str:
    lowered = transport.lower()
    if lowered not in TRUNK_TRANSPORTS:
        raise InvalidInput(f"transport {transport!r} is not one of {', '.join(TRUNK_TRANSPORTS)}")
    return lowered


def check_ext(ext: str) -> str:
    """An extension: the digest username and SIP user part of a phone."""
    if ext.startswith("+") or not _EXT_RE.fullmatch(ext):
        raise InvalidInput(
            f"extension {ext!r} is not valid: use 1 to 32 letters, digits, '.', '_' or '-',"
            " starting with a letter or digit (for example 1001)"
        )
    return ext


def check_display_name(name: str | None) -> str | None:
    """A display name goes between quotes in From headers, so quotes and controls are out."""
    if name is None or not name.strip():
        return None
    name = name.strip()
    if len(name) > 64 or _CONTROL_RE.search(name) or '"' in name or "\\" in name:
        raise InvalidInput(
            "the display name must be at most 64 characters, without quotes, backslashes or"
            " control characters"
        )
    return name


def check_password(password: str, *, ext: str) -> str:
    """A password chosen by the operator. Weak SIP passwords are how toll fraud starts."""
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise InvalidInput(
            f"the password must have {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters;"
            " leave out --password to have a strong one generated"
        )
    if _CONTROL_RE.search(password):
        raise InvalidInput("the password must not contain control characters")
    if ext in password:
        raise InvalidInput("the password must not contain the extension itself")
    return password


def check_trunk_credentials(
    username: str | None, password: str | None
) -> tuple[str | None, str | None]:
    """Digest credentials toward a gateway: both or neither."""
    if (username is None) != (password is None):
        raise InvalidInput("give both --username and --password for a trunk, or neither")
    if username is not None and not _TOKEN_RE.fullmatch(username):
        raise InvalidInput(
            f"trunk username {username!r} is not valid: use 1 to 64 characters without spaces"
        )
    if password is not None and (
        not 1 <= len(password) <= MAX_PASSWORD_LENGTH or _CONTROL_RE.search(password)
    ):
        raise InvalidInput(
            f"the trunk password must have 1 to {MAX_PASSWORD_LENGTH} characters and no control"
            " characters"
        )
    return username, password


def normalise_e164(number: str) -> str:
    """A number in E.164 form: ``+`` and 8 to 15 digits; spaces, dots, dashes and brackets
    written for readability are dropped."""
    compact = _E164_VISUAL_RE.sub("", number)
    if not _E164_RE.fullmatch(compact):
        raise InvalidInput(
            f"{number!r} is not an E.164 number: write '+', the country code and the number,"
            " 8 to 15 digits in all (for example +442079460000)"
        )
    return compact


def check_country(country: str) -> str:
    """An ISO 3166 alpha-2 country code with a numbering plan (``US``, ``GB``), upper-cased."""
    code = country.strip().upper()
    if code not in phonenumbers.SUPPORTED_REGIONS:
        raise InvalidInput(
            f"{country!r} is not a country code with a numbering plan; give an ISO 3166 code"
            " such as US, GB or DE"
        )
    return code


def check_timezone(name: str) -> str:
    """An IANA time zone name (``Europe/London``, ``America/New_York``, ``UTC``)."""
    text = name.strip()
    try:
        if not text or text.startswith(("/", ".")) or ".." in text:
            raise ValueError(text)
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise InvalidInput(
            f"{name!r} is not a time zone; give an IANA name such as Europe/London or UTC"
        ) from error
    return text
