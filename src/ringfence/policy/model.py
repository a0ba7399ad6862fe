"""The call policy's values: settings per tenant and extension, and the rules in effect.

A tenant's :class:`PolicySettings` sets each value or leaves it to the service default; an
extension's sets only what differs from its tenant. :func:`effective_rules` merges the three
into :class:`EffectiveRules` and remembers where each value came from, for ``policy show``.

An extension may always be stricter than its tenant. It may be looser only in the settings its
tenant lists in ``extensions_may_loosen``; elsewhere a looser extension value is ignored (the
stricter of the two applies).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, fields, replace
from decimal import Decimal
from enum import StrEnum
from typing import Any

from ringfence.policy.numbers import NumberType
from ringfence.policy.tables import HighRiskRanges, RateTable

__all__ = [
    "DEFAULT_BLOCKED_TYPES",
    "SERVICE_DEFAULTS",
    "SETTING_NAMES",
    "BlockIndex",
    "BlockTreatment",
    "CallerBlock",
    "EffectiveRules",
    "PolicySettings",
    "TimeWindow",
    "effective_rules",
    "settings_from_json",
    "settings_to_json",
]

DEFAULT_BLOCKED_TYPES = frozenset(
    {
        NumberType.PREMIUM,
        NumberType.SHARED_COST,
        NumberType.UAN,
        NumberType.PERSONAL,
        NumberType.INTERNATIONAL_NETWORK,
    }
)
"""Blocked in every country unless an admin unblocks them: the number types that toll fraud
pays out through."""


class BlockTreatment(StrEnum):
    """What a blocked inbound caller hears: busy (486), a rejection (603), or nothing at all
    until the service gives up on the call (480 after a while, the callee never rung)."""

    BUSY = "busy"
    REJECT = "reject"
    SILENCE = "silence"


@dataclass(frozen=True, slots=True, kw_only=True)
class TimeWindow:
    """Minutes of the day, ``start`` inclusive and ``end`` exclusive; a window that ends before
    it starts runs over midnight (``22:00-06:00``)."""

    start: int
    end: int

    def __post_init__(self) -> None:
        if not (0 <= self.start < 1440 and 0 <= self.end <= 1440) or self.start == self.end:
            raise ValueError(f"not a window of the day: {self.start}-{self.end}")

    @classmethod
    def parse(cls, text: str) -> TimeWindow:
        """``HH:MM-HH:MM``, as an admin writes it; ``24:00`` is the end of the day."""
        try:
            start_text, end_text = text.strip().split("-")
            return cls(start=_minutes(start_text), end=_minutes(end_text))
        except ValueError as error:
            raise ValueError(f"{text!r} is not a time window like 08:00-18:00") from error

    def contains(self, minute: int) -> bool:
        if self.start < self.end:
            return self.start <= minute < self.end
        return minute >= self.start or minute < self.end

    def __str__(self) -> str:
        return (
            f"{self.start // 60:02d}:{self.start % 60:02d}-{self.end // 60:02d}:{self.end % 60:02d}"
        )


def _minutes(text: str) -> int:
    hours, _, minutes = text.strip().partition(":")
    if not (hours.isdigit() and minutes.isdigit() and len(minutes) == 2):
        raise ValueError(text)
    value = int(hours) * 60 + int(minutes)
    if int(minutes) >= 60 or value > 1440:
        raise ValueError(text)
    return value


@dataclass(frozen=True, slots=True, kw_only=True)
class PolicySettings:
    """One tenant's or one extension's settings. ``None`` leaves a value to the level above.

    - ``outbound``: calls out of the tenant at all (emergency calls are always allowed).
    - ``international``: calls to another country than the tenant's.
    - ``countries``: ISO codes international calls may reach; empty allows none, ``None``
      inherits (the service default allows every country once international calling is on).
    - ``blocked_types``: number types refused in every country.
    - ``block_high_risk``: refuse the curated high-risk ranges.
    - ``window`` and ``timezone``: international calls only inside this time of day.
    - ``max_rate``: the highest price per minute a call may cost (rate table currency).
    - ``encryption_required``: refuse offers without SRTP.
    - ``extensions_may_loosen``: (tenant only) the setting names an extension may loosen.
    """

    outbound: bool | None = None
    international: bool | None = None
    countries: frozenset[str] | None = None
    blocked_types: frozenset[NumberType] | None = None
    block_high_risk: bool | None = None
    window: TimeWindow | None = None
    timezone: str | None = None
    max_rate: Decimal | None = None
    encryption_required: bool | None = None
    extensions_may_loosen: frozenset[str] = frozenset()

    def changed(self, **values: object) -> PolicySettings:
        return replace(self, **values)  # type: ignore[arg-type]

    @property
    def is_empty(self) -> bool:
        return (
            all(
                getattr(self, f.name) is None
                for f in fields(self)
                if f.name != "extensions_may_loosen"
            )
            and not self.extensions_may_loosen
        )


SETTING_NAMES = tuple(f.name for f in fields(PolicySettings) if f.name != "extensions_may_loosen")

SERVICE_DEFAULTS = PolicySettings(
    outbound=True,
    international=False,  # secure by default: an admin turns it on
    countries=None,  # every country, once international calling is on
    blocked_types=DEFAULT_BLOCKED_TYPES,
    block_high_risk=True,
    window=None,  # any time
    timezone="UTC",
    max_rate=None,  # no price limit
    encryption_required=False,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class CallerBlock:
    """A blocked inbound caller ID of a tenant (``ext`` None) or of one extension.

    ``pattern`` is a +E164 number, a prefix ending in ``*`` (``+1900*``), or ``anonymous``
    (withheld or unavailable caller IDs).
    """

    id: int | None
    pattern: str
    ext: str | None = None
    treatment: BlockTreatment = BlockTreatment.REJECT

    def matches(self, caller: str | None) -> bool:
        if self.pattern == "anonymous":
            return caller is None
        if caller is None:
            return False
        if self.pattern.endswith("*"):
            return caller.startswith(self.pattern[:-1])
        return caller == self.pattern


class BlockIndex:
    """Blocked callers by what they match: exact numbers, prefixes and ``anonymous``. A caller
    is looked up in at most 16 dictionary probes however many blocks a tenant has; the most
    specific match wins (the exact number, then the longest prefix)."""

    __slots__ = ("_anonymous", "_exact", "_lengths", "_prefixes")

    def __init__(self, blocks: tuple[CallerBlock, ...]) -> None:
        self._exact: dict[str, list[CallerBlock]] = {}
        self._prefixes: dict[str, list[CallerBlock]] = {}
        self._anonymous: list[CallerBlock] = []
        for block in blocks:
            if block.pattern == "anonymous":
                self._anonymous.append(block)
            elif block.pattern.endswith("*"):
                self._prefixes.setdefault(block.pattern[:-1], []).append(block)
            else:
                self._exact.setdefault(block.pattern, []).append(block)
        self._lengths = sorted({len(p) for p in self._prefixes}, reverse=True)

    def match(self, caller: str | None, ext: str | None) -> CallerBlock | None:
        """The block that stops ``caller`` (``None``: withheld) from ringing ``ext``."""
        if caller is None:
            return _first_for(self._anonymous, ext)
        found = _first_for(self._exact.get(caller, ()), ext)
        if found is not None:
            return found
        for length in self._lengths:
            candidates = self._prefixes.get(caller[:length])
            if candidates and (found := _first_for(candidates, ext)) is not None:
                return found
        return None


def _first_for(blocks: Iterable[CallerBlock], ext: str | None) -> CallerBlock | None:
    for block in blocks:
        if block.ext is None or block.ext == ext:
            return block
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class EffectiveRules:
    """The rules one extension's calls are checked against, and where each value came from
    (``"default"``, ``"tenant"`` or ``"extension"``)."""

    country: str  # the tenant's country: calls within it are domestic
    outbound: bool = True
    international: bool = False
    countries: frozenset[str] | None = None
    blocked_types: frozenset[NumberType] = DEFAULT_BLOCKED_TYPES
    block_high_risk: bool = True
    windows: tuple[TimeWindow, ...] = ()  # a call must fall inside every one of them
    timezone: str = "UTC"
    max_rate: Decimal | None = None
    encryption_required: bool = False
    blocks: tuple[CallerBlock, ...] = ()
    rates: RateTable | None = field(default=None, compare=False)
    high_risk: HighRiskRanges | None = field(default=None, compare=False)
    sources: dict[str, str] = field(default_factory=dict, compare=False)
    block_index: BlockIndex = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "block_index", BlockIndex(self.blocks))


def effective_rules(
    *,
    country: str,
    tenant: PolicySettings,
    extension: PolicySettings | None = None,
    blocks: tuple[CallerBlock, ...] = (),
    rates: RateTable | None = None,
    high_risk: HighRiskRanges | None = None,
    defaults: PolicySettings = SERVICE_DEFAULTS,
) -> EffectiveRules:
    """Merge the service defaults, the tenant's settings and the extension's."""
    sources: dict[str, str] = {}
    values: dict[str, object] = {}
    for name in SETTING_NAMES:
        value, source = getattr(defaults, name), "default"
        if getattr(tenant, name) is not None:
            value, source = getattr(tenant, name), "tenant"
        values[name], sources[name] = value, source
    windows: tuple[TimeWindow, ...] = (values["window"],) if values["window"] else ()  # type: ignore[assignment]
    if extension is not None:
        loosen = tenant.extensions_may_loosen
        for name in SETTING_NAMES:
            mine = getattr(extension, name)
            if mine is None:
                continue
            if name == "window":
                window = mine
                if name in loosen or not windows:
                    windows, sources[name] = (window,), "extension"
                else:
                    windows, sources[name] = (*windows, window), f"{sources[name]} and extension"
                continue
            inherited = values[name]
            merged = _merge(name, inherited, mine, may_loosen=name in loosen)
            if merged == mine:
                sources[name] = "extension"
            elif merged == inherited:
                sources[name] += " (the extension's looser value is not allowed)"
            else:
                sources[name] += " and extension"
            values[name] = merged
    return EffectiveRules(
        country=country.upper(),
        outbound=bool(values["outbound"]),
        international=bool(values["international"]),
        countries=values["countries"],  # type: ignore[arg-type]
        blocked_types=values["blocked_types"] or frozenset(),  # type: ignore[arg-type]
        block_high_risk=bool(values["block_high_risk"]),
        windows=windows,
        timezone=str(values["timezone"] or "UTC"),
        max_rate=values["max_rate"],  # type: ignore[arg-type]
        encryption_required=bool(values["encryption_required"]),
        blocks=blocks,
        rates=rates,
        high_risk=high_risk,
        sources=sources,
    )


def _merge(name: str, inherited: Any, mine: Any, *, may_loosen: bool) -> Any:
    """The extension's value where it is stricter (or where loosening is allowed), else the
    inherited one; for sets, the strict combination of both."""
    if may_loosen:
        return mine
    if name in ("outbound", "international"):
        return bool(inherited) and bool(mine)
    if name in ("block_high_risk", "encryption_required"):
        return bool(inherited) or bool(mine)
    if name == "countries":
        return mine if inherited is None else frozenset(inherited) & frozenset(mine)
    if name == "blocked_types":
        return frozenset(inherited or ()) | frozenset(mine)
    if name == "max_rate":
        return mine if inherited is None else min(inherited, mine)
    # timezone: another clock moves the tenant's window, which can loosen it; only where the
    # tenant allows that.
    return inherited


# -- stored form ------------------------------------------------------------------------------


def settings_to_json(settings: PolicySettings) -> dict[str, Any]:
    """The values set, as a JSON object (what the store keeps and the audit log shows)."""
    out: dict[str, Any] = {}
    for name in SETTING_NAMES:
        value = getattr(settings, name)
        if value is None:
            continue
        if isinstance(value, frozenset):
            out[name] = sorted(str(v) for v in value)
        elif isinstance(value, (TimeWindow, Decimal)):
            out[name] = str(value)
        else:
            out[name] = value
    if settings.extensions_may_loosen:
        out["extensions_may_loosen"] = sorted(settings.extensions_may_loosen)
    return out


def settings_from_json(data: dict[str, Any]) -> PolicySettings:
    """The inverse of :func:`settings_to_json`. Raise ``ValueError`` on a value that is not a
    setting (the store only holds what the service validated; this guards a hand edit)."""
    values: dict[str, Any] = {}
    for name, value in data.items():
        if name in ("outbound", "international", "block_high_risk", "encryption_required"):
            if not isinstance(value, bool):
                raise ValueError(f"{name} must be true or false")
            values[name] = value
        elif name == "countries":
            values[name] = frozenset(str(c).upper() for c in value)
        elif name == "blocked_types":
            values[name] = frozenset(NumberType(v) for v in value)
        elif name == "window":
            values[name] = TimeWindow.parse(str(value))
        elif name == "timezone":
            values[name] = str(value)
        elif name == "max_rate":
            values[name] = Decimal(str(value))
        elif name == "extensions_may_loosen":
            unknown = set(value) - set(SETTING_NAMES)
            if unknown:
                raise ValueError(f"not settings: {', '.join(sorted(unknown))}")
            values[name] = frozenset(value)
        else:
            raise ValueError(f"{name!r} is not a policy setting")
    return PolicySettings(**values)
