"""SDES crypto attributes (RFC 4568) carried in ``a=crypto:`` lines of SRTP media.

An attribute value reads ``<tag> <crypto-suite> <key-params> [<session-params>]``, for example::

    1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:4

:meth:`CryptoAttribute.parse` and ``str()`` round-trip: a value written with single spaces comes
back unchanged. Keys travel in the clear inside SDP, so these objects never appear in logs: their
``repr`` hides the key material.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field

from ringfence.errors import ParseError

__all__ = ["CryptoAttribute", "CryptoKey"]

_SUITE = re.compile(r"[A-Za-z0-9_]+")
_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")
_WSP = re.compile(r"[ \t]+")
_MAX_LIFETIME_EXPONENT = 64

# Length in bytes of the concatenated master key and master salt for the suites we know:
# RFC 4568 §6.2 (AES_CM_128, F8_128), RFC 6188 (AES_192/256_CM) and RFC 7714 (AEAD_AES_*_GCM).
_KEY_SALT_LENGTHS: dict[str, int] = {
    "AES_CM_128_HMAC_SHA1_80": 30,
    "AES_CM_128_HMAC_SHA1_32": 30,
    "F8_128_HMAC_SHA1_80": 30,
    "AES_192_CM_HMAC_SHA1_80": 38,
    "AES_192_CM_HMAC_SHA1_32": 38,
    "AES_256_CM_HMAC_SHA1_80": 46,
    "AES_256_CM_HMAC_SHA1_32": 46,
    "AEAD_AES_128_GCM": 28,
    "AEAD_AES_256_GCM": 44,
}


def _decimal(text: str, what: str) -> int:
    """Read a decimal number written without sign or leading zero."""
    if not (text.isascii() and text.isdigit()) or len(text) > 20:
        raise ValueError(f"{what} {text[:24]!r} is not a number")
    if len(text) > 1 and text[0] == "0":
        raise ValueError(f"{what} {text!r} has a leading zero")
    return int(text)


@dataclass(frozen=True, slots=True, kw_only=True)
class CryptoKey:
    """One key-param: ``inline:<key||salt>[|<lifetime>][|<MKI>:<MKI length>]``.

    ``lifetime`` is kept as written (``2^20`` or a plain number); :attr:`lifetime_packets`
    gives its value. ``mki`` and ``mki_length`` come together or not at all.
    """

    key_salt: str = field(repr=False)
    lifetime: str | None = None
    mki: int | None = None
    mki_length: int | None = None

    def __post_init__(self) -> None:
        if not _BASE64.fullmatch(self.key_salt):
            raise ValueError("key||salt is not base64")
        self.key_salt_bytes()  # raises ValueError when the padding is impossible
        if self.lifetime is not None:
            exponent = self.lifetime.removeprefix("2^")
            value = _decimal(exponent, "key lifetime")
            if exponent != self.lifetime and value > _MAX_LIFETIME_EXPONENT:
                raise ValueError(f"key lifetime 2^{value} is out of range")
        if (self.mki is None) != (self.mki_length is None):
            raise ValueError("MKI value and MKI length come together")
        if self.mki is not None and self.mki_length is not None:
            # RFC 4568 §9.2: "mki-length = 1*3DIGIT ; range 1..128."
            if not 1 <= self.mki_length <= 128:
                raise ValueError(f"MKI length {self.mki_length} is not in 1..128")
            if not 0 <= self.mki < 256**self.mki_length:
                raise ValueError(f"MKI {self.mki} does not fit in {self.mki_length} bytes")

    def key_salt_bytes(self) -> bytes:
        """The master key followed by the master salt. Unpadded base64 is accepted."""
        padded = self.key_salt + "=" * (-len(self.key_salt) % 4)
        try:
            return base64.b64decode(padded, validate=True)
        except binascii.Error as exc:
            raise ValueError("key||salt is not base64") from exc

    @property
    def lifetime_packets(self) -> int | None:
        """The key lifetime in packets, or ``None`` when the offer leaves it to the default."""
        if self.lifetime is None:
            return None
        if self.lifetime.startswith("2^"):
            return 1 << int(self.lifetime[2:])
        return int(self.lifetime)

    @classmethod
    def parse(cls, text: str) -> CryptoKey:
        """Read one key-param. Raises :class:`ParseError` when it is malformed."""
        method, sep, info = text.partition(":")
        if not sep:
            raise ParseError(f"crypto key-param {text[:24]!r} has no key method")
        # RFC 4568 §9.2: "key-method = srtp-key-method", and "srtp-key-method = "inline"".
        if method != "inline":
            raise ParseError(f"crypto key method {method[:24]!r} is not supported")
        key_salt, *rest = info.split("|")
        lifetime: str | None = None
        mki: str | None = None
        for part in rest:
            if ":" in part and mki is None:
                mki = part
            elif ":" not in part and lifetime is None and mki is None:
                lifetime = part
            else:
                raise ParseError(f"crypto key-param has a misplaced field {part[:24]!r}")
        try:
            mki_value = mki_length = None
            if mki is not None:
                value, _, length = mki.partition(":")
                mki_value, mki_length = _decimal(value, "MKI"), _decimal(length, "MKI length")
            return cls(key_salt=key_salt, lifetime=lifetime, mki=mki_value, mki_length=mki_length)
        except ValueError as exc:
            raise ParseError(f"crypto key-param: {exc}") from exc

    def __str__(self) -> str:
        text = f"inline:{self.key_salt}"
        if self.lifetime is not None:
            text += f"|{self.lifetime}"
        if self.mki is not None:
            text += f"|{self.mki}:{self.mki_length}"
        return text


@dataclass(frozen=True, slots=True, kw_only=True)
class CryptoAttribute:
    """The value of one ``a=crypto:`` line (RFC 4568 §9.1)."""

    tag: int
    suite: str
    keys: tuple[CryptoKey, ...]
    session_params: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # RFC 4568 §9.1: "tag = 1*9DIGIT"
        if not 0 <= self.tag <= 999_999_999:
            raise ValueError(f"crypto tag {self.tag} is longer than 9 digits")
        if not _SUITE.fullmatch(self.suite):
            raise ValueError(f"crypto-suite {self.suite[:40]!r} is not a suite name")
        if not self.keys:
            raise ValueError("a crypto attribute needs at least one key")
        expected = _KEY_SALT_LENGTHS.get(self.suite)
        for key in self.keys:
            if expected is not None and len(key.key_salt_bytes()) != expected:
                raise ValueError(f"{self.suite} needs a {expected}-byte key||salt")
        for param in self.session_params:
            # RFC 4568 §9.1: "session-param = 1*(VCHAR)"
            if not param or not all("!" <= char <= "~" for char in param):
                raise ValueError(f"crypto session parameter {param[:24]!r} is not visible text")

    @classmethod
    def parse(cls, value: str) -> CryptoAttribute:
        """Read an ``a=crypto:`` value. Raises :class:`ParseError` when it is malformed."""
        # RFC 4568 §9.1: ""a=crypto:" tag 1*WSP crypto-suite 1*WSP key-params
        # *(1*WSP session-param)"
        fields = _WSP.split(value)
        if len(fields) < 3 or not fields[0] or not fields[-1]:
            raise ParseError("crypto attribute needs a tag, a crypto-suite and key-params")
        tag, suite, key_params, *params = fields
        keys = tuple(CryptoKey.parse(part) for part in key_params.split(";"))
        try:
            return cls(
                tag=_decimal(tag, "crypto tag"),
                suite=suite,
                keys=keys,
                session_params=tuple(params),
            )
        except ValueError as exc:
            raise ParseError(f"crypto attribute: {exc}") from exc

    def __str__(self) -> str:
        keys = ";".join(str(key) for key in self.keys)
        return " ".join((str(self.tag), self.suite, keys, *self.session_params))
