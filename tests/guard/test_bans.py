"""BanList: bans that grow with each offence, lapse, are forgotten, and cover networks."""

from __future__ import annotations

import math
from ipaddress import ip_network

import pytest

from ringfence.guard import DEFAULT_LADDER, Ban, BanList, parse_network

HOUR = 3600.0
DAY = 24 * HOUR
WEEK = 7 * DAY
ATTACKER = "198.51.100.7"


def test_the_default_ladder_is_ten_minutes_an_hour_six_hours_a_day_a_week() -> None:
    assert DEFAULT_LADDER == (600.0, HOUR, 6 * HOUR, DAY, WEEK)


def test_each_offence_climbs_the_ladder_and_stays_at_the_top() -> None:
    bans = BanList()
    now = 1_000.0
    durations = []
    offences = []
    for _ in range(8):
        ban = bans.offend(ATTACKER, now, "brute_force")
        durations.append(ban.until - ban.since)
        offences.append(ban.offences)
        now = ban.until + 1.0  # offends again just after the ban lapsed
    assert durations == [600.0, HOUR, 6 * HOUR, DAY, WEEK, WEEK, WEEK, WEEK]
    assert offences == [1, 2, 3, 4, 5, 6, 7, 8]


def test_an_offence_bans_the_address_as_a_single_host() -> None:
    ban = BanList().offend(ATTACKER, 50.0, "scanner")
    assert ban == Ban(
        network=f"{ATTACKER}/32", since=50.0, until=650.0, reason="scanner", offences=1
    )
    assert ban.address == ATTACKER


def test_a_ban_lapses_at_its_end() -> None:
    bans = BanList()
    ban = bans.offend(ATTACKER, 0.0, "brute_force")
    assert bans.banned(ATTACKER, 599.999) == ban
    assert bans.banned(ATTACKER, 600.0) is None
    assert bans.banned(ATTACKER, 10_000.0) is None


@pytest.mark.parametrize("expire_in_between", [False, True], ids=["no_expire", "expire"])
@pytest.mark.parametrize(
    ("clean_for", "next_ban"),
    [(DAY - 1.0, HOUR), (DAY + 1.0, 600.0), (30 * DAY, 600.0)],
    ids=["just_short_of_forgiven", "just_forgiven", "long_forgiven"],
)
def test_offences_are_forgotten_after_staying_clean_for_forget_after(
    clean_for: float, next_ban: float, expire_in_between: bool
) -> None:
    bans = BanList(forget_after=DAY)
    first = bans.offend(ATTACKER, 0.0, "brute_force")
    again_at = first.until + clean_for
    if expire_in_between:
        bans.expire(again_at)
    second = bans.offend(ATTACKER, again_at, "brute_force")
    assert second.until - second.since == next_ban
    assert second.offences == (2 if next_ban == HOUR else 1)


def test_the_ladder_restarts_at_the_bottom_after_a_week_clean_by_default() -> None:
    bans = BanList()
    now = 0.0
    for _ in range(4):  # climbs to a day
        now = bans.offend(ATTACKER, now, "flood").until
    ban = bans.offend(ATTACKER, now + WEEK + 1.0, "flood")
    assert ban.until - ban.since == 600.0
    assert ban.offences == 1


@pytest.mark.parametrize(
    ("operator_duration", "expected_until"),
    [(DAY, 100.0 + DAY), (None, math.inf)],
    ids=["day", "until_lifted"],
)
def test_an_already_banned_address_keeps_the_longer_ban(
    operator_duration: float | None, expected_until: float
) -> None:
    bans = BanList()
    bans.add(ATTACKER, 100.0, duration=operator_duration, reason="manual")
    ban = bans.offend(ATTACKER, 200.0, "scanner")
    assert ban.until == expected_until
    assert bans.banned(ATTACKER, 200.0 + 601.0) is not None


def test_a_second_offence_while_banned_extends_to_the_next_step() -> None:
    bans = BanList()
    bans.offend(ATTACKER, 0.0, "scanner")  # until 600
    ban = bans.offend(ATTACKER, 100.0, "scanner")  # an hour from 100 is longer
    assert ban.until == 100.0 + HOUR
    assert ban.offences == 2


@pytest.mark.parametrize("inside", ["203.0.113.0", "203.0.113.1", "203.0.113.77", "203.0.113.255"])
def test_an_operator_ban_of_a_network_covers_every_address_in_it(inside: str) -> None:
    bans = BanList()
    ban = bans.add("203.0.113.0/24", 0.0, duration=HOUR, reason="manual")
    assert bans.banned(inside, 10.0) == ban
    assert ban.address == "203.0.113.0/24"


@pytest.mark.parametrize(
    "outside", ["203.0.112.255", "203.0.114.0", "10.0.0.1", "2001:db8::cb00:7101"]
)
def test_an_operator_ban_of_a_network_covers_no_address_outside_it(outside: str) -> None:
    bans = BanList()
    bans.add("203.0.113.0/24", 0.0, duration=HOUR, reason="manual")
    assert bans.banned(outside, 10.0) is None


def test_an_operator_ban_of_a_network_lapses_after_its_duration() -> None:
    bans = BanList()
    bans.add("203.0.113.0/24", 0.0, duration=HOUR, reason="manual")
    assert bans.banned("203.0.113.9", HOUR - 1.0) is not None
    assert bans.banned("203.0.113.9", HOUR) is None


@pytest.mark.parametrize("target", [ATTACKER, "203.0.113.0/24", "2001:db8::/48"])
def test_a_ban_without_duration_never_ends(target: str) -> None:
    bans = BanList()
    ban = bans.add(target, 0.0, duration=None, reason="manual")
    assert ban.until == math.inf
    probe = ATTACKER if "/" not in target else str(ip_network(target)[5])
    far_future = 100 * 365 * DAY
    assert bans.banned(probe, far_future) == ban
    bans.expire(far_future)
    assert bans.active(far_future) == [ban]


def test_remove_lifts_a_ban_and_forgets_the_offences() -> None:
    bans = BanList()
    bans.offend(ATTACKER, 0.0, "brute_force")
    second = bans.offend(ATTACKER, 700.0, "brute_force")
    assert second.until - second.since == HOUR
    assert bans.remove(ATTACKER, 0.0) is True
    assert bans.banned(ATTACKER, 701.0) is None
    fresh = bans.offend(ATTACKER, 800.0, "brute_force")
    assert fresh.until - fresh.since == 600.0
    assert fresh.offences == 1


def test_remove_lifts_a_network_ban() -> None:
    bans = BanList()
    bans.add("203.0.113.0/24", 0.0, duration=None, reason="manual")
    assert bans.remove("203.0.113.0/24", 0.0) is True
    assert bans.banned("203.0.113.9", 1.0) is None


@pytest.mark.parametrize("target", [ATTACKER, "203.0.113.0/24"])
def test_remove_says_when_there_was_nothing_to_lift(target: str) -> None:
    assert BanList().remove(target, 0.0) is False


def test_an_ipv4_mapped_offender_is_banned_as_its_ipv4_address() -> None:
    bans = BanList()
    ban = bans.offend("::ffff:203.0.113.5", 0.0, "scanner")
    assert ban.network == "203.0.113.5/32"
    assert bans.banned("203.0.113.5", 1.0) == ban


def test_an_operator_ban_given_ipv4_mapped_bans_the_ipv4_address() -> None:
    bans = BanList()
    bans.add("::ffff:203.0.113.5", 0.0, duration=None, reason="manual")
    assert bans.banned("203.0.113.5", 1.0) is not None
    assert bans.remove("::ffff:203.0.113.5", 0.0) is True
    assert bans.banned("203.0.113.5", 2.0) is None


def test_a_network_ban_covers_ipv4_mapped_addresses_in_it() -> None:
    bans = BanList()
    bans.add("203.0.113.0/24", 0.0, duration=None, reason="manual")
    assert bans.banned("::ffff:203.0.113.9", 1.0) is not None
    assert bans.banned("::ffff:203.0.114.9", 1.0) is None


def test_ipv4_mapped_offences_count_on_the_same_ladder_as_the_ipv4_address() -> None:
    bans = BanList()
    bans.offend("203.0.113.5", 0.0, "brute_force")
    second = bans.offend("::ffff:203.0.113.5", 700.0, "brute_force")
    assert second.offences == 2
    assert second.until - second.since == HOUR


@pytest.mark.parametrize("how", ["offend", "add"])
def test_a_host_ban_is_found_when_the_address_arrives_ipv4_mapped(how: str) -> None:
    bans = BanList()
    if how == "offend":
        bans.offend("203.0.113.5", 0.0, "scanner")
    else:
        bans.add("203.0.113.5", 0.0, duration=None, reason="manual")
    assert bans.banned("::ffff:203.0.113.5", 1.0) is not None


def test_an_ipv6_offender_is_banned_as_a_single_host() -> None:
    bans = BanList()
    ban = bans.offend("2001:db8::7", 0.0, "scanner")
    assert ban.network == "2001:db8::7/128"
    assert bans.banned("2001:db8::7", 1.0) == ban
    assert bans.banned("2001:db8::8", 1.0) is None


@pytest.mark.parametrize(
    ("address", "covered"),
    [
        ("2001:db8:1::1", True),
        ("2001:db8:1:ffff:ffff:ffff:ffff:ffff", True),
        ("2001:db8:2::1", False),
        ("2001:db8::1", False),
        ("203.0.113.5", False),
    ],
)
def test_an_ipv6_network_ban_covers_exactly_its_addresses(address: str, covered: bool) -> None:
    bans = BanList()
    bans.add("2001:db8:1::/48", 0.0, duration=DAY, reason="manual")
    assert (bans.banned(address, 1.0) is not None) is covered


@pytest.mark.parametrize(
    ("text", "network"),
    [
        ("203.0.113.5", "203.0.113.5/32"),
        ("203.0.113.0/24", "203.0.113.0/24"),
        (" 10.0.0.0/8 ", "10.0.0.0/8"),
        ("::ffff:203.0.113.5", "203.0.113.5/32"),
        ("[2001:db8::1]", "2001:db8::1/128"),
        ("2001:db8::/32", "2001:db8::/32"),
    ],
)
def test_parse_network_reads_addresses_and_networks(text: str, network: str) -> None:
    assert parse_network(text) == ip_network(network)


@pytest.mark.parametrize(
    "text",
    [
        "10.0.0.1/8",
        "203.0.113.5/24",
        "2001:db8::1/32",
        "garbage",
        "garbage/8",
        "10.0.0.0/33",
        "300.1.2.3",
        "",
    ],
)
def test_parse_network_rejects_host_bits_and_garbage(text: str) -> None:
    with pytest.raises(ValueError, match=r"not an? (IP address|network)"):
        parse_network(text)


def test_parse_network_says_which_text_had_host_bits() -> None:
    with pytest.raises(ValueError, match=r"'10\.0\.0\.1/8' is not a network"):
        parse_network("10.0.0.1/8")


def test_an_operator_ban_with_host_bits_is_refused_not_widened() -> None:
    bans = BanList()
    with pytest.raises(ValueError, match="not a network"):
        bans.add("10.0.0.1/8", 0.0, duration=None, reason="manual")
    assert len(bans) == 0
    assert bans.banned("10.200.0.1", 1.0) is None


def test_merge_takes_on_the_bans_of_other_nodes_and_keeps_its_own() -> None:
    bans = BanList()
    mine = bans.offend(ATTACKER, 0.0, "brute_force")
    shared = [
        Ban(network="203.0.113.5/32", since=0.0, until=DAY, reason="scanner", offences=1),
        Ban(network="2001:db8::/64", since=0.0, until=math.inf, reason="manual"),
        Ban(network="198.18.0.9/32", since=0.0, until=50.0, reason="flood"),  # lapsed
    ]
    bans.merge(shared, 100.0)
    assert bans.banned("203.0.113.5", 100.0) == shared[0]
    assert bans.banned("2001:db8::abcd", 100.0) == shared[1]
    assert bans.banned("198.18.0.9", 100.0) is None
    assert bans.banned(ATTACKER, 100.0) == mine
    assert bans.active(100.0) == [shared[1], shared[0], mine]


def test_merge_keeps_the_longer_of_two_bans_of_one_address() -> None:
    bans = BanList()
    mine = bans.offend(ATTACKER, 0.0, "brute_force")  # ten minutes
    longer = Ban(network=f"{ATTACKER}/32", since=0.0, until=DAY, reason="scanner", offences=4)
    bans.merge([longer], 1.0)
    assert bans.banned(ATTACKER, 700.0) == longer
    bans.merge([mine], 2.0)  # this node's own ban, back from the store
    assert bans.banned(ATTACKER, 700.0) == longer


def test_merge_keeps_the_ladder_where_the_shared_ban_left_it() -> None:
    bans = BanList()
    shared = Ban(network="203.0.113.5/32", since=0.0, until=DAY, reason="scanner", offences=3)
    bans.merge([shared], 0.0)
    next_ban = bans.offend("203.0.113.5", DAY + 10.0, "scanner")
    assert next_ban.offences == 4
    assert next_ban.until - next_ban.since == DAY


def test_a_lapsed_ban_from_the_store_still_counts_toward_the_ladder() -> None:
    # After a restart the store's lapsed ban is all that is left of the address's history.
    bans = BanList()
    lapsed = Ban(network=f"{ATTACKER}/32", since=0.0, until=600.0, reason="flood", offences=2)
    bans.merge([lapsed], HOUR)
    assert bans.banned(ATTACKER, HOUR) is None
    assert bans.offend(ATTACKER, HOUR, "flood").offences == 3


def test_a_ban_lifted_elsewhere_goes_and_its_offences_with_it() -> None:
    bans = BanList()
    bans.offend(ATTACKER, 0.0, "brute_force")
    bans.offend(ATTACKER, 700.0, "brute_force")
    lift = Ban(network=f"{ATTACKER}/32", since=800.0, until=800.0, reason="lifted", lifted=True)
    bans.merge([lift], 801.0)
    assert bans.banned(ATTACKER, 801.0) is None
    assert bans.offend(ATTACKER, 900.0, "brute_force").offences == 1


def test_a_lift_older_than_a_new_ban_here_leaves_the_ban() -> None:
    bans = BanList()
    lift = Ban(network=f"{ATTACKER}/32", since=50.0, until=50.0, reason="lifted", lifted=True)
    ban = bans.offend(ATTACKER, 100.0, "scanner")
    bans.merge([lift], 101.0)
    assert bans.banned(ATTACKER, 101.0) == ban


def test_a_lifted_network_ban_goes() -> None:
    bans = BanList()
    bans.merge([Ban(network="192.0.2.0/24", since=0.0, until=math.inf, reason="manual")], 0.0)
    assert bans.banned("192.0.2.9", 1.0) is not None
    lift = Ban(network="192.0.2.0/24", since=5.0, until=5.0, reason="lifted", lifted=True)
    bans.merge([lift], 6.0)
    assert bans.banned("192.0.2.9", 6.0) is None


def test_pending_holds_what_this_node_decided_until_taken() -> None:
    bans = BanList()
    first = bans.offend(ATTACKER, 0.0, "brute_force")
    manual = bans.add("192.0.2.0/24", 0.0, duration=HOUR, reason="manual")
    bans.remove("198.18.0.1", 1.0)
    pending = bans.take_pending()
    assert first in pending
    assert manual in pending
    assert any(b.lifted and b.network == "198.18.0.1/32" for b in pending)
    assert bans.take_pending() == []
    # The store was down: handed back, shared next time, and a newer decision wins.
    bans.give_back(pending)
    second = bans.offend(ATTACKER, 700.0, "brute_force")
    bans.give_back([first])
    again = bans.take_pending()
    assert second in again
    assert first not in again
    assert len(again) == 3


def test_offences_behind_a_lifted_permanent_ban_are_forgotten_after_forget_after() -> None:
    bans = BanList(forget_after=DAY)
    permanent = Ban(network=f"{ATTACKER}/32", since=0.0, until=math.inf, reason="manual")
    bans.merge([permanent], 0.0)
    bans.remove(ATTACKER, 10.0)
    bans.expire(30 * DAY)
    ban = bans.offend(ATTACKER, 30 * DAY, "brute_force")
    assert ban.until - ban.since == 600.0


def test_active_lists_only_bans_in_force_longest_lasting_first() -> None:
    bans = BanList()
    short = bans.add("192.0.2.1", 0.0, duration=60.0, reason="manual")
    lapsed = bans.add("192.0.2.2", 0.0, duration=10.0, reason="manual")
    forever = bans.add("203.0.113.0/24", 0.0, duration=None, reason="manual")
    offence = bans.offend(ATTACKER, 0.0, "scanner")
    active = bans.active(30.0)
    assert active == [forever, offence, short]
    assert lapsed not in active


def test_expire_drops_lapsed_bans() -> None:
    bans = BanList()
    bans.add("192.0.2.1", 0.0, duration=60.0, reason="manual")
    bans.add("192.0.2.0/28", 0.0, duration=60.0, reason="manual")
    kept = bans.add("203.0.113.0/24", 0.0, duration=HOUR, reason="manual")
    bans.offend(ATTACKER, 0.0, "scanner")
    assert len(bans) == 4
    bans.expire(700.0)
    assert len(bans) == 1
    assert bans.active(700.0) == [kept]


def test_expire_keeps_the_ladder_of_a_recent_offender() -> None:
    bans = BanList()
    bans.offend(ATTACKER, 0.0, "scanner")
    bans.expire(700.0)
    assert bans.offend(ATTACKER, 800.0, "scanner").offences == 2


def test_a_ban_list_needs_a_ladder() -> None:
    with pytest.raises(ValueError, match="ladder"):
        BanList(ladder=())


def test_a_custom_ladder_is_climbed_and_topped() -> None:
    bans = BanList(ladder=(60.0, 120.0))
    now = 0.0
    durations = []
    for _ in range(4):
        ban = bans.offend(ATTACKER, now, "flood")
        durations.append(ban.until - ban.since)
        now = ban.until
    assert durations == [60.0, 120.0, 120.0, 120.0]


def test_network_bans_of_several_lengths_are_each_found_and_each_lifted_alone() -> None:
    bans = BanList()
    wide = bans.add("10.20.0.0/16", 0.0, duration=None, reason="manual")
    narrow = bans.add("10.20.30.0/24", 0.0, duration=None, reason="manual")
    v6 = bans.add("2001:db8:40::/48", 0.0, duration=None, reason="manual")
    assert bans.banned("10.20.30.40", 1.0) in (wide, narrow)
    assert bans.banned("10.20.99.1", 1.0) == wide
    assert bans.banned("10.21.0.1", 1.0) is None
    assert bans.banned("2001:db8:40:ffff::1", 1.0) == v6
    assert bans.banned("[2001:db8:40::9]", 1.0) == v6
    assert bans.banned("::ffff:10.20.30.40", 1.0) is not None
    assert bans.remove("10.20.0.0/16", 2.0)
    assert bans.banned("10.20.30.40", 3.0) == narrow
    assert bans.banned("10.20.99.1", 3.0) is None
    bans.remove("10.20.30.0/24", 4.0)
    assert bans.banned("10.20.30.40", 5.0) is None
    assert bans.banned("2001:db8:40::1", 5.0) == v6


def test_many_network_bans_are_all_found() -> None:
    bans = BanList()
    for i in range(300):
        bans.add(f"198.{18 + i // 256}.{i % 256}.0/24", 0.0, duration=60.0, reason="manual")
    assert all(bans.banned(f"198.{18 + i // 256}.{i % 256}.77", 1.0) for i in range(300))
    assert bans.banned("198.20.0.1", 1.0) is None
    bans.expire(61.0)
    assert bans.banned("198.18.5.77", 61.0) is None
    assert len(bans) == 0
