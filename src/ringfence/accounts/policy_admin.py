"""Admin actions on the call policy: settings, blocked callers, rates, the high-risk list, and a
dry-run check of a number.

Like :class:`~ringfence.accounts.AccountsService`, every action validates its input first and
then runs in one unit of work, where the change, its audit entry (with the old and the new
value) and the revision bump commit together. Settings arrive as text, as an admin types them
(``--international on``, ``--countries GB,FR``); :func:`parse_setting` turns each into a value
or an :class:`~ringfence.errors.InvalidInput` that says what to write instead.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from ringfence.accounts.model import Tenant, caller_id_for
from ringfence.accounts.rules import check_country, check_ext, check_timezone
from ringfence.accounts.service import AuditedService, find_extension, find_tenant
from ringfence.errors import Conflict, InvalidInput, NotFound
from ringfence.fraud.limits import LIMIT_NAMES, SAFE_DEFAULTS, Limits, limits_to_json
from ringfence.policy import (
    GLOBAL_RATES,
    MAX_TABLE_BYTES,
    SETTING_NAMES,
    BlockTreatment,
    CallerBlock,
    Decision,
    Destination,
    EffectiveRules,
    HighRiskRanges,
    NumberType,
    PolicySettings,
    TableError,
    TimeWindow,
    check_outbound,
    parse_high_risk_csv,
    parse_rates_csv,
    settings_to_json,
)

__all__ = [
    "PolicyCheck",
    "PolicyService",
    "PolicyView",
    "RatesImport",
    "check_block_pattern",
    "parse_setting",
]

_Row = TypeVar("_Row")

_ON = {"on": True, "yes": True, "true": True, "off": False, "no": False, "false": False}
_ENCRYPTION = {"required": True, "optional": False}
_TYPE_ALIASES = {"premium_rate": "premium", "personal_number": "personal"}
_BLOCK_NUMBER = re.compile(r"\+[0-9]{3,15}")
_BLOCK_PREFIX = re.compile(r"\+[0-9]{1,14}\*")
_VISUAL = re.compile(r"[\s.\-()]")


def _switch(text: str, name: str, choices: Mapping[str, bool]) -> bool:
    value = choices.get(text.strip().lower())
    if value is None:
        raise InvalidInput(f"--{name} takes {' or '.join(sorted(set(choices)))}, not {text!r}")
    return value


def parse_setting(name: str, text: str) -> object:
    """The value of setting ``name`` from its command-line text."""
    option = name.replace("_", "-")
    if name in ("outbound", "international", "block_high_risk"):
        return _switch(text, option, {"on": True, "off": False} | _ON)
    if name == "encryption_required":
        return _switch(text, "encryption", _ENCRYPTION)
    if name == "countries":
        parts = [p for p in re.split(r"[,\s]+", text.strip()) if p]
        if parts in (["any"], ["*"]):
            return None
        if parts == ["none"]:
            return frozenset()
        return frozenset(check_country(p) for p in parts)
    if name == "blocked_types":
        parts = [p.strip().lower() for p in text.split(",") if p.strip()]
        if parts == ["none"]:
            return frozenset()
        known = ", ".join(t.value for t in NumberType)
        types = set()
        for part in parts:
            try:
                types.add(NumberType(_TYPE_ALIASES.get(part, part)))
            except ValueError:
                raise InvalidInput(f"{part!r} is not a number type; use some of: {known}") from None
        return frozenset(types)
    if name == "window":
        if text.strip().lower() in ("any", "always"):
            return None
        try:
            return TimeWindow.parse(text)
        except ValueError as error:
            raise InvalidInput(f"{error}; write HH:MM-HH:MM in 24-hour time") from None
    if name == "timezone":
        return check_timezone(text)
    if name == "max_rate":
        if text.strip().lower() in ("none", "any"):
            return None
        try:
            rate = Decimal(text.strip())
        except InvalidOperation:
            rate = Decimal(-1)
        if not rate.is_finite() or rate < 0:
            raise InvalidInput(f"--max-rate takes a price per minute such as 0.25, not {text!r}")
        return rate
    raise InvalidInput(f"{name!r} is not a policy setting ({', '.join(SETTING_NAMES)})")


def check_block_pattern(pattern: str) -> str:
    """``+E164``, a prefix ending in ``*`` (``+1900*``) or ``anonymous``."""
    text = _VISUAL.sub("", pattern)
    if text.lower() in ("anonymous", "withheld", "private"):
        return "anonymous"
    if _BLOCK_NUMBER.fullmatch(text) or _BLOCK_PREFIX.fullmatch(text):
        return text
    raise InvalidInput(
        f"{pattern!r} is not a caller to block: give a number (+442079460018), a prefix ending"
        " in * (+44909*) or anonymous"
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class PolicyView:
    """The rules in effect for a tenant or one extension, what each level set itself, and the
    tables behind them."""

    tenant: Tenant
    ext: str | None
    rules: EffectiveRules
    tenant_settings: PolicySettings
    extension_settings: PolicySettings | None
    blocks: tuple[CallerBlock, ...]
    tenant_rates: int
    global_rates: int
    high_risk: HighRiskRanges
    limits: Limits  # the usage limits in effect (the extension's over its tenant's)
    limit_sources: dict[str, str]


@dataclass(frozen=True, slots=True, kw_only=True)
class PolicyCheck:
    """What the call path would decide for a number dialled by an extension at ``at``."""

    tenant: Tenant
    ext: str
    at: float
    presented: str | None
    destination: Destination
    decision: Decision


@dataclass(frozen=True, slots=True, kw_only=True)
class RatesImport:
    tenant: Tenant | None  # None: the global table
    imported: int
    replaced: int


class PolicyService(AuditedService):
    """The admin side of the call policy. ``actor`` names who acts in the audit log."""

    # -- settings -------------------------------------------------------------------------

    def show(self, tenant: str, ext: str | None = None) -> PolicyView:
        with self._store.unit_of_work() as uow:
            owner = self._tenant(uow, tenant)
            if ext is not None:
                self._extension(uow, owner, ext)
            book = uow.policy_book()
            tenant_limits = uow.usage_limits(owner.id, None)
            ext_limits = uow.usage_limits(owner.id, ext) if ext else Limits()
            return PolicyView(
                tenant=owner,
                ext=ext,
                rules=book.rules(
                    owner.id,
                    country=owner.country,
                    ext=ext,
                    encryption_required=owner.encryption_required,
                    timezone=owner.timezone,
                ),
                tenant_settings=book.settings(owner.id),
                extension_settings=None if ext is None else book.settings(owner.id, ext),
                blocks=book.blocks(owner.id, ext),
                tenant_rates=len(uow.rates(owner.id)),
                global_rates=len(book.global_rates),
                high_risk=book.high_risk,
                limits=ext_limits.over(tenant_limits.over(SAFE_DEFAULTS)),
                limit_sources={
                    name: "extension"
                    if getattr(ext_limits, name) is not None
                    else "tenant"
                    if getattr(tenant_limits, name) is not None
                    else "default"
                    for name in LIMIT_NAMES
                },
            )

    def set(
        self,
        tenant: str,
        *,
        ext: str | None = None,
        values: Mapping[str, str] | None = None,
        clear: Iterable[str] = (),
        loosen: Iterable[str] | None = None,
    ) -> PolicyView:
        """Set settings from their text (``{"international": "on"}``), clear others back to
        inherited, and (tenant only) name the settings its extensions may loosen."""
        parsed = {name: parse_setting(name, text) for name, text in (values or {}).items()}
        cleared = set(clear)
        unknown = cleared - set(SETTING_NAMES)
        if unknown:
            raise InvalidInput(
                f"cannot clear {', '.join(sorted(unknown))}: the settings are"
                f" {', '.join(SETTING_NAMES)}"
            )
        if cleared & set(parsed):
            raise InvalidInput("a setting cannot be set and cleared at once")
        may_loosen: frozenset[str] | None = None
        if loosen is not None:
            if ext is not None:
                raise InvalidInput("only a tenant says which settings its extensions may loosen")
            may_loosen = frozenset(n.strip() for n in loosen if n.strip())
            if may_loosen - set(SETTING_NAMES):
                raise InvalidInput(f"--loosen takes setting names: {', '.join(SETTING_NAMES)}")
        if not parsed and not cleared and may_loosen is None:
            raise InvalidInput("nothing to set: give at least one setting (see --help)")
        with self._store.unit_of_work() as uow:
            owner = self._tenant(uow, tenant)
            if ext is not None:
                self._extension(uow, owner, ext)
            old = uow.policy_settings(owner.id, ext)
            changes: dict[str, object] = dict.fromkeys(cleared)
            # A value of None ("--countries any", "--window any") inherits from the level above.
            changes.update(parsed)
            if may_loosen is not None:
                changes["extensions_may_loosen"] = may_loosen
            new = old.changed(**changes)
            uow.set_policy_settings(owner.id, ext, new)
            self._audit(
                uow,
                "policy.set",
                owner.id,
                f"ext {ext}" if ext else "tenant",
                old=json.dumps(settings_to_json(old), sort_keys=True),
                new=json.dumps(settings_to_json(new), sort_keys=True),
            )
        return self.show(tenant, ext)

    # -- usage limits ---------------------------------------------------------------------

    def set_limits(
        self, tenant: str, *, ext: str | None = None, values: Mapping[str, str]
    ) -> PolicyView:
        """Set usage limits from their text (``{"daily_budget": "50"}``); ``none`` removes a
        limit the level sets, so the level above applies again."""
        if not values:
            raise InvalidInput("nothing to set: give at least one limit (see --help)")
        parsed: dict[str, Any] = {name: _parse_limit(name, text) for name, text in values.items()}
        with self._store.unit_of_work() as uow:
            owner = self._tenant(uow, tenant)
            if ext is not None:
                self._extension(uow, owner, ext)
            old = uow.usage_limits(owner.id, ext)
            new = replace(old, **parsed)
            uow.set_usage_limits(owner.id, ext, new)
            self._audit(
                uow,
                "limits.set",
                owner.id,
                f"ext {ext}" if ext else "tenant",
                old=json.dumps(limits_to_json(old), sort_keys=True),
                new=json.dumps(limits_to_json(new), sort_keys=True),
            )
        return self.show(tenant, ext)

    # -- blocked callers ------------------------------------------------------------------

    def blocks(self, tenant: str, ext: str | None = None) -> list[CallerBlock]:
        with self._store.unit_of_work() as uow:
            owner = self._tenant(uow, tenant)
            if ext is not None:
                self._extension(uow, owner, ext)
            found = uow.caller_blocks(owner.id)
        return [b for b in found if ext is None or b.ext == ext]

    def add_block(
        self, tenant: str, pattern: str, *, ext: str | None = None, treatment: str = "reject"
    ) -> CallerBlock:
        pattern = check_block_pattern(pattern)
        try:
            how = BlockTreatment(treatment.strip().lower())
        except ValueError:
            raise InvalidInput(
                f"--treatment takes busy, reject or silence, not {treatment!r}"
            ) from None
        with self._store.unit_of_work() as uow:
            owner = self._tenant(uow, tenant)
            if ext is not None:
                self._extension(uow, owner, ext)
            if any(b.pattern == pattern and b.ext == ext for b in uow.caller_blocks(owner.id)):
                where = f"extension {ext}" if ext else owner.name
                raise Conflict(f"{pattern} is blocked for {where} already")
            block = uow.add_caller_block(
                owner.id, ext=ext, pattern=pattern, treatment=how, created_at=self._clock()
            )
            self._audit(
                uow,
                "block.add",
                owner.id,
                pattern,
                detail=f"ext={ext}" if ext else "tenant-wide",
                new=how.value,
            )
            return block

    def remove_block(self, tenant: str, pattern: str, *, ext: str | None = None) -> None:
        pattern = check_block_pattern(pattern)
        with self._store.unit_of_work() as uow:
            owner = self._tenant(uow, tenant)
            old = next(
                (b for b in uow.caller_blocks(owner.id) if b.pattern == pattern and b.ext == ext),
                None,
            )
            if old is None:
                where = f" on extension {ext}" if ext else ""
                raise NotFound(
                    f"{owner.name} has no block {pattern}{where}"
                    f" (see: ringfence block list {owner.name})"
                )
            uow.remove_caller_block(owner.id, ext=ext, pattern=pattern)
            self._audit(
                uow,
                "block.remove",
                owner.id,
                pattern,
                detail=f"ext={ext}" if ext else "tenant-wide",
                old=old.treatment.value,
            )

    # -- rates and the high-risk list -----------------------------------------------------

    def import_rates(self, tenant: str | None, text: str) -> RatesImport:
        """Replace the tenant's rate table (``None``: the global one) with a CSV of
        ``prefix,price,currency`` lines. A bad line imports nothing."""
        rates = self._parse_table(text, parse_rates_csv)
        if not rates:
            raise InvalidInput(
                "the file holds no rates (prefix,price,currency lines); nothing was imported"
            )
        with self._store.unit_of_work() as uow:
            owner = None if tenant is None else self._tenant(uow, tenant)
            replaced = uow.replace_rates(GLOBAL_RATES if owner is None else owner.id, rates)
            currencies = ",".join(sorted({r.currency for r in rates})) or "-"
            self._audit(
                uow,
                "rates.import",
                None if owner is None else owner.id,
                "global rates" if owner is None else "rates",
                old=f"{replaced} rates",
                new=f"{len(rates)} rates ({currencies})",
            )
        return RatesImport(tenant=owner, imported=len(rates), replaced=replaced)

    def import_high_risk(self, text: str) -> int:
        """Replace the high-risk list with the operator's CSV of ``prefix,label,source``."""
        ranges = self._parse_table(text, parse_high_risk_csv)
        if not ranges:
            raise InvalidInput(
                "the file holds no ranges; use reset to go back to the packaged list"
            )
        with self._store.unit_of_work() as uow:
            before = uow.high_risk_ranges()
            uow.replace_high_risk(ranges)
            self._audit(
                uow,
                "high_risk.import",
                None,
                "high-risk ranges",
                old=f"{len(before)} ranges ({before.origin})",
                new=f"{len(ranges)} ranges (operator list)",
            )
        return len(ranges)

    def reset_high_risk(self) -> HighRiskRanges:
        """Go back to the list shipped with this release."""
        with self._store.unit_of_work() as uow:
            before = uow.high_risk_ranges()
            uow.replace_high_risk([])
            self._audit(
                uow,
                "high_risk.reset",
                None,
                "high-risk ranges",
                old=f"{len(before)} ranges ({before.origin})",
                new="packaged list",
            )
            return uow.high_risk_ranges()

    def high_risk(self) -> HighRiskRanges:
        with self._store.unit_of_work() as uow:
            return uow.high_risk_ranges()

    # -- dry run --------------------------------------------------------------------------

    def check(self, tenant: str, ext: str, number: str, *, at: str | None = None) -> PolicyCheck:
        """What a call from ``ext`` to ``number`` would get, without placing it. ``at`` is an
        ISO time; without a zone it is read in the zone of the rules' time window."""
        check_ext(ext)
        with self._store.unit_of_work() as uow:
            owner = self._tenant(uow, tenant)
            self._extension(uow, owner, ext)
            rules = uow.policy_book().rules(
                owner.id,
                country=owner.country,
                ext=ext,
                encryption_required=owner.encryption_required,
                timezone=owner.timezone,
            )
            numbers = uow.numbers(owner.id)
        when = self._clock() if at is None else _parse_at(at, rules.timezone)
        presented = caller_id_for(numbers, ext)
        destination, decision = check_outbound(
            number,
            rules,
            when,
            presented=presented,
            owned_numbers=frozenset(n.e164 for n in numbers),
        )
        return PolicyCheck(
            tenant=owner,
            ext=ext,
            at=when,
            presented=presented,
            destination=destination,
            decision=decision,
        )

    # -- helpers --------------------------------------------------------------------------

    @staticmethod
    def _parse_table(text: str, parse: Callable[[str], list[_Row]]) -> list[_Row]:
        if len(text) > MAX_TABLE_BYTES:
            raise InvalidInput(f"the file is larger than {MAX_TABLE_BYTES // 1024 // 1024} MiB")
        try:
            return parse(text)
        except TableError as error:
            raise InvalidInput(f"{error}; nothing was imported") from None

    _tenant = staticmethod(find_tenant)
    _extension = staticmethod(find_extension)


def limits_from_text(values: Mapping[str, str]) -> Limits:
    """Usage limits from their text (``{"daily_budget": "20"}``), each checked: what
    ``tenant add --daily-budget`` gives. Raises ``InvalidInput`` saying what to fix."""
    parsed: dict[str, Any] = {name: _parse_limit(name, text) for name, text in values.items()}
    return Limits(**parsed)


def _parse_limit(name: str, text: str) -> int | Decimal | None:
    option = name.replace("_", " ")
    if name not in LIMIT_NAMES:
        raise InvalidInput(f"{name!r} is not a usage limit ({', '.join(LIMIT_NAMES)})")
    if text.strip().lower() in ("none", "inherit", "default"):
        return None
    if name.endswith("budget"):
        try:
            amount = Decimal(text.strip())
        except InvalidOperation:
            amount = Decimal(-1)
        if not amount.is_finite() or amount < 0:
            raise InvalidInput(f"the {option} takes an amount such as 50 or 12.50, not {text!r}")
        return amount
    if not text.strip().isdigit():
        raise InvalidInput(f"{option} takes a whole number of 0 or more (or none), not {text!r}")
    return int(text.strip())


def _parse_at(text: str, timezone: str) -> float:
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(
            f"--at {text!r} is not an ISO time such as 2026-11-23T20:30 or"
            " 2026-11-23T20:30:00+00:00"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(timezone) if timezone != "UTC" else UTC)
    return moment.timestamp()
