"""Usage throttles, pure: concurrent calls, call rate and spend, decided from facts and ``now``.

A hacked extension is spotted by what it does in its first minutes: it calls abroad, fast and
in parallel, at high prices. The throttles cap each of these, with safe defaults for every new
tenant, before any anomaly score has an opinion:

- **concurrent calls** out of the tenant (not internal ones) per extension, per tenant and per
  trunk, and international ones per extension and per tenant;
- **call rate** per extension, calls per minute and per hour (outbound, not internal), and
  international calls per minute;
- **spend** per tenant and optionally per extension, per day and per month, in the rate
  table's currency; calls in progress count with what they have cost so far.

:func:`check_usage` decides one new outbound call; :class:`UsageLedger` keeps the starts and the
spend the decisions are made from. Several nodes share them through the store: each node adds
what its calls cost to counters there (an atomic increment, so no node's spend is lost to
another's) and reports its live calls and call starts; the ledger's view is the store's totals
plus what this node has not written yet, and its own live calls plus the other nodes'. The
counters persist, so budgets hold across a restart.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from functools import lru_cache
from zoneinfo import ZoneInfo

from ringfence.fraud.limits import Limits

__all__ = [
    "BUDGET_LOOKAHEAD",
    "PricedCall",
    "ThrottleReason",
    "Usage",
    "UsageLedger",
    "UsageVerdict",
    "budget_breaches",
    "check_usage",
    "periods",
    "usage_key",
]


class ThrottleReason(StrEnum):
    CONCURRENT_CALLS = "concurrent_calls"
    CALL_RATE = "call_rate"
    BUDGET_EXCEEDED = "budget_exceeded"


@dataclass(frozen=True, slots=True, kw_only=True)
class Usage:
    """What a tenant and one extension are doing now: the facts a decision is made from."""

    concurrent_extension: int = 0
    concurrent_tenant: int = 0
    concurrent_trunk: int = 0
    intl_concurrent_extension: int = 0
    intl_concurrent_tenant: int = 0
    calls_last_minute: int = 0
    calls_last_hour: int = 0
    intl_calls_last_minute: int = 0
    spent_today_tenant: Decimal = Decimal(0)
    spent_month_tenant: Decimal = Decimal(0)
    spent_today_extension: Decimal = Decimal(0)
    spent_month_extension: Decimal = Decimal(0)


@dataclass(frozen=True, slots=True, kw_only=True)
class UsageVerdict:
    allowed: bool
    reason: str = ""
    detail: str = ""


_ALLOWED = UsageVerdict(allowed=True)


def check_usage(
    *,
    usage: Usage,
    tenant: Limits,
    extension: Limits | None,
    international: bool,
    paid: bool,
    reserve: Decimal = Decimal(0),
) -> UsageVerdict:
    """May one more outbound call start? ``paid`` is whether it has a price (a budget stops
    only paid calls); ``international`` whether it leaves the tenant's country. ``reserve`` is
    what the call's first :data:`BUDGET_LOOKAHEAD` seconds would cost: the budget watch ends a
    call that close to a budget, so a call that could not last that long is not started."""
    mine = extension.over(tenant) if extension is not None else tenant
    counts = [
        (usage.concurrent_extension, mine.concurrent_per_extension, "calls at once from it"),
        (usage.concurrent_tenant, tenant.concurrent_per_tenant, "calls at once in the tenant"),
        (usage.concurrent_trunk, tenant.concurrent_per_trunk, "calls at once on the trunk"),
    ]
    if international:
        counts += [
            (
                usage.intl_concurrent_extension,
                mine.intl_concurrent_per_extension,
                "international calls at once from it",
            ),
            (
                usage.intl_concurrent_tenant,
                tenant.intl_concurrent_per_tenant,
                "international calls at once in the tenant",
            ),
        ]
    for current, limit, what in counts:
        if limit is not None and current >= limit:
            return UsageVerdict(
                allowed=False,
                reason=ThrottleReason.CONCURRENT_CALLS.value,
                detail=f"{limit} {what} at most",
            )
    rates = [
        (usage.calls_last_minute, mine.calls_per_minute, "calls a minute"),
        (usage.calls_last_hour, mine.calls_per_hour, "calls an hour"),
    ]
    if international:
        rates.append(
            (
                usage.intl_calls_last_minute,
                mine.intl_calls_per_minute,
                "international calls a minute",
            )
        )
    for current, limit, what in rates:
        if limit is not None and current >= limit:
            return UsageVerdict(
                allowed=False,
                reason=ThrottleReason.CALL_RATE.value,
                detail=f"{limit} {what} at most",
            )
    if paid:
        budgets = [
            (usage.spent_today_tenant, tenant.daily_budget, "the tenant's daily budget"),
            (usage.spent_month_tenant, tenant.monthly_budget, "the tenant's monthly budget"),
        ]
        if extension is not None:
            budgets += [
                (usage.spent_today_extension, extension.daily_budget, "its daily budget"),
                (usage.spent_month_extension, extension.monthly_budget, "its monthly budget"),
            ]
        for spent, budget, what in budgets:
            if budget is not None and spent + reserve >= budget:
                return UsageVerdict(
                    allowed=False,
                    reason=ThrottleReason.BUDGET_EXCEEDED.value,
                    detail=f"{what} of {budget} is spent ({spent.quantize(Decimal('0.01'))})",
                )
    return _ALLOWED


BUDGET_LOOKAHEAD = 2.0
"""Seconds ahead the budget watch looks (it runs every second): a call that would cross a
budget within this long is ended now, and one that could not last this long is not started."""


@lru_cache(maxsize=256)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def periods(now: float, timezone: str) -> tuple[str, str]:
    """The day and the month ``now`` falls in, on the tenant's clock: budgets reset at its
    local midnight."""
    local = datetime.fromtimestamp(now, UTC).astimezone(_zone(timezone))
    return local.strftime("%Y-%m-%d"), local.strftime("%Y-%m")


@dataclass(slots=True)
class _Starts:
    all: deque[float] = field(default_factory=deque)
    intl: deque[float] = field(default_factory=deque)


class UsageLedger:
    """Outbound call starts per extension (for the call rates) and spend per period (for the
    budgets), of every tenant. Pure state: every method takes ``now``."""

    __slots__ = ("_others", "_pending", "_spend", "_starts")

    def __init__(self) -> None:
        self._starts: dict[tuple[int, str], _Starts] = {}
        self._spend: dict[tuple[int, str, str], Decimal] = {}
        #: Spend not yet added to the store's counters, by (tenant, extension or "", period).
        self._pending: dict[tuple[int, str, str], Decimal] = {}
        #: The other nodes' live calls and call starts (see :func:`usage_key`).
        self._others: dict[str, int] = {}

    def started(self, tenant_id: int, ext: str, *, international: bool, at: float) -> None:
        starts = self._starts.setdefault((tenant_id, ext), _Starts())
        starts.all.append(at)
        if international:
            starts.intl.append(at)

    def spent(self, tenant_id: int, ext: str, amount: Decimal, periods: tuple[str, str]) -> None:
        """Add the cost of an ended call to the day and month it belongs to."""
        if amount <= 0:
            return
        for period in periods:
            for who in ("", ext):
                key = (tenant_id, who, period)
                self._spend[key] = self._spend.get(key, Decimal(0)) + amount
                self._pending[key] = self._pending.get(key, Decimal(0)) + amount

    # -- sharing through the store ------------------------------------------------------------

    def take_pending(self) -> dict[tuple[int, str, str], Decimal]:
        """The spend to add to the store's counters now; it is no longer pending (give it back
        with :meth:`give_back` if the store could not take it)."""
        pending, self._pending = self._pending, {}
        return pending

    def reset_spend(self, totals: dict[tuple[int, str, str], Decimal]) -> None:
        """Start from the store's counters (at start, when it has them): nothing is pending."""
        self._spend, self._pending = dict(totals), {}

    def give_back(self, pending: dict[tuple[int, str, str], Decimal]) -> None:
        for key, amount in pending.items():
            self._pending[key] = self._pending.get(key, Decimal(0)) + amount

    def absorb(self, totals: dict[tuple[int, str, str], Decimal]) -> None:
        """The store's counters (every node's spend, this node's written part included): the
        view is each total plus what this node spent since it was taken."""
        for key, total in totals.items():
            self._spend[key] = total + self._pending.get(key, Decimal(0))

    def others(self, key: str) -> int:
        """The other nodes' count for a :func:`usage_key`."""
        return self._others.get(key, 0)

    def set_others(self, counts: dict[str, int]) -> None:
        self._others = counts

    def report(self, live: dict[str, int], now: float) -> dict[str, int]:
        """What this node tells the others: its live calls (``live``, by usage key) and, per
        extension, its call starts of the last minute and hour and its international starts
        of the last minute."""
        out = {key: count for key, count in live.items() if count}
        for (tenant_id, ext), _ in list(self._starts.items()):
            minute, hour, intl = self.rates(tenant_id, ext, now, own=True)
            if not hour:
                del self._starts[(tenant_id, ext)]
                continue
            for kind, count in (("minute", minute), ("hour", hour), ("intl-minute", intl)):
                if count:
                    out[usage_key(kind, tenant_id, ext)] = count
        return out

    def rates(
        self, tenant_id: int, ext: str, now: float, *, own: bool = False
    ) -> tuple[int, int, int]:
        """Calls started in the last minute, the last hour, and international ones in the last
        minute: on every node, or (``own``) on this one."""
        if own:
            extra = (0, 0, 0)
        else:
            extra = (
                self._others.get(usage_key("minute", tenant_id, ext), 0),
                self._others.get(usage_key("hour", tenant_id, ext), 0),
                self._others.get(usage_key("intl-minute", tenant_id, ext), 0),
            )
        starts = self._starts.get((tenant_id, ext))
        if starts is None:
            return extra
        while starts.all and starts.all[0] <= now - 3600:
            starts.all.popleft()
        while starts.intl and starts.intl[0] <= now - 60:
            starts.intl.popleft()
        minute = 0
        for at in reversed(starts.all):
            if at <= now - 60:
                break
            minute += 1
        return minute + extra[0], len(starts.all) + extra[1], len(starts.intl) + extra[2]

    def spend(self, tenant_id: int, ext: str, periods: tuple[str, str]) -> tuple[Decimal, ...]:
        """Spent today and this month by the tenant, then by the extension."""
        day, month = periods
        get = self._spend.get
        zero = Decimal(0)
        return (
            get((tenant_id, "", day), zero),
            get((tenant_id, "", month), zero),
            get((tenant_id, ext, day), zero),
            get((tenant_id, ext, month), zero),
        )

    def forget_before(self, periods: tuple[str, str]) -> None:
        """Drop the spend of days and months before these (called now and then)."""
        day, month = periods
        for key in [k for k in self._spend if len(k[2]) == 10 and k[2] < day]:
            del self._spend[key]
        for key in [k for k in self._spend if len(k[2]) == 7 and k[2] < month]:
            del self._spend[key]


def usage_key(kind: str, *parts: object) -> str:
    """How a count is named between nodes: ``ext|3|1001``, ``trunk|2``, ``minute|3|1001``."""
    return "|".join((kind, *map(str, parts)))


@dataclass(frozen=True, slots=True, kw_only=True)
class PricedCall:
    """An answered outbound call in progress with a price: what it has cost so far and what
    each further second costs."""

    key: tuple[str, str]
    tenant_id: int
    ext: str
    cost: Decimal
    per_second: Decimal
    periods: tuple[str, str]


def budget_breaches(
    calls: list[PricedCall],
    *,
    spent: Callable[[int, str, tuple[str, str]], tuple[Decimal, ...]],
    limits: Callable[[int, str | None], Limits],
    lookahead: float,
) -> list[tuple[PricedCall, str]]:
    """The calls to end now, each with why: those that, by ``lookahead`` seconds from now (the
    next look, and some margin), would take their tenant or extension across a daily or
    monthly budget. ``spent`` gives what ended calls spent (see :meth:`UsageLedger.spend`)."""
    ahead = Decimal(str(lookahead))
    by_tenant: dict[int, list[PricedCall]] = {}
    for call in calls:
        by_tenant.setdefault(call.tenant_id, []).append(call)
    out: list[tuple[PricedCall, str]] = []
    for tenant_id, group in by_tenant.items():
        tenant_limits = limits(tenant_id, None)
        projected = sum((c.cost + c.per_second * ahead for c in group), Decimal(0))
        ended = spent(tenant_id, "", group[0].periods)
        chosen: dict[tuple[str, str], str] = {}
        for already, budget, what in (
            (ended[0], tenant_limits.daily_budget, "the tenant's daily budget"),
            (ended[1], tenant_limits.monthly_budget, "the tenant's monthly budget"),
        ):
            if budget is not None and already + projected >= budget:
                for call in group:
                    chosen.setdefault(call.key, f"{what} of {budget} would be crossed")
        by_ext: dict[str, list[PricedCall]] = {}
        for call in group:
            by_ext.setdefault(call.ext, []).append(call)
        for ext, mine in by_ext.items():
            own = limits(tenant_id, ext)
            projected_ext = sum((c.cost + c.per_second * ahead for c in mine), Decimal(0))
            ended_ext = spent(tenant_id, ext, mine[0].periods)
            for already, budget, what in (
                (ended_ext[2], own.daily_budget, "its daily budget"),
                (ended_ext[3], own.monthly_budget, "its monthly budget"),
            ):
                if budget is not None and already + projected_ext >= budget:
                    for call in mine:
                        chosen.setdefault(call.key, f"{what} of {budget} would be crossed")
        out.extend((call, chosen[call.key]) for call in group if call.key in chosen)
    return out
