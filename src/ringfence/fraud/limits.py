"""Usage limits of a tenant and its extensions, and the safe defaults every new tenant gets.

Values only: :mod:`ringfence.fraud.throttles` decides with them, and the store keeps them.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from decimal import Decimal
from typing import Any

__all__ = ["LIMIT_NAMES", "SAFE_DEFAULTS", "Limits", "limits_from_json", "limits_to_json"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """The limits of a tenant (or, where set, of one extension). ``None`` means no limit.

    Budgets are in the currency of the rate table; a call with no rate costs nothing here (the
    call policy's ``max_rate`` is what refuses unpriced numbers).
    """

    concurrent_per_extension: int | None = None
    concurrent_per_tenant: int | None = None
    concurrent_per_trunk: int | None = None
    intl_concurrent_per_extension: int | None = None
    intl_concurrent_per_tenant: int | None = None
    calls_per_minute: int | None = None
    calls_per_hour: int | None = None
    intl_calls_per_minute: int | None = None
    daily_budget: Decimal | None = None
    monthly_budget: Decimal | None = None

    def over(self, other: Limits) -> Limits:
        """These values, and ``other``'s where these leave one unset."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        return replace(
            other, **{name: value for name, value in values.items() if value is not None}
        )


LIMIT_NAMES = tuple(f.name for f in fields(Limits))

SAFE_DEFAULTS = Limits(
    concurrent_per_extension=4,
    concurrent_per_tenant=20,
    concurrent_per_trunk=30,
    intl_concurrent_per_extension=2,
    intl_concurrent_per_tenant=4,
    calls_per_minute=10,
    calls_per_hour=100,
    intl_calls_per_minute=5,
    daily_budget=Decimal("50"),
    monthly_budget=Decimal("500"),
)
"""What a tenant gets until its admin says otherwise: enough for a small office's normal
calling, and a ceiling on what a hacked extension can spend in a day."""


def limits_to_json(limits: Limits) -> dict[str, Any]:
    return {
        name: str(value) if isinstance(value, Decimal) else value
        for name in LIMIT_NAMES
        if (value := getattr(limits, name)) is not None
    }


def limits_from_json(data: dict[str, Any]) -> Limits:
    values: dict[str, Any] = {}
    for name, value in data.items():
        if name not in LIMIT_NAMES:
            raise ValueError(f"{name!r} is not a usage limit")
        if name.endswith("budget"):
            values[name] = Decimal(str(value))
        elif isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            values[name] = value
        else:
            raise ValueError(f"{name} must be a count of 0 or more")
    return Limits(**values)
