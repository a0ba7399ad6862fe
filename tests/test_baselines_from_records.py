"""The baselines the service learns from its call records, at start and once a day after: the
tenant's answered calls, with what a minute to each country cost; not the calls the service
itself ended for fraud or for the budget."""

from __future__ import annotations

from decimal import Decimal

from tests.pbx.test_router import DIRECTORY, A, B

from ringfence.app_fraud import learn_baselines
from ringfence.store import CallRecord

NOW = 1_800_000_000.0
DAY = 86400.0


def record(
    callee: str,
    *,
    ago: float,
    tenant: int = A,
    answered: bool = True,
    seconds: float = 300.0,
    cost: str = "0.10",
    reason: str | None = None,
) -> CallRecord:
    start = NOW - ago
    return CallRecord(
        id=None,
        tenant_id=tenant,  # type: ignore[arg-type]
        call_id=f"c{callee}{ago}",
        caller="1001",
        callee=callee,
        direction="outbound",
        started_at=start,
        answered_at=start + 5 if answered else None,
        ended_at=start + 5 + (seconds if answered else 0),
        duration=seconds if answered else 0.0,
        final_status=200 if answered else 487,
        reason=reason,
        cost=Decimal(cost),
        currency="USD",
    )


def test_a_baseline_learns_the_answered_calls_of_four_weeks_and_their_prices() -> None:
    records = [
        record("+442079460018", ago=2 * DAY, cost="0.10"),  # 0.02 a minute
        record("+447400123456", ago=3 * DAY, cost="0.50"),  # a mobile: 0.10 a minute
        record("+33142685300", ago=40 * DAY),  # older than four weeks
        record("+4930123456", ago=DAY, answered=False),  # never answered
        record("+2348031234567", ago=DAY, tenant=B, cost="1.75"),
    ]
    baselines, learned = learn_baselines(DIRECTORY, records, now=NOW)
    assert learned == 3
    alpha = baselines[A]
    assert alpha.knows_range("+442079460018")
    assert alpha.knows_range("+447400123456")
    assert alpha.dearest("GB") == Decimal("0.1")
    assert not alpha.knows_country("FR")
    assert not alpha.knows_country("DE")
    assert baselines[B].dearest("NG") == Decimal("0.35")


def test_calls_the_service_ended_for_fraud_or_the_budget_are_not_learned() -> None:
    """The calls of an attack that went out before it was contained would otherwise make
    its destinations look like the tenant's own at the next lesson."""
    records = [
        record("+447400123456", ago=DAY, cost="6.00", reason="fraud_contained"),
        record("+447400765432", ago=DAY, cost="6.00", reason="budget_exceeded"),
        record("+442079460018", ago=DAY, cost="0.10"),
    ]
    baselines, learned = learn_baselines(DIRECTORY, records, now=NOW)
    assert learned == 1
    assert not baselines[A].knows_range("+447400123456")
    assert not baselines[A].knows_range("+447400765432")
    assert baselines[A].dearest("GB") == Decimal("0.02")
