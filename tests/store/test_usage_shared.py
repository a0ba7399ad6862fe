"""Usage shared by several nodes through one store, on SQLite and PostgreSQL: spend added by
nodes at the same time is all counted (the increments are atomic), a node sees the others' live
calls and call starts but not its own twice, a dead node's report stops counting, and the
counters are still there for a node that starts later.

Each node is a :class:`Store` of its own on the same database, as separate processes have.
"""

from __future__ import annotations

import random
import threading
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from tests.accounts.test_policy_service import postgres_url  # noqa: F401

from ringfence.accounts import AccountsService
from ringfence.fraud import UsageLedger
from ringfence.store import USAGE_STALE, Store

NOW = 1_800_000_000.0
DAY, MONTH = "2027-01-15", "2027-01"


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated database with tenant ``acme`` (id 1); PostgreSQL: a schema of its own."""
    if request.param == "sqlite":
        address = f"sqlite:///{tmp_path / 'ringfence.db'}"
        schema = None
    else:
        base = request.getfixturevalue("postgres_url")
        schema = f"rf_{uuid.uuid4().hex[:16]}"
        with psycopg.connect(base, autocommit=True) as connection:
            connection.execute(f"CREATE SCHEMA {schema}")
        address = f"{base}?options=-csearch_path%3D{schema}"
    try:
        with Store.open(address) as store:
            store.migrate()
            AccountsService(
                store, actor="test", clock=lambda: NOW, random=random.Random(1)
            ).add_tenant("acme", domain="acme.example")
        yield address
    finally:
        if schema is not None:
            with psycopg.connect(base, autocommit=True) as connection:
                connection.execute(f"DROP SCHEMA {schema} CASCADE")


def sync(store: Store, node: str, ledger: UsageLedger, live: dict[str, int], now: float) -> None:
    """One turn of the service's sharing loop."""
    pending = ledger.take_pending()
    totals, others = store.sync_usage(
        node=node, spend=pending, report=ledger.report(live, now), now=now, since=now - 60
    )
    ledger.absorb(totals)
    ledger.set_others(others)


def test_spend_added_by_two_nodes_at_once_is_all_counted(url: str) -> None:
    rounds, amount = 60, Decimal("0.0125")
    failures: list[BaseException] = []

    def node(name: str) -> None:
        try:
            with Store.open(url, busy_timeout=30.0) as store:
                for i in range(rounds):
                    spend = {(1, "", DAY): amount, (1, "", MONTH): amount, (1, name, DAY): amount}
                    store.sync_usage(node=name, spend=spend, report={}, now=NOW + i, since=NOW)
        except BaseException as error:  # pragma: no cover - reported below
            failures.append(error)

    threads = [threading.Thread(target=node, args=(n,)) for n in ("1001", "1002")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not failures, failures
    with Store.open(url) as store:
        totals = store.load_spend(since=0)
    assert totals[(1, "", DAY)] == 2 * rounds * amount
    assert totals[(1, "", MONTH)] == 2 * rounds * amount
    assert totals[(1, "1001", DAY)] == totals[(1, "1002", DAY)] == rounds * amount


def test_each_node_sees_the_others_calls_and_spend_but_not_its_own_twice(url: str) -> None:
    with Store.open(url) as a_store, Store.open(url) as b_store:
        a, b = UsageLedger(), UsageLedger()
        a.started(1, "1001", international=True, at=NOW - 10)
        a.spent(1, "1001", Decimal("1.50"), (DAY, MONTH))
        sync(a_store, "a", a, {"intl-ext|1|1001": 1, "tenant|1": 1}, NOW)
        b.spent(1, "1002", Decimal("0.25"), (DAY, MONTH))
        sync(b_store, "b", b, {"tenant|1": 2}, NOW + 0.5)
        sync(a_store, "a", a, {"intl-ext|1|1001": 1, "tenant|1": 1}, NOW + 1)

        # Spend: every node's, once.
        assert a.spend(1, "1001", (DAY, MONTH)) == (
            Decimal("1.75"),
            Decimal("1.75"),
            Decimal("1.50"),
            Decimal("1.50"),
        )
        assert b.spend(1, "1001", (DAY, MONTH))[0] == Decimal("1.75")
        # Live calls and call starts: the others' only, the node's own it counts itself.
        assert (a.others("tenant|1"), b.others("tenant|1")) == (2, 1)
        assert b.others("intl-ext|1|1001") == 1
        assert b.rates(1, "1001", NOW + 1) == (1, 1, 1)
        assert a.rates(1, "1001", NOW + 1) == (1, 1, 1)

        # Spend a node adds between two syncs counts at once, and once it is written.
        a.spent(1, "1001", Decimal("0.10"), (DAY, MONTH))
        assert a.spend(1, "1001", (DAY, MONTH))[0] == Decimal("1.85")
        sync(a_store, "a", a, {}, NOW + 2)
        assert a.spend(1, "1001", (DAY, MONTH))[0] == Decimal("1.85")

        # Node a stops reporting (it died): b stops counting its calls after a few seconds.
        sync(b_store, "b", b, {}, NOW + 2 + USAGE_STALE + 1)
        assert b.others("tenant|1") == 0
        assert b.spend(1, "1001", (DAY, MONTH))[0] == Decimal("1.85")


def test_spend_a_store_could_not_take_is_written_later(url: str) -> None:
    ledger = UsageLedger()
    ledger.spent(1, "1001", Decimal("2.00"), (DAY, MONTH))
    pending = ledger.take_pending()
    ledger.give_back(pending)  # the sync failed
    with Store.open(url) as store:
        sync(store, "a", ledger, {}, NOW)
        sync(store, "a", ledger, {}, NOW + 1)
        assert store.load_spend(since=0)[(1, "", DAY)] == Decimal("2.00")
    # A node that starts later begins from the counters.
    later = UsageLedger()
    with Store.open(url) as store:
        later.reset_spend(store.load_spend(since=0))
    assert later.spend(1, "1001", (DAY, MONTH)) == (Decimal("2.00"),) * 4


def test_spend_of_a_tenant_that_is_gone_does_not_stop_the_sharing(url: str) -> None:
    # Tenant 99 was removed while one of its calls ran: its spend is dropped, acme's counted.
    with Store.open(url) as store:
        spend = {(99, "", DAY): Decimal("1.00"), (1, "", DAY): Decimal("2.50")}
        totals, _ = store.sync_usage(node="n1", spend=spend, report={}, now=NOW, since=NOW - 60)
    assert totals == {(1, "", DAY): Decimal("2.50")}


def test_two_nodes_starting_on_a_store_without_counters_add_the_records_spend_once(
    url: str,
) -> None:
    """The first start after the upgrade: each node read the same records, and only one of
    them may fill the counters with what they cost."""
    records = {(1, "", DAY): Decimal("12.50"), (1, "1001", DAY): Decimal("12.50")}
    barrier = threading.Barrier(4)
    filled: list[bool] = []
    failures: list[BaseException] = []

    def node() -> None:
        try:
            with Store.open(url, busy_timeout=30.0) as store:
                barrier.wait()
                filled.append(store.seed_spend(spend=dict(records), now=NOW))
        except BaseException as error:  # pragma: no cover - reported below
            failures.append(error)

    threads = [threading.Thread(target=node) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert sorted(filled) == [False, False, False, True]
    with Store.open(url) as store:
        assert store.load_spend(since=NOW - 60) == records
        # Counters there already (every later start): the records are not added again.
        assert not store.seed_spend(spend=dict(records), now=NOW + 1)
        assert store.load_spend(since=NOW - 60) == records
