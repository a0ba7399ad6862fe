"""Perimeter: who is admitted, who is banned for what, and what the operator is told."""

from __future__ import annotations

import pytest

from ringfence.guard import (
    Fingerprints,
    GuardEvent,
    GuardSettings,
    Perimeter,
    Verdict,
    shipped_fingerprints,
)

ATTACKER = "198.51.100.7"
PHONE = "203.0.113.20"  # the legitimate phone, elsewhere
OFFICE = "192.0.2.10"  # an office of phones behind one NAT
TENANT = 7
MINUTE = 60.0
HOUR = 3600.0
OPTIONS = b"OPTIONS sip:100@example.com SIP/2.0\r\n"
INVITE = b"INVITE sip:+15551234567@example.com SIP/2.0\r\n"
REGISTER = b"REGISTER sip:example.com SIP/2.0\r\n"


def kinds(perimeter: Perimeter) -> list[str]:
    return [event.kind for event in perimeter.drain()]


def is_banned(perimeter: Perimeter, host: str, now: float) -> bool:
    return perimeter.bans.banned(host, now) is not None


def fail(perimeter: Perimeter, host: str, times: list[float], ext: str | None = "101") -> None:
    for t in times:
        perimeter.auth_failed(host, TENANT, ext, t)


# -- failed logins ---------------------------------------------------------------------------


def test_five_failed_logins_in_ten_minutes_ban_the_address() -> None:
    p = Perimeter(GuardSettings())
    fail(p, ATTACKER, [0.0, 100.0, 200.0, 300.0, 400.0])
    assert p.admit(ATTACKER, REGISTER, 401.0) is Verdict.DROP
    assert p.admit(ATTACKER, OPTIONS, 900.0) is Verdict.DROP


def test_four_failed_logins_do_not_ban() -> None:
    p = Perimeter(GuardSettings())
    fail(p, ATTACKER, [0.0, 1.0, 2.0, 3.0])
    assert p.admit(ATTACKER, REGISTER, 4.0) is Verdict.ADMIT
    assert kinds(p) == []


def test_five_failed_logins_spread_over_more_than_ten_minutes_do_not_ban() -> None:
    p = Perimeter(GuardSettings())
    fail(p, ATTACKER, [0.0, 151.0, 302.0, 453.0, 604.0])
    assert p.admit(ATTACKER, REGISTER, 605.0) is Verdict.ADMIT
    assert not is_banned(p, ATTACKER, 605.0)


def test_a_failed_login_every_three_minutes_for_hours_is_never_banned() -> None:
    p = Perimeter(GuardSettings())
    fail(p, ATTACKER, [180.0 * i for i in range(100)])  # four in any ten minutes
    assert p.bans.active(180.0 * 100) == []


def test_a_ban_of_the_attacker_does_not_stop_the_legitimate_phone() -> None:
    p = Perimeter(GuardSettings())
    p.authenticated(PHONE, "101", 0.0)
    fail(p, ATTACKER, [10.0, 11.0, 12.0, 13.0, 14.0])
    assert p.admit(ATTACKER, REGISTER, 15.0) is Verdict.DROP
    assert p.admit(PHONE, REGISTER, 15.0) is Verdict.ADMIT
    assert p.admit(PHONE, INVITE, 16.0) is Verdict.ADMIT


def test_a_brute_forcer_on_a_dual_stack_socket_is_dropped_after_its_ban() -> None:
    p = Perimeter(GuardSettings())
    mapped = "::ffff:198.51.100.7"
    fail(p, mapped, [0.0, 1.0, 2.0, 3.0, 4.0])
    assert kinds(p) == ["brute_force"]
    assert p.admit(mapped, REGISTER, 5.0) is Verdict.DROP


def test_the_brute_force_ban_is_reported_with_the_ban() -> None:
    p = Perimeter(GuardSettings())
    fail(p, ATTACKER, [0.0, 1.0, 2.0, 3.0, 4.0], ext=None)
    events = p.drain()
    assert len(events) == 1
    event = events[0]
    assert isinstance(event, GuardEvent)
    assert event.kind == "brute_force"
    assert event.address == ATTACKER
    assert event.at == 4.0
    assert event.ban is not None
    assert event.ban.network == f"{ATTACKER}/32"
    assert event.ban.reason == "brute_force"
    assert event.ban.until == 4.0 + 600.0
    assert p.drain() == []  # drained once


def test_a_brute_force_ban_lapses_after_ten_minutes_and_the_next_lasts_an_hour() -> None:
    p = Perimeter(GuardSettings())
    fail(p, ATTACKER, [0.0, 1.0, 2.0, 3.0, 4.0])
    assert p.admit(ATTACKER, REGISTER, 603.0) is Verdict.DROP
    assert p.admit(ATTACKER, REGISTER, 605.0) is Verdict.ADMIT
    fail(p, ATTACKER, [606.0, 607.0, 608.0, 609.0, 610.0])
    assert p.admit(ATTACKER, REGISTER, 610.0 + HOUR - 1.0) is Verdict.DROP
    assert p.admit(ATTACKER, REGISTER, 610.0 + HOUR + 1.0) is Verdict.ADMIT


def test_at_a_known_address_one_phones_stale_password_mutes_only_that_extension() -> None:
    # An office behind one NAT: 102 logs in; 101's phone there keeps an old password.
    p = Perimeter(GuardSettings())
    p.authenticated(OFFICE, "102", 0.0)
    fail(p, OFFICE, [10.0 + i * 30 for i in range(5)], ext="101")
    assert not is_banned(p, OFFICE, 200.0)
    assert p.muted(OFFICE, "101", 200.0)
    assert not p.muted(OFFICE, "102", 200.0)  # the other phones go on
    assert not p.muted(PHONE, "101", 200.0)  # and 101's phones elsewhere
    assert p.has_muted
    event = p.drain()[-1]
    assert (event.kind, event.ext, event.tenant_id) == ("wrong_password", "101", TENANT)
    assert event.ban is None
    # Ten minutes on it may try again; the next time it is muted for an hour.
    assert not p.muted(OFFICE, "101", 10.0 + 4 * 30 + 601.0)
    fail(p, OFFICE, [800.0 + i for i in range(5)], ext="101")
    assert p.muted(OFFICE, "101", 804.0 + HOUR - 1.0)


def test_at_a_known_address_failures_for_many_extensions_ban_it() -> None:
    p = Perimeter(GuardSettings())
    p.authenticated(OFFICE, "102", 0.0)
    for n in range(4):
        fail(p, OFFICE, [10.0 + n], ext=f"1{n:02d}")
    assert not is_banned(p, OFFICE, 20.0)
    fail(p, OFFICE, [20.0], ext="150")
    assert is_banned(p, OFFICE, 21.0)
    assert "brute_force" in kinds(p)


def test_a_phone_that_gets_in_starts_afresh_at_its_address() -> None:
    p = Perimeter(GuardSettings())
    p.authenticated(OFFICE, "102", 0.0)
    fail(p, OFFICE, [10.0, 11.0, 12.0, 13.0], ext="101")
    p.authenticated(OFFICE, "101", 14.0)  # its user typed the new password
    fail(p, OFFICE, [15.0, 16.0, 17.0, 18.0], ext="101")
    assert not p.muted(OFFICE, "101", 19.0)


def test_an_address_is_no_longer_known_after_known_for() -> None:
    p = Perimeter(GuardSettings(known_for=3900.0))
    p.authenticated(OFFICE, "102", 0.0)
    assert p.known(OFFICE, 3899.0)
    assert not p.known(OFFICE, 3900.0)
    fail(p, OFFICE, [4000.0 + i for i in range(5)])
    assert is_banned(p, OFFICE, 4005.0)


def test_an_extension_failed_from_many_addresses_is_reported_once_and_none_banned() -> None:
    p = Perimeter(GuardSettings(failures_per_extension=20))
    attackers = [f"198.51.100.{i}" for i in range(1, 6)]
    t = 0.0
    for _ in range(4):
        for host in attackers:
            p.auth_failed(host, TENANT, "101", t)
            t += 1.0
    events = p.drain()
    assert [e.kind for e in events] == ["extension_targeted"]
    assert events[0].tenant_id == TENANT
    assert events[0].ext == "101"
    assert events[0].ban is None
    assert p.bans.active(t) == []
    assert all(p.admit(host, REGISTER, t) is Verdict.ADMIT for host in attackers)


def test_one_failure_from_each_of_twenty_addresses_targets_the_extension() -> None:
    p = Perimeter(GuardSettings(failures_per_extension=20))
    for i in range(19):
        p.auth_failed(f"198.51.100.{i + 1}", TENANT, "101", float(i))
    assert kinds(p) == []
    p.auth_failed("198.51.100.99", TENANT, "101", 19.0)
    events = p.drain()
    assert len(events) == 1
    assert (events[0].kind, events[0].tenant_id, events[0].ext) == (
        "extension_targeted",
        TENANT,
        "101",
    )


def test_the_same_extension_of_two_tenants_is_counted_apart() -> None:
    p = Perimeter(GuardSettings(failures_per_extension=20))
    for i in range(19):
        p.auth_failed(f"198.51.100.{i + 1}", 1, "101", float(i))
        p.auth_failed(f"198.51.101.{i + 1}", 2, "101", float(i))
    assert kinds(p) == []


def test_failures_for_an_extension_spread_over_more_than_the_window_are_not_reported() -> None:
    p = Perimeter(GuardSettings(failures_per_extension=20, failures_window=600.0))
    for i in range(40):
        p.auth_failed(f"198.51.100.{i + 1}", TENANT, "101", 40.0 * i)  # 15 per ten minutes
    assert kinds(p) == []


# -- enumeration -----------------------------------------------------------------------------


def test_ten_distinct_users_refused_within_a_minute_ban_for_enumeration() -> None:
    p = Perimeter(GuardSettings())
    for i in range(10):
        p.refused(ATTACKER, f"{100 + i}", 5.0 * i)
    events = p.drain()
    assert [e.kind for e in events] == ["enumeration"]
    assert events[0].ban is not None
    assert events[0].ban.reason == "enumeration"
    assert p.admit(ATTACKER, OPTIONS, 50.0) is Verdict.DROP


def test_nine_distinct_users_refused_do_not_ban() -> None:
    p = Perimeter(GuardSettings())
    for i in range(9):
        p.refused(ATTACKER, f"{100 + i}", float(i))
    assert kinds(p) == []
    assert p.admit(ATTACKER, OPTIONS, 10.0) is Verdict.ADMIT


def test_ten_distinct_users_refused_over_more_than_a_minute_do_not_ban() -> None:
    p = Perimeter(GuardSettings())
    for i in range(10):
        p.refused(ATTACKER, f"{100 + i}", 7.0 * i)  # the tenth comes 63 s after the first
    assert kinds(p) == []


def test_the_same_user_refused_again_and_again_is_not_enumeration() -> None:
    p = Perimeter(GuardSettings())
    for i in range(100):
        p.refused(OFFICE, "101", float(i))
    assert kinds(p) == []
    assert not is_banned(p, OFFICE, 100.0)


@pytest.mark.parametrize("phones", [10, 30])
def test_an_office_of_phones_booting_behind_one_nat_is_not_enumeration(phones: int) -> None:
    p = Perimeter(GuardSettings())
    t = 0.0
    for i in range(phones):
        user = f"{200 + i}"
        p.refused(OFFICE, user, t)  # challenged once ...
        p.authenticated(OFFICE, user, t + 0.05)  # ... then logged in
        t += 0.1
    assert kinds(p) == []
    assert p.admit(OFFICE, REGISTER, t) is Verdict.ADMIT


def test_users_that_log_in_leave_the_list_but_the_rest_still_count() -> None:
    p = Perimeter(GuardSettings())
    for i in range(9):
        p.refused(ATTACKER, f"{100 + i}", float(i))
    p.authenticated(ATTACKER, "100", 9.0)
    p.refused(ATTACKER, "200", 10.0)  # nine on the list again, not ten
    assert kinds(p) == []
    p.refused(ATTACKER, "201", 11.0)
    assert kinds(p) == ["enumeration"]


# -- OPTIONS sweeps --------------------------------------------------------------------------


def test_options_to_five_distinct_users_within_a_minute_ban_as_a_sweep() -> None:
    p = Perimeter(GuardSettings())
    for i in range(5):
        p.options(ATTACKER, f"{100 + i}", 10.0 * i)
    events = p.drain()
    assert [e.kind for e in events] == ["options_sweep"]
    assert events[0].ban is not None
    assert p.admit(ATTACKER, OPTIONS, 41.0) is Verdict.DROP


def test_options_to_four_distinct_users_do_not_ban() -> None:
    p = Perimeter(GuardSettings())
    for i in range(4):
        p.options(ATTACKER, f"{100 + i}", float(i))
    assert kinds(p) == []


def test_a_phone_pinging_the_same_user_every_thirty_seconds_for_an_hour_is_not_a_sweep() -> None:
    p = Perimeter(GuardSettings())
    for i in range(121):
        now = 30.0 * i
        p.options(PHONE, "101", now)
        assert p.admit(PHONE, OPTIONS, now) is Verdict.ADMIT
    assert kinds(p) == []
    assert p.bans.active(HOUR) == []


def test_options_to_five_users_spread_over_more_than_a_minute_are_not_a_sweep() -> None:
    p = Perimeter(GuardSettings())
    for i in range(5):
        p.options(ATTACKER, f"{100 + i}", 16.0 * i)  # the fifth 64 s after the first
    assert kinds(p) == []


# -- scanners --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "user_agent",
    [
        "friendly-scanner",
        "SIPVicious",
        "sipvicious 0.3.4",
        "FRIENDLY-SCANNER",
        "sipcli/v1.8",
        "VaxSIPUserAgent/3.1",
        "iWar",
    ],
)
def test_a_scanner_user_agent_bans_its_source(user_agent: str) -> None:
    p = Perimeter(fingerprints=shipped_fingerprints())
    assert p.scanner(ATTACKER, user_agent, None, 0.0) is True
    events = p.drain()
    assert [e.kind for e in events] == ["scanner"]
    assert events[0].ban is not None
    assert events[0].ban.reason == "scanner"
    assert p.admit(ATTACKER, OPTIONS, 1.0) is Verdict.DROP
    assert p.admit(PHONE, OPTIONS, 1.0) is Verdict.ADMIT


def test_a_scanners_options_is_answered_once_and_its_source_banned() -> None:
    # A network scan (svmap) sees a server at the address, which then goes dark.
    p = Perimeter(fingerprints=shipped_fingerprints())
    assert p.scanner(ATTACKER, "friendly-scanner", None, 0.0, method="OPTIONS") is False
    assert [e.kind for e in p.drain()] == ["scanner"]
    assert p.admit(ATTACKER, OPTIONS, 0.5) is Verdict.DROP
    assert p.scanner(ATTACKER, "friendly-scanner", None, 0.0, method="REGISTER") is True


def test_a_scanner_named_in_the_from_display_bans_its_source() -> None:
    p = Perimeter(fingerprints=shipped_fingerprints())
    assert p.scanner(ATTACKER, "Asterisk PBX", "SIPVicious", 0.0) is True
    assert is_banned(p, ATTACKER, 1.0)


@pytest.mark.parametrize(
    "user_agent",
    [
        "baresip v2.0.0",
        "Yealink SIP-T46S 66.86.0.15",
        "Linphone",
        "Linphone Desktop/5.2.1 (Ubuntu 22.04) LinphoneCore/5.3.1",
        "Grandstream GXP2170 1.0.11.23",
        "Zoiper rv2.10.19.9",
        "PolycomVVX-VVX_450-UA/6.4.3.5018",
        None,
        "",
    ],
)
def test_an_ordinary_user_agent_is_not_a_scanner(user_agent: str | None) -> None:
    p = Perimeter(fingerprints=shipped_fingerprints())
    assert p.scanner(PHONE, user_agent, "Alice", 0.0) is False
    assert kinds(p) == []
    assert p.admit(PHONE, OPTIONS, 1.0) is Verdict.ADMIT


def test_without_fingerprints_nothing_is_a_scanner() -> None:
    p = Perimeter()
    assert p.scanner(ATTACKER, "friendly-scanner", None, 0.0) is False


def test_the_shipped_fingerprints_name_the_tool() -> None:
    fingerprints = shipped_fingerprints()
    assert fingerprints.match("friendly-scanner", None) == "SIPVicious"
    assert fingerprints.match("VaxSIPUserAgent/3.1", None) == "VaxSIP-based scanner"
    assert fingerprints.match("Yealink SIP-T46S", "sipvicious") == "SIPVicious"
    assert fingerprints.match("Yealink SIP-T46S", "Alice") is None


def test_operator_fingerprints_are_read_from_toml_ignoring_case() -> None:
    fingerprints = Fingerprints.parse(
        '[[user_agent]]\ntext = " EvilTool "\ntool = "Evil"\n\n[[from_display]]\ntext = "Sweeper"\n'
    )
    assert fingerprints.match("eviltool/1.0", None) == "Evil"
    assert fingerprints.match(None, "the SWEEPER") == "Sweeper"
    assert fingerprints.match("Linphone", "Alice") is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[user_agent]\ntext = 'x'\n", "scanner fingerprints: "),
        ("user_agent = [", "scanner fingerprints: "),
        ('[[user_agent]]\ntool = "Nameless"\n', "user_agent #1 needs a text"),
        (
            '[[user_agent]]\ntext = "ok"\n[[user_agent]]\ntext = "  "\n',
            "user_agent #2 needs a text",
        ),
        ("[[from_display]]\ntext = 5\n", "from_display #1 needs a text"),
        ('user_agent = ["sipvicious"]\n', "user_agent #1 needs a text"),
    ],
    ids=["bad_table", "unterminated", "no_text", "blank_text", "text_not_string", "not_tables"],
)
def test_bad_fingerprints_are_refused_saying_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Fingerprints.parse(text)


@pytest.mark.parametrize("text", ["user_agent = 5\n", "from_display = true\n"])
def test_a_fingerprint_section_that_is_not_a_list_is_a_value_error(text: str) -> None:
    with pytest.raises(ValueError, match="scanner fingerprints"):
        Fingerprints.parse(text)


# -- floods ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("head", "burst"),
    [(OPTIONS, 100), (b"ACK sip:100@example.com SIP/2.0\r\n", 100), (INVITE, 20), (REGISTER, 20)],
    ids=["options", "ack", "invite", "register"],
)
def test_a_source_is_admitted_its_burst_at_one_instant_and_dropped_past_it(
    head: bytes, burst: int
) -> None:
    p = Perimeter(GuardSettings(source_burst=100, invite_burst=20, register_burst=20))
    verdicts = [p.admit(ATTACKER, head, 0.0) for _ in range(150)]
    assert verdicts == [Verdict.ADMIT] * burst + [Verdict.DROP] * (150 - burst)


@pytest.mark.parametrize(
    ("head", "rate"),
    [(OPTIONS, 50), (INVITE, 5), (REGISTER, 5)],
    ids=["options", "invite", "register"],
)
def test_a_flooding_source_is_admitted_again_at_its_rate(head: bytes, rate: int) -> None:
    p = Perimeter(GuardSettings(flood_strikes=10_000))
    while p.admit(ATTACKER, head, 0.0) is Verdict.ADMIT:
        pass
    admitted = sum(p.admit(ATTACKER, head, 1.0) is Verdict.ADMIT for _ in range(200))
    assert admitted == rate


def test_invites_past_their_limit_do_not_stop_other_requests() -> None:
    p = Perimeter(GuardSettings())
    while p.admit(PHONE, INVITE, 0.0) is Verdict.ADMIT:
        pass
    assert p.admit(PHONE, OPTIONS, 0.0) is Verdict.ADMIT
    assert p.admit(PHONE, REGISTER, 0.0) is Verdict.ADMIT


def test_a_source_dropped_flood_strikes_times_within_the_window_is_banned() -> None:
    p = Perimeter(GuardSettings(source_burst=100, flood_strikes=200))
    verdicts = [p.admit(ATTACKER, OPTIONS, 0.0) for _ in range(299)]
    assert verdicts.count(Verdict.DROP) == 199
    assert not is_banned(p, ATTACKER, 0.0)
    assert p.admit(ATTACKER, OPTIONS, 0.0) is Verdict.DROP  # the 200th strike
    events = p.drain()
    assert [e.kind for e in events] == ["flood"]
    assert events[0].ban is not None
    assert events[0].ban.reason == "flood"
    assert p.admit(ATTACKER, OPTIONS, 10.0) is Verdict.DROP  # refilled, but banned
    assert p.admit(PHONE, OPTIONS, 10.0) is Verdict.ADMIT


def test_an_invite_flood_is_banned_after_flood_strikes() -> None:
    p = Perimeter(GuardSettings(invite_burst=20, flood_strikes=50))
    verdicts = [p.admit(ATTACKER, INVITE, 0.0) for _ in range(70)]
    assert verdicts.count(Verdict.ADMIT) == 20
    assert kinds(p) == ["flood"]
    assert p.admit(ATTACKER, OPTIONS, 5.0) is Verdict.DROP


@pytest.mark.parametrize(("gap", "banned"), [(14.0, True), (16.0, False)])
def test_only_flood_strikes_within_the_window_ban(gap: float, banned: bool) -> None:
    p = Perimeter(GuardSettings(source_rate=1.0, source_burst=1.0, flood_strikes=5))
    # Two packets every ``gap`` seconds: one admitted, one dropped. Five strikes span 4 gaps:
    # 56 s (within the minute) or 64 s (not).
    for i in range(5):
        now = gap * i
        assert p.admit(ATTACKER, OPTIONS, now) is Verdict.ADMIT
        assert p.admit(ATTACKER, OPTIONS, now) is Verdict.DROP
    assert ("flood" in kinds(p)) is banned
    later = gap * 5
    expected = Verdict.DROP if banned else Verdict.ADMIT
    assert p.admit(ATTACKER, OPTIONS, later) is expected


def test_a_flooding_source_does_not_affect_another_source() -> None:
    p = Perimeter(GuardSettings())
    for _ in range(1_000):
        p.admit(ATTACKER, INVITE, 0.0)
    assert is_banned(p, ATTACKER, 0.0)
    assert [p.admit(PHONE, INVITE, 0.0) for _ in range(20)] == [Verdict.ADMIT] * 20


# -- the global budget ------------------------------------------------------------------------


def small_budget() -> GuardSettings:
    # Half of 10 for unknown sources, half for known ones; 3 polite 503s a second.
    return GuardSettings(global_rate=10.0, global_burst=10.0, known_share=0.5, busy_answers=3.0)


def unknown(i: int) -> str:
    return f"198.18.{i // 256}.{i % 256}"


def test_unknown_sources_past_the_global_budget_are_told_busy_then_dropped() -> None:
    p = Perimeter(small_budget())
    verdicts = [p.admit(unknown(i), OPTIONS, 0.0) for i in range(20)]
    assert verdicts == [Verdict.ADMIT] * 5 + [Verdict.BUSY] * 3 + [Verdict.DROP] * 12


@pytest.mark.parametrize("how", ["authenticated", "trunk"])
def test_a_known_source_keeps_its_share_when_unknown_ones_exhaust_the_budget(how: str) -> None:
    p = Perimeter(small_budget())
    if how == "authenticated":
        p.authenticated(PHONE, "101", -10.0)
    else:
        p.set_trunks(frozenset({PHONE}))
    for i in range(50):
        p.admit(unknown(i), OPTIONS, 0.0)
    assert p.admit(unknown(99), OPTIONS, 0.0) is Verdict.DROP
    assert [p.admit(PHONE, INVITE, 0.0) for _ in range(5)] == [Verdict.ADMIT] * 5


def test_the_global_budget_refills_at_its_rate() -> None:
    p = Perimeter(small_budget())
    for i in range(50):
        p.admit(unknown(i), OPTIONS, 0.0)
    verdicts = [p.admit(unknown(100 + i), OPTIONS, 1.0) for i in range(10)]
    assert verdicts[:5] == [Verdict.ADMIT] * 5
    assert Verdict.ADMIT not in verdicts[5:]


def test_an_address_known_long_ago_has_no_share_of_its_own() -> None:
    p = Perimeter(small_budget())
    p.authenticated(PHONE, "101", -10_000.0)  # known_for has passed
    for i in range(50):
        p.admit(unknown(i), OPTIONS, 0.0)
    assert p.admit(PHONE, OPTIONS, 0.0) is Verdict.DROP


# -- the allow-list --------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["10.0.0.5", "10.255.1.2", "::ffff:10.1.2.3"])
def test_an_allowed_address_is_never_banned(host: str) -> None:
    p = Perimeter(GuardSettings(allow=("10.0.0.0/8",)), fingerprints=shipped_fingerprints())
    for i in range(50):
        p.auth_failed(host, TENANT, None, float(i))
        p.refused(host, f"{100 + i}", float(i))
        p.options(host, f"{100 + i}", float(i))
    assert p.scanner(host, "friendly-scanner", None, 60.0) is False
    assert kinds(p) == []
    assert p.bans.active(60.0) == []
    assert p.admit(host, OPTIONS, 60.0) is Verdict.ADMIT


def test_an_allowed_address_is_never_rate_limited() -> None:
    tight = GuardSettings(
        allow=("10.0.0.0/8",), global_rate=10.0, global_burst=10.0, busy_answers=1.0
    )
    p = Perimeter(tight)
    verdicts = {p.admit("10.0.0.5", head, 0.0) for _ in range(500) for head in (INVITE, REGISTER)}
    assert verdicts == {Verdict.ADMIT}
    assert p.bans.active(0.0) == []


def test_an_address_outside_the_allow_list_is_still_limited() -> None:
    p = Perimeter(GuardSettings(allow=("10.0.0.0/8",)))
    fail(p, "11.0.0.5", [0.0, 1.0, 2.0, 3.0, 4.0])
    assert p.admit("11.0.0.5", OPTIONS, 5.0) is Verdict.DROP


# -- memory ----------------------------------------------------------------------------------


def test_many_distinct_sources_keep_the_tables_bounded() -> None:
    p = Perimeter(GuardSettings(max_sources=1_000))
    for i in range(200_000):
        host = f"10.{i >> 16}.{(i >> 8) & 255}.{i & 255}"
        now = i * 0.001
        p.admit(host, REGISTER, now)
        p.auth_failed(host, TENANT, None, now)
        p.refused(host, "101", now)
        p.options(host, "101", now)
    tables = {
        "failures": len(p._failures),
        "all": len(p._all),
        "registers": len(p._registers),
        "probing": len(p._probing),
        "sweeping": len(p._sweeping),
    }
    assert all(size <= 1_000 for size in tables.values()), tables
    assert p.bans.active(200.0) == []
    assert kinds(p) == []


def test_many_distinct_phones_authenticating_keep_the_known_table_bounded() -> None:
    p = Perimeter(GuardSettings(max_sources=1_000))
    for i in range(20_000):
        p.authenticated(f"10.{i >> 16}.{(i >> 8) & 255}.{i & 255}", "101", float(i))
    assert len(p._known) <= 1_000
    assert p.known("10.0.78.31", 20_000.0)  # the latest is still known


def test_an_office_booting_at_once_behind_one_address_is_not_banned_for_challenges() -> None:
    """Thirty phones behind one NAT are all challenged before any of them logs in: that is
    not a walk over the extensions. Fifty users challenged with none getting in is."""
    p = Perimeter(GuardSettings())
    office, scanner = "198.51.100.20", "203.0.113.99"
    for i in range(30):
        p.refused(office, f"{100 + i}", 0.01 * i, challenged=True)
    for i in range(30):
        p.authenticated(office, f"{100 + i}", 1.0 + 0.01 * i)
    assert p.admit(office, b"REGISTER sip:a SIP/2.0", 2.0) is Verdict.ADMIT
    for i in range(50):
        p.refused(scanner, f"{100 + i}", 0.1 * i, challenged=True)
    assert p.admit(scanner, b"REGISTER sip:a SIP/2.0", 6.0) is Verdict.DROP
    assert [e.kind for e in p.drain()] == ["enumeration"]


def test_a_stream_of_malformed_messages_bans_its_source() -> None:
    p = Perimeter()
    for n in range(19):
        p.malformed(ATTACKER, n * 1.0)
    assert not is_banned(p, ATTACKER, 19.0)
    p.malformed(ATTACKER, 19.5)
    assert is_banned(p, ATTACKER, 20.0)
    (event,) = p.drain()
    assert event.kind == "malformed"


def test_a_phones_odd_malformed_message_is_forgiven() -> None:
    p = Perimeter()
    for n in range(100):  # one every 40 s, for over an hour
        p.malformed(PHONE, n * 40.0)
    assert not is_banned(p, PHONE, 4000.0)
    assert p.drain() == []


def test_malformed_messages_from_the_allow_list_never_ban() -> None:
    p = Perimeter(GuardSettings(allow=("198.51.100.0/24",)))
    for n in range(50):
        p.malformed(ATTACKER, n * 0.1)
    assert not is_banned(p, ATTACKER, 6.0)


def test_an_ipv6_scanner_rotating_through_its_prefix_has_the_prefix_banned() -> None:
    p = Perimeter(fingerprints=shipped_fingerprints())
    for n in range(1, 4):
        p.scanner(f"2001:db8:7:1::{n}", "friendly-scanner", None, float(n))
    assert p.admit("2001:db8:7:1::99", OPTIONS, 4.0) is Verdict.ADMIT
    p.scanner("2001:db8:7:1::4", "friendly-scanner", None, 4.0)
    events = p.drain()
    assert events[-1].address == "2001:db8:7:1::/64"
    assert p.admit("2001:db8:7:1::99", OPTIONS, 5.0) is Verdict.DROP  # a fresh address of it
    assert p.admit("2001:db8:7:2::1", OPTIONS, 5.0) is Verdict.ADMIT  # the next /64: not
    assert "2001:db8:7:1::/64" in {b.network for b in p.bans.take_pending()}  # shared


def test_ipv4_neighbours_are_never_banned_together() -> None:
    p = Perimeter(fingerprints=shipped_fingerprints())
    for n in range(1, 20):
        p.scanner(f"198.51.100.{n}", "friendly-scanner", None, float(n))
    assert p.admit("198.51.100.200", OPTIONS, 21.0) is Verdict.ADMIT
    assert all("/" not in e.address for e in p.drain())


def test_guessing_at_a_made_up_name_warns_nobody() -> None:
    p = Perimeter(GuardSettings())
    for n in range(25):
        p.auth_failed(f"198.51.100.{n}", TENANT, "nobody", float(n), exists=False)
    assert "extension_targeted" not in kinds(p)
