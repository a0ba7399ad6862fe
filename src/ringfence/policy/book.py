"""Every tenant's call-policy data at one revision of the store, for the call path.

The store reads it together with the accounts directory (one transaction, one revision), so a
call is always checked against settings that were committed together. Rules in effect for an
extension are merged once and kept until the next revision: the call path pays a dictionary
lookup, never a merge.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType

from ringfence.policy.model import (
    CallerBlock,
    EffectiveRules,
    PolicySettings,
    effective_rules,
)
from ringfence.policy.tables import HighRiskRanges, RateTable

__all__ = ["PolicyBook"]

_EMPTY = PolicySettings()


class PolicyBook:
    """Settings by (tenant id, extension; ``""`` for the tenant itself), blocked callers by
    tenant, rate tables by tenant (over the global one) and the high-risk ranges."""

    __slots__ = ("_blocks", "_memo", "_rates", "_settings", "global_rates", "high_risk")

    def __init__(
        self,
        *,
        settings: Mapping[tuple[int, str], PolicySettings] | None = None,
        blocks: Iterable[tuple[int, CallerBlock]] = (),
        rates: Mapping[int, RateTable] | None = None,
        global_rates: RateTable | None = None,
        high_risk: HighRiskRanges | None = None,
    ) -> None:
        self._settings = MappingProxyType(dict(settings or {}))
        blocks_of: dict[int, list[CallerBlock]] = {}
        for tenant_id, block in blocks:
            blocks_of.setdefault(tenant_id, []).append(block)
        self._blocks = MappingProxyType({t: tuple(b) for t, b in blocks_of.items()})
        self.global_rates = global_rates if global_rates is not None else RateTable()
        self._rates = MappingProxyType(
            {t: RateTable(table, fallback=self.global_rates) for t, table in (rates or {}).items()}
        )
        self.high_risk = high_risk if high_risk is not None else HighRiskRanges()
        self._memo: dict[tuple[int, str, str, bool, str | None], EffectiveRules] = {}

    def settings(self, tenant_id: int, ext: str | None = None) -> PolicySettings:
        """What the tenant (``ext`` None) or the extension set itself; empty when nothing."""
        return self._settings.get((tenant_id, ext or ""), _EMPTY)

    def blocks(self, tenant_id: int, ext: str | None = None) -> tuple[CallerBlock, ...]:
        """The tenant's blocked callers, and with ``ext`` also that extension's own."""
        found = self._blocks.get(tenant_id, ())
        return tuple(b for b in found if b.ext is None or b.ext == ext)

    def rates(self, tenant_id: int) -> RateTable:
        """The tenant's rate table over the global one (the global one alone if it has none)."""
        return self._rates.get(tenant_id, self.global_rates)

    def rules(
        self,
        tenant_id: int,
        *,
        country: str,
        ext: str | None,
        encryption_required: bool = False,
        timezone: str | None = None,
    ) -> EffectiveRules:
        """The rules in effect for the extension ``ext`` of the tenant (``None``: the tenant's
        own). ``encryption_required`` and ``timezone`` come from the tenant's account: the
        first is a floor the policy may only raise, the second the clock of its time window
        unless the policy names another."""
        key = (tenant_id, ext or "", country, encryption_required, timezone)
        found = self._memo.get(key)
        if found is None:
            tenant = self.settings(tenant_id)
            if encryption_required:
                # The account's flag is a floor: a policy setting cannot lower it.
                tenant = tenant.changed(encryption_required=True)
            if timezone is not None and tenant.timezone is None:
                tenant = tenant.changed(timezone=timezone)
            found = effective_rules(
                country=country,
                tenant=tenant,
                extension=self.settings(tenant_id, ext) if ext else None,
                blocks=self.blocks(tenant_id, ext),
                rates=self.rates(tenant_id),
                high_risk=self.high_risk,
            )
            self._memo[key] = found
        return found
