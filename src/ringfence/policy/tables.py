"""Prefix tables the policy looks numbers up in: call rates and the high-risk ranges.

Both are keyed on E.164 digits (no ``+``) and answer with the longest matching prefix, in at
most 15 dictionary lookups whatever the table's size.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from importlib import resources

__all__ = [
    "GLOBAL_RATES",
    "MAX_TABLE_BYTES",
    "HighRiskRange",
    "HighRiskRanges",
    "Rate",
    "RateTable",
    "TableError",
    "load_packaged_high_risk",
    "parse_high_risk_csv",
    "parse_rates_csv",
]

GLOBAL_RATES = 0
"""The tenant id under which the global rate table is kept (no tenant has id 0)."""

MAX_TABLE_BYTES = 20 * 1024 * 1024
"""The largest rates or high-risk file an admin may import."""

_MAX_DIGITS = 15
_MAX_ROWS = 200_000


class TableError(ValueError):
    """A rates or high-risk file that cannot be used; the message names the line and the fix."""


def _prefix(text: str, line: int) -> str:
    digits = text.strip().removeprefix("+")
    if not digits.isdigit() or not 1 <= len(digits) <= _MAX_DIGITS or not digits.isascii():
        raise TableError(f"line {line}: {text.strip()!r} is not a prefix of 1 to 15 digits")
    return digits


def _longest(table: Mapping[str, object], e164: str) -> str | None:
    digits = e164.removeprefix("+")
    for length in range(min(len(digits), _MAX_DIGITS), 0, -1):
        if digits[:length] in table:
            return digits[:length]
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class Rate:
    prefix: str
    price: Decimal  # per minute
    currency: str


class RateTable:
    """Prices per minute by prefix, from a CSV of ``prefix,price,currency`` lines.

    A tenant's own table is its price list: a number it prices is priced from it alone. Only a
    number it has no prefix for is looked up in ``fallback`` (the global table).
    """

    __slots__ = ("_rates", "fallback")

    def __init__(self, rates: Iterable[Rate] = (), *, fallback: RateTable | None = None) -> None:
        self._rates = {rate.prefix: rate for rate in rates}
        self.fallback = fallback

    def lookup(self, e164: str) -> Rate | None:
        prefix = _longest(self._rates, e164)
        if prefix is not None:
            return self._rates[prefix]
        return None if self.fallback is None else self.fallback.lookup(e164)

    def __len__(self) -> int:
        return len(self._rates)

    def __iter__(self) -> Iterator[Rate]:
        return iter(self._rates.values())


def parse_rates_csv(text: str) -> list[Rate]:
    """Read ``prefix,price,currency`` lines; a first line of column names is skipped, and so
    are blank lines and lines starting with ``#``. Raise :class:`TableError` on the first bad
    line, so that a half-read table is never imported."""
    rates: dict[str, Rate] = {}
    for number, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        if not row or not "".join(row).strip() or row[0].lstrip().startswith("#"):
            continue
        if number == 1 and row[0].strip().lower() in ("prefix", "destination", "code"):
            continue
        if len(row) != 3:
            raise TableError(
                f"line {number}: expected prefix,price,currency; got {len(row)} fields"
            )
        prefix = _prefix(row[0], number)
        try:
            price = Decimal(row[1].strip())
        except InvalidOperation as error:
            raise TableError(f"line {number}: {row[1].strip()!r} is not a price") from error
        if not price.is_finite() or price < 0:
            raise TableError(f"line {number}: a price must be zero or more")
        currency = row[2].strip().upper()
        if len(currency) != 3 or not currency.isalpha() or not currency.isascii():
            raise TableError(f"line {number}: {row[2].strip()!r} is not an ISO 4217 currency code")
        if prefix in rates:
            raise TableError(f"line {number}: prefix {prefix} appears twice")
        rates[prefix] = Rate(prefix=prefix, price=price, currency=currency)
        if len(rates) > _MAX_ROWS:
            raise TableError(f"more than {_MAX_ROWS} rates; split the table")
    return list(rates.values())


@dataclass(frozen=True, slots=True, kw_only=True)
class HighRiskRange:
    prefix: str
    label: str
    source: str


class HighRiskRanges:
    """Number ranges known for international revenue share fraud."""

    __slots__ = ("_ranges", "origin")

    def __init__(self, ranges: Iterable[HighRiskRange] = (), *, origin: str = "") -> None:
        self._ranges = {r.prefix: r for r in ranges}
        self.origin = origin  # where the list was read from, for `policy show`

    def match(self, e164: str) -> HighRiskRange | None:
        prefix = _longest(self._ranges, e164)
        return None if prefix is None else self._ranges[prefix]

    def __len__(self) -> int:
        return len(self._ranges)


def parse_high_risk_csv(text: str) -> list[HighRiskRange]:
    """Read ``prefix,label,source`` lines (``#`` comments and a header line allowed)."""
    ranges: list[HighRiskRange] = []
    for number, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        if not row or not "".join(row).strip() or row[0].lstrip().startswith("#"):
            continue
        if row[0].strip().lower() == "prefix":
            continue
        if len(row) != 3:
            raise TableError(f"line {number}: expected prefix,label,source; got {len(row)} fields")
        ranges.append(
            HighRiskRange(
                prefix=_prefix(row[0], number), label=row[1].strip(), source=row[2].strip()
            )
        )
    return ranges


def load_packaged_high_risk() -> HighRiskRanges:
    """The list shipped with this release (``policy/data/high_risk_ranges.csv``)."""
    text = resources.files("ringfence.policy").joinpath("data/high_risk_ranges.csv").read_text()
    return HighRiskRanges(parse_high_risk_csv(text), origin="packaged list")
