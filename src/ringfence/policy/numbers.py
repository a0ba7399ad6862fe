"""Dialled forms, normalised once with phonenumbers before the policy sees them.

A phone dials what its user types: ``+44 20 7946 0018``, ``011 44 20 7946 0018`` (from the US),
``00 44 20 7946 0018`` (from most of the world), ``020 7946 0018`` (a national number with the
trunk prefix of the tenant's country), ``911`` or ``112`` (an emergency number), or ``1002`` (an
extension). :func:`normalise` turns each into a :class:`Destination`: E.164 with its country and
number type, an emergency number, an extension, or an invalid number.

Results are cached per (dialled, country): the same numbers are dialled again and again, and the
phonenumbers metadata lookups are the costly part of a policy decision.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

import phonenumbers
from phonenumbers import PhoneNumberType, shortnumberinfo

__all__ = [
    "INTERNATIONAL_NETWORK_CODES",
    "Destination",
    "DestinationKind",
    "NumberType",
    "normalise",
]

INTERNATIONAL_NETWORK_CODES = frozenset({"870", "881", "882", "883"})
"""Country codes of global services (Inmarsat, satellite systems, international networks), which
belong to no country and are charged at some of the highest rates there are."""

_SEPARATORS = re.compile(r"[\s.\-()/]")
_DIGITS = re.compile(r"\+?[0-9]{1,20}")
_MAX_EXTENSION_DIGITS = 6
_EXTENSION = re.compile(r"[0-9A-Za-z][0-9A-Za-z._-]{0,31}")
_INTERNATIONAL_PREFIXES = ("00", "011")


class DestinationKind(StrEnum):
    NUMBER = "number"
    EMERGENCY = "emergency"
    EXTENSION = "extension"
    INVALID = "invalid"


class NumberType(StrEnum):
    """What a number is, from the numbering plan of its country (phonenumbers' types), plus
    ``international_network`` for the global services of :data:`INTERNATIONAL_NETWORK_CODES`."""

    FIXED_LINE = "fixed_line"
    MOBILE = "mobile"
    FIXED_LINE_OR_MOBILE = "fixed_line_or_mobile"
    TOLL_FREE = "toll_free"
    PREMIUM = "premium"
    SHARED_COST = "shared_cost"
    VOIP = "voip"
    PERSONAL = "personal"
    PAGER = "pager"
    UAN = "uan"
    VOICEMAIL = "voicemail"
    INTERNATIONAL_NETWORK = "international_network"
    UNKNOWN = "unknown"


_TYPES = {
    PhoneNumberType.FIXED_LINE: NumberType.FIXED_LINE,
    PhoneNumberType.MOBILE: NumberType.MOBILE,
    PhoneNumberType.FIXED_LINE_OR_MOBILE: NumberType.FIXED_LINE_OR_MOBILE,
    PhoneNumberType.TOLL_FREE: NumberType.TOLL_FREE,
    PhoneNumberType.PREMIUM_RATE: NumberType.PREMIUM,
    PhoneNumberType.SHARED_COST: NumberType.SHARED_COST,
    PhoneNumberType.VOIP: NumberType.VOIP,
    PhoneNumberType.PERSONAL_NUMBER: NumberType.PERSONAL,
    PhoneNumberType.PAGER: NumberType.PAGER,
    PhoneNumberType.UAN: NumberType.UAN,
    PhoneNumberType.VOICEMAIL: NumberType.VOICEMAIL,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Destination:
    """A dialled string, normalised.

    - ``NUMBER``: ``e164`` (``+`` and digits), ``country`` (ISO 3166 alpha-2, or ``"001"`` for
      an international network) and ``number_type``.
    - ``EMERGENCY``: ``dialled`` is an emergency number of the tenant's country; ``country`` is
      that country.
    - ``EXTENSION``: a short string, an extension of the tenant (or none; the router decides).
    - ``INVALID``: ``detail`` says why.
    """

    kind: DestinationKind
    dialled: str
    e164: str = ""
    country: str = ""
    country_code: str = ""  # the E.164 calling code: "44" for +442079460018
    number_type: NumberType = NumberType.UNKNOWN
    detail: str = ""


_patterns_cached = [False]


def normalise(dialled: str, country: str) -> Destination:
    """Normalise ``dialled`` as dialled by a phone of a tenant in ``country`` (ISO alpha-2)."""
    if not _patterns_cached[0]:
        # phonenumbers compiles its patterns through the re module's cache of 512; numbers of
        # many countries evict each other there and are compiled again (up to ~0.8 ms a number,
        # bench/policy.py). Its own cache keeps every compiled pattern.
        phonenumbers.enable_pattern_cache()
        _patterns_cached[0] = True
    return _normalise(dialled[:64], country.upper())


@lru_cache(maxsize=65536)
def _normalise(dialled: str, country: str) -> Destination:
    compact = _SEPARATORS.sub("", dialled)
    if not compact:
        return Destination(kind=DestinationKind.INVALID, dialled=dialled, detail="empty")
    if _DIGITS.fullmatch(compact) is None:
        if compact.lstrip("+").isdigit():
            return Destination(kind=DestinationKind.INVALID, dialled=dialled, detail="too long")
        if _EXTENSION.fullmatch(compact) is not None and not compact.startswith("+"):
            return Destination(kind=DestinationKind.EXTENSION, dialled=compact)
        return Destination(kind=DestinationKind.INVALID, dialled=dialled, detail="not a number")
    if not compact.startswith("+") and shortnumberinfo.is_emergency_number(compact, country):
        # Emergency numbers first: they are always allowed, whatever else the rules say.
        return Destination(kind=DestinationKind.EMERGENCY, dialled=compact, country=country)
    if not compact.startswith("+") and len(compact) <= _MAX_EXTENSION_DIGITS:
        return Destination(kind=DestinationKind.EXTENSION, dialled=compact)
    number, valid = _parse(compact, country)
    if number is None:
        return Destination(kind=DestinationKind.INVALID, dialled=dialled, detail="not a number")
    code = str(number.country_code)
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if code in INTERNATIONAL_NETWORK_CODES:
        return Destination(
            kind=DestinationKind.NUMBER,
            dialled=compact,
            e164=e164,
            country="001",
            country_code=code,
            number_type=NumberType.INTERNATIONAL_NETWORK,
        )
    if not valid:
        return Destination(
            kind=DestinationKind.INVALID,
            dialled=dialled,
            e164=e164,
            country_code=code,
            detail="not a valid number in its country's numbering plan",
        )
    region = phonenumbers.region_code_for_number(number) or ""
    kind = _TYPES.get(phonenumbers.number_type(number), NumberType.UNKNOWN)
    return Destination(
        kind=DestinationKind.NUMBER,
        dialled=compact,
        e164=e164,
        country=region,
        country_code=code,
        number_type=kind,
    )


def _parse(compact: str, country: str) -> tuple[phonenumbers.PhoneNumber | None, bool]:
    """E.164, the country's own international prefix and trunk prefix (phonenumbers knows
    them), then ``00`` and ``011`` as international prefixes wherever the caller is."""
    candidates = [compact]
    if not compact.startswith("+"):
        candidates += [
            "+" + compact[len(p) :] for p in _INTERNATIONAL_PREFIXES if compact.startswith(p)
        ]
    fallback: phonenumbers.PhoneNumber | None = None
    for candidate in candidates:
        try:
            number = phonenumbers.parse(candidate, country)
        except phonenumbers.NumberParseException:
            continue
        if str(number.country_code) in INTERNATIONAL_NETWORK_CODES:
            return number, True
        if phonenumbers.is_valid_number(number):
            return number, True
        # None valid: the international reading (the last candidate) is the likelier one.
        fallback = number
    return fallback, False
