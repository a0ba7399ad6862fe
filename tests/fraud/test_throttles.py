"""The usage throttles in virtual time: concurrent calls, call rates and spend budgets."""

from __future__ import annotations

from decimal import Decimal

import pytest

from ringfence.fraud import (
    SAFE_DEFAULTS,
    Limits,
    Usage,
    UsageLedger,
    check_usage,
    limits_from_json,
    limits_to_json,
    periods,
)

T0 = 1_800_000_000.0  # 2027-01-15 08:00 UTC


def decide(usage: Usage, *, international: bool = True, paid: bool = True,
           extension: Limits | None = None) -> str:  # fmt: skip
    verdict = check_usage(
        usage=usage, tenant=SAFE_DEFAULTS, extension=extension, international=international,
        paid=paid,
    )  # fmt: skip
    return verdict.reason


@pytest.mark.parametrize(
    ("usage", "international", "reason"),
    [
        (Usage(), True, ""),
        (Usage(intl_concurrent_extension=2), True, "concurrent_calls"),
        (Usage(intl_concurrent_extension=2), False, ""),  # domestic calls are not counted there
        (Usage(concurrent_extension=4), False, "concurrent_calls"),
        (Usage(concurrent_trunk=30), False, "concurrent_calls"),
        (Usage(intl_concurrent_tenant=4), True, "concurrent_calls"),
        (Usage(intl_calls_last_minute=5), True, "call_rate"),
        (Usage(intl_calls_last_minute=5), False, ""),
        (Usage(calls_last_minute=10), False, "call_rate"),
        (Usage(calls_last_hour=100), False, "call_rate"),
        (Usage(spent_today_tenant=Decimal("50")), True, "budget_exceeded"),
        (Usage(spent_today_tenant=Decimal("49.99")), True, ""),
        (Usage(spent_month_tenant=Decimal("500")), False, "budget_exceeded"),
    ],
)
def test_safe_defaults_of_a_new_tenant(usage: Usage, international: bool, reason: str) -> None:
    assert decide(usage, international=international) == reason


def test_a_budget_stops_only_paid_calls() -> None:
    spent = Usage(spent_today_tenant=Decimal("80"))
    assert decide(spent, paid=True) == "budget_exceeded"
    assert decide(spent, paid=False) == ""


def test_an_extension_budget_and_stricter_limits_apply_on_top_of_the_tenant() -> None:
    mine = Limits(daily_budget=Decimal("5"), intl_concurrent_per_extension=1)
    assert decide(Usage(spent_today_extension=Decimal("5")), extension=mine) == "budget_exceeded"
    assert decide(Usage(intl_concurrent_extension=1), extension=mine) == "concurrent_calls"
    assert decide(Usage(spent_today_extension=Decimal("5"))) == ""  # no budget of its own


def test_limits_round_trip_through_their_stored_form() -> None:
    assert limits_from_json(limits_to_json(SAFE_DEFAULTS)) == SAFE_DEFAULTS
    with pytest.raises(ValueError, match="not a usage limit"):
        limits_from_json({"calls_per_day": 3})
    with pytest.raises(ValueError, match="count"):
        limits_from_json({"calls_per_minute": -1})


def test_call_rates_slide_with_time() -> None:
    ledger = UsageLedger()
    for i in range(5):
        ledger.started(1, "1001", international=i % 2 == 0, at=T0 + i)
    assert ledger.rates(1, "1001", T0 + 10) == (5, 5, 3)
    assert ledger.rates(1, "1001", T0 + 62) == (2, 5, 1)  # starts at T0+3 and T0+4 remain
    assert ledger.rates(1, "1001", T0 + 3700) == (0, 0, 0)
    assert ledger.rates(1, "1002", T0) == (0, 0, 0)


def test_spend_is_kept_per_local_day_and_month_for_the_tenant_and_the_extension() -> None:
    ledger = UsageLedger()
    # 23:30 in New York on 14 January is 04:30 UTC on the 15th: the tenant's day is the 14th.
    late = T0 - 3.5 * 3600
    day = periods(late, "America/New_York")
    assert day == ("2027-01-14", "2027-01")
    ledger.spent(1, "1001", Decimal("1.25"), day)
    ledger.spent(1, "1002", Decimal("0.75"), day)
    assert ledger.spend(1, "1001", day) == (Decimal("2.00"), Decimal("2.00"), Decimal("1.25"),
                                            Decimal("1.25"))  # fmt: skip
    next_day = periods(T0 + 86400, "America/New_York")
    assert ledger.spend(1, "1001", next_day)[0] == 0
    assert ledger.spend(1, "1001", next_day)[1] == Decimal("2.00")  # same month
    ledger.forget_before(next_day)
    assert ledger.spend(1, "1001", day)[0] == 0
    assert ledger.spend(1, "1001", day)[1] == Decimal("2.00")


def test_a_restart_rebuilds_rates_and_spend_from_the_call_records() -> None:
    """The throttles hold across a restart: the ledger is rebuilt from the outbound records."""
    from ringfence.accounts import Directory, Tenant, TenantId
    from ringfence.app import seed_usage
    from ringfence.store import CallRecord

    tenant = Tenant(id=TenantId(1), name="a", domain="a.example", created_at=0.0)

    def record(callee: str, started: float, cost: str | None) -> CallRecord:
        return CallRecord(id=1, tenant_id=tenant.id, call_id=f"c{started}", caller="1001",
                          callee=callee, direction="outbound", started_at=started,
                          answered_at=started + 1, ended_at=started + 61, duration=60.0,
                          final_status=200, cost=None if cost is None else Decimal(cost),
                          currency="USD")  # fmt: skip

    ledger = UsageLedger()
    records = [
        record("+442079460018", T0 - 7200, "3.00"),  # two hours ago: spend only
        record("+442079460018", T0 - 30, "0.60"),
        record("+12125550123", T0 - 20, None),
    ]
    assert seed_usage(ledger, Directory(revision=1, tenants=[tenant]), records) == 3
    assert ledger.rates(1, "1001", T0) == (2, 2, 1)
    assert ledger.spend(1, "1001", periods(T0, "UTC"))[0] == Decimal("3.60")
