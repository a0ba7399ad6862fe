"""The call-policy tables: settings, blocked callers, rates and the operator's high-risk list.

:class:`SqlPolicyRepo` is mixed into the accounts unit of work, so that a policy change, its
audit entry and the revision bump commit in one transaction. :func:`load_policy` reads the
whole book for the call path, in the directory's transaction.
"""

from __future__ import annotations

import json
from decimal import Decimal

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from ringfence.errors import NotFound, SchemaMismatch
from ringfence.fraud.limits import Limits, limits_from_json, limits_to_json
from ringfence.policy.book import PolicyBook
from ringfence.policy.model import (
    BlockTreatment,
    CallerBlock,
    PolicySettings,
    settings_from_json,
    settings_to_json,
)
from ringfence.policy.tables import (
    GLOBAL_RATES,
    HighRiskRange,
    HighRiskRanges,
    Rate,
    RateTable,
    load_packaged_high_risk,
)
from ringfence.store.schema import (
    CallerBlockRow,
    HighRiskRow,
    PolicyRow,
    RateRow,
    UsageLimitsRow,
)

__all__ = ["SqlPolicyRepo", "load_policy", "load_usage_limits"]

_INSERT_CHUNK = 5_000


def _settings(row: PolicyRow) -> PolicySettings:
    try:
        return settings_from_json(json.loads(row.settings))
    except (ValueError, TypeError) as error:
        raise SchemaMismatch(
            f"the policy settings of tenant {row.tenant_id} {row.ext!r} cannot be read: {error}"
        ) from error


def _block(row: CallerBlockRow) -> CallerBlock:
    return CallerBlock(
        id=row.id,
        pattern=row.pattern,
        ext=row.ext or None,
        treatment=BlockTreatment(row.treatment),
    )


def _rate(row: RateRow) -> Rate:
    return Rate(prefix=row.prefix, price=Decimal(row.price), currency=row.currency)


def load_policy(session: Session) -> PolicyBook:
    """Every tenant's settings, blocks and rates, the global rates and the high-risk list."""
    settings = {(r.tenant_id, r.ext): _settings(r) for r in session.scalars(select(PolicyRow))}
    blocks = [
        (r.tenant_id, _block(r))
        for r in session.scalars(select(CallerBlockRow).order_by(CallerBlockRow.id))
    ]
    rates: dict[int, list[Rate]] = {}
    for row in session.execute(
        select(RateRow.tenant_id, RateRow.prefix, RateRow.price, RateRow.currency)
    ):
        rates.setdefault(row.tenant_id, []).append(
            Rate(prefix=row.prefix, price=Decimal(row.price), currency=row.currency)
        )
    return PolicyBook(
        settings=settings,
        blocks=blocks,
        rates={t: RateTable(r) for t, r in rates.items() if t != GLOBAL_RATES},
        global_rates=RateTable(rates.get(GLOBAL_RATES, ())),
        high_risk=read_high_risk(session),
    )


def _limits(row: UsageLimitsRow) -> Limits:
    try:
        return limits_from_json(json.loads(row.limits))
    except (ValueError, TypeError) as error:
        raise SchemaMismatch(
            f"the usage limits of tenant {row.tenant_id} {row.ext!r} cannot be read: {error}"
        ) from error


def load_usage_limits(session: Session) -> dict[tuple[int, str], Limits]:
    """The limits each tenant (``""``) and extension set, for the call path."""
    return {(r.tenant_id, r.ext): _limits(r) for r in session.scalars(select(UsageLimitsRow))}


def read_high_risk(session: Session) -> HighRiskRanges:
    """The operator's list when it has rows, else the one shipped with this release."""
    rows = session.scalars(select(HighRiskRow).order_by(HighRiskRow.prefix)).all()
    if not rows:
        return load_packaged_high_risk()
    return HighRiskRanges(
        (HighRiskRange(prefix=r.prefix, label=r.label, source=r.source) for r in rows),
        origin="operator list",
    )


class SqlPolicyRepo:
    """The policy half of the accounts unit of work (see :class:`PolicyUnitOfWork`)."""

    _session: Session

    def _write(self) -> Session:  # pragma: no cover - provided by the unit of work
        raise NotImplementedError

    def policy_book(self) -> PolicyBook:
        return load_policy(self._session)

    # -- settings -------------------------------------------------------------------------

    def policy_settings(self, tenant_id: int, ext: str | None) -> PolicySettings:
        row = self._session.scalar(
            select(PolicyRow).where(PolicyRow.tenant_id == tenant_id, PolicyRow.ext == (ext or ""))
        )
        return PolicySettings() if row is None else _settings(row)

    def set_policy_settings(
        self, tenant_id: int, ext: str | None, settings: PolicySettings
    ) -> None:
        """Store ``settings`` as the whole set of values; an empty set deletes the row."""
        session = self._write()
        session.execute(
            delete(PolicyRow).where(PolicyRow.tenant_id == tenant_id, PolicyRow.ext == (ext or ""))
        )
        if not settings.is_empty:
            text = json.dumps(settings_to_json(settings), sort_keys=True)
            session.add(PolicyRow(tenant_id=tenant_id, ext=ext or "", settings=text))
        session.flush()

    def forget_extension_policy(self, tenant_id: int, ext: str) -> None:
        """Drop an extension's own settings and blocks (the extension is being removed)."""
        session = self._write()
        session.execute(
            delete(PolicyRow).where(PolicyRow.tenant_id == tenant_id, PolicyRow.ext == ext)
        )
        session.execute(
            delete(CallerBlockRow).where(
                CallerBlockRow.tenant_id == tenant_id, CallerBlockRow.ext == ext
            )
        )

    # -- usage limits ---------------------------------------------------------------------

    def usage_limits(self, tenant_id: int, ext: str | None) -> Limits:
        row = self._session.scalar(
            select(UsageLimitsRow).where(
                UsageLimitsRow.tenant_id == tenant_id, UsageLimitsRow.ext == (ext or "")
            )
        )
        return Limits() if row is None else _limits(row)

    def set_usage_limits(self, tenant_id: int, ext: str | None, limits: Limits) -> None:
        """Store ``limits`` as the whole set of values; an empty set deletes the row."""
        session = self._write()
        session.execute(
            delete(UsageLimitsRow).where(
                UsageLimitsRow.tenant_id == tenant_id, UsageLimitsRow.ext == (ext or "")
            )
        )
        values = limits_to_json(limits)
        if values:
            text = json.dumps(values, sort_keys=True)
            session.add(UsageLimitsRow(tenant_id=tenant_id, ext=ext or "", limits=text))
        session.flush()

    # -- blocked callers ------------------------------------------------------------------

    def caller_blocks(self, tenant_id: int) -> list[CallerBlock]:
        rows = self._session.scalars(
            select(CallerBlockRow)
            .where(CallerBlockRow.tenant_id == tenant_id)
            .order_by(CallerBlockRow.ext, CallerBlockRow.pattern)
        )
        return [_block(r) for r in rows]

    def add_caller_block(
        self,
        tenant_id: int,
        *,
        ext: str | None,
        pattern: str,
        treatment: BlockTreatment,
        created_at: float,
    ) -> CallerBlock:
        row = CallerBlockRow(
            tenant_id=tenant_id,
            ext=ext or "",
            pattern=pattern,
            treatment=treatment.value,
            created_at=created_at,
        )
        session = self._write()
        session.add(row)
        session.flush()
        return _block(row)

    def remove_caller_block(self, tenant_id: int, *, ext: str | None, pattern: str) -> None:
        result = self._write().execute(
            delete(CallerBlockRow).where(
                CallerBlockRow.tenant_id == tenant_id,
                CallerBlockRow.ext == (ext or ""),
                CallerBlockRow.pattern == pattern,
            )
        )
        if getattr(result, "rowcount", 0) == 0:
            raise NotFound(f"no block {pattern!r}" + (f" on extension {ext}" if ext else ""))

    # -- rates and high-risk ranges -------------------------------------------------------

    def rates(self, tenant_id: int) -> list[Rate]:
        """A tenant's rates, or the global table's (:data:`GLOBAL_RATES`)."""
        rows = self._session.scalars(
            select(RateRow).where(RateRow.tenant_id == tenant_id).order_by(RateRow.prefix)
        )
        return [_rate(r) for r in rows]

    def replace_rates(self, tenant_id: int, rates: list[Rate]) -> int:
        """Make ``rates`` the whole table of the tenant (or the global one); return the count
        of rates it held before."""
        session = self._write()
        result = session.execute(delete(RateRow).where(RateRow.tenant_id == tenant_id))
        before = int(getattr(result, "rowcount", 0) or 0)
        values = [
            {
                "tenant_id": tenant_id,
                "prefix": r.prefix,
                "price": str(r.price),
                "currency": r.currency,
            }
            for r in rates
        ]
        for start in range(0, len(values), _INSERT_CHUNK):
            session.execute(insert(RateRow), values[start : start + _INSERT_CHUNK])
        return before

    def high_risk_ranges(self) -> HighRiskRanges:
        return read_high_risk(self._session)

    def replace_high_risk(self, ranges: list[HighRiskRange]) -> None:
        """Make ``ranges`` the operator's list; an empty list goes back to the packaged one."""
        session = self._write()
        session.execute(delete(HighRiskRow))
        if ranges:
            session.execute(
                insert(HighRiskRow),
                [{"prefix": r.prefix, "label": r.label, "source": r.source} for r in ranges],
            )
