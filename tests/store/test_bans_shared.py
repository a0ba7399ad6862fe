"""Bans shared by several nodes through one store, on SQLite and PostgreSQL: a ban made on one
node holds on the others after their next sync, two nodes banning one address keep the longer
ban and the higher count of offences, an operator's lift reaches every node and is not brought
back, and after a restart the bans (and the ladder of a lapsed one) are still there.

Each node is a :class:`BanList` over a :class:`Store` of its own on the same database, as
separate processes have; ``sync`` is one turn of the service's sharing loop.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest

from ringfence.accounts import GuardService
from ringfence.errors import InvalidInput, NotFound
from ringfence.guard import BanList
from ringfence.store import Store

NOW = 1_800_000_000.0
ATTACKER = "198.51.100.7"


def sync(store: Store, bans: BanList, now: float, since: float = NOW - 60) -> None:
    pending = bans.take_pending()
    bans.merge(store.sync_bans(bans=pending, now=now, since=since), now)


@pytest.fixture
def two_nodes(store: Store, db_url: str) -> Iterator[tuple[Store, Store]]:
    other = Store.open(db_url)
    yield store, other
    other.close()


def test_a_ban_on_one_node_holds_on_the_other_after_a_sync(
    two_nodes: tuple[Store, Store],
) -> None:
    store_a, store_b = two_nodes
    a, b = BanList(), BanList()
    ban = a.offend(ATTACKER, NOW, "brute_force")
    assert b.banned(ATTACKER, NOW + 1) is None
    sync(store_a, a, NOW + 1)
    sync(store_b, b, NOW + 2)
    assert b.banned(ATTACKER, NOW + 2) == ban
    assert b.banned(ATTACKER, NOW + 601) is None  # the ten minutes ran out there as well


def test_two_nodes_banning_one_address_keep_the_longer_ban(
    two_nodes: tuple[Store, Store],
) -> None:
    store_a, store_b = two_nodes
    a, b = BanList(), BanList()
    for at in (0.0, 700.0, 4400.0):  # three offences on node A: the third is six hours
        a.offend(ATTACKER, NOW + at, "brute_force")
    short = b.offend(ATTACKER, NOW + 4400.0, "scanner")  # B's first: ten minutes
    sync(store_a, a, NOW + 4401)
    sync(store_b, b, NOW + 4402)
    sync(store_a, a, NOW + 4403)
    for node in (a, b):
        ban = node.banned(ATTACKER, NOW + 4400 + 3600)
        assert ban is not None
        assert ban.until == NOW + 4400 + 6 * 3600
        assert ban.offences == 3
    assert short.offences == 1
    # B's next offence there climbs from where the address stands on any node.
    assert b.offend(ATTACKER, NOW + 4400 + 7 * 3600, "brute_force").offences == 4


def test_an_operators_lift_reaches_every_node_and_stays_lifted(
    two_nodes: tuple[Store, Store],
) -> None:
    store_a, store_b = two_nodes
    a, b = BanList(), BanList()
    a.offend(ATTACKER, NOW, "brute_force")
    sync(store_a, a, NOW + 1)
    sync(store_b, b, NOW + 1)
    admin = GuardService(store_a, actor="test", clock=lambda: NOW + 5)
    lifted = admin.unban(ATTACKER)
    assert lifted.reason == "brute_force"
    sync(store_a, a, NOW + 6)
    sync(store_b, b, NOW + 6)
    assert a.banned(ATTACKER, NOW + 7) is None
    assert b.banned(ATTACKER, NOW + 7) is None
    sync(store_b, b, NOW + 8)  # nobody brings it back
    assert admin.bans() == []
    # And its offences are forgotten: the next one starts the ladder again.
    assert b.offend(ATTACKER, NOW + 10, "brute_force").offences == 1


def test_an_operators_network_ban_holds_on_every_node_until_lifted(
    two_nodes: tuple[Store, Store],
) -> None:
    store_a, store_b = two_nodes
    admin = GuardService(store_a, actor="test", clock=lambda: NOW)
    admin.ban("203.0.113.0/24")
    b = BanList()
    sync(store_b, b, NOW + 1)
    assert b.banned("203.0.113.77", NOW + 365 * 86400) is not None
    (listed,) = admin.bans()
    assert (listed.network, listed.reason, listed.until) == ("203.0.113.0/24", "manual", math.inf)
    admin.unban("203.0.113.0/24")
    sync(store_b, b, NOW + 3)
    assert b.banned("203.0.113.77", NOW + 3) is None


def test_bans_and_the_ladder_survive_a_restart(store: Store, db_url: str) -> None:
    node = BanList()
    for at in (0.0, 700.0):
        node.offend(ATTACKER, NOW + at, "brute_force")  # the second: an hour
    node.offend("192.0.2.9", NOW + 700.0, "scanner")
    sync(store, node, NOW + 701)
    # A restart, four hours on: the hour has lapsed, the ten minutes of 192.0.2.9 too.
    later = NOW + 4 * 3600
    with Store.open(db_url) as reopened:
        fresh = BanList()
        fresh.merge(reopened.load_bans(since=later - 8 * 86400), later)
    assert fresh.banned(ATTACKER, later) is None
    assert fresh.offend(ATTACKER, later, "brute_force").offences == 3  # six hours, not ten min


def test_a_ban_without_end_survives_a_restart(store: Store, db_url: str) -> None:
    GuardService(store, actor="test", clock=lambda: NOW).ban(ATTACKER)
    with Store.open(db_url) as reopened:
        fresh = BanList()
        fresh.merge(reopened.load_bans(since=NOW - 60), NOW + 30 * 86400)
    assert fresh.banned(ATTACKER, NOW + 30 * 86400) is not None


def test_a_timed_ban_lapses_and_leaves_the_list(store: Store) -> None:
    admin = GuardService(store, actor="test", clock=lambda: NOW)
    admin.ban(ATTACKER, duration=3600.0)
    assert [b.address for b in admin.bans()] == [ATTACKER]
    later = GuardService(store, actor="test", clock=lambda: NOW + 3601)
    assert later.bans() == []
    with pytest.raises(NotFound, match="not banned"):
        later.unban(ATTACKER)


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("0.0.0.0/0", "too wide"),
        ("10.0.0.0/7", "too wide"),
        ("2000::/15", "too wide"),
        ("10.0.0.1/8", "host bits"),
        ("not-an-address", "not an IP address"),
        ("", "not an IP address"),
    ],
)
def test_a_ban_the_operator_did_not_mean_is_refused_with_what_to_fix(
    store: Store, target: str, message: str
) -> None:
    admin = GuardService(store, actor="test", clock=lambda: NOW)
    with pytest.raises(InvalidInput, match=message):
        admin.ban(target)
    assert admin.bans() == []


def test_lapsed_rows_are_dropped_after_a_week_or_so(store: Store) -> None:
    node = BanList()
    node.offend(ATTACKER, NOW, "flood")
    sync(store, node, NOW + 1)
    assert store.load_bans(since=0.0) != []
    store.sync_bans(bans=[], now=NOW + 9 * 86400, since=NOW)
    assert store.load_bans(since=0.0) == []


def test_each_admin_ban_change_is_audited(store: Store) -> None:
    admin = GuardService(store, actor="ops", clock=lambda: NOW)
    admin.ban("203.0.113.5", duration=600.0)
    admin.unban("203.0.113.5")
    with store.unit_of_work() as uow:
        entries = uow.audit_entries(None, limit=10)
    actions = [(e.actor, e.action, e.target) for e in entries]
    assert ("ops", "ban.add", "203.0.113.5/32") in actions
    assert ("ops", "ban.remove", "203.0.113.5/32") in actions
