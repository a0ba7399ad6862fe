"""The call-policy admin service over a real store, on SQLite and PostgreSQL: what a tenant's
calls may reach, where each value comes from, blocked callers, rate tables, the high-risk list,
the audit trail and the revision that makes a running service reload.

PostgreSQL is taken from ``RINGFENCE_TEST_PG`` (else the local ``test`` database, as in
tests/store); when it cannot be reached the PostgreSQL half fails, it is never skipped.
"""

from __future__ import annotations

import json
import os
import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from ringfence.accounts import AccountsService, PolicyCheck, PolicyService, Tenant
from ringfence.errors import Conflict, InvalidInput, NotFound
from ringfence.policy import EffectiveRules, check_inbound
from ringfence.store import Store

GB = "+442079460018"
FR = "+33142685300"
UK_PREMIUM = "+449098790000"
IRIDIUM = "+8816512345678"
US = "+12125550123"
US_NATIONAL = "2125550123"

MONDAY_NOON_UTC = datetime(2026, 11, 23, 12, 0, tzinfo=UTC).timestamp()

PG_URL = os.environ.get("RINGFENCE_TEST_PG") or "postgresql://root@127.0.0.1:5432/test"


@pytest.fixture(scope="module")
def postgres_url() -> str:
    try:
        with psycopg.connect(PG_URL, connect_timeout=3) as connection:
            connection.execute("SELECT 1")
    except psycopg.Error as error:
        raise RuntimeError(
            f"PostgreSQL is not reachable at {PG_URL} (set RINGFENCE_TEST_PG): {error}"
        ) from error
    return PG_URL


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A migrated store on each backend (PostgreSQL: a schema of its own, dropped after)."""
    if request.param == "sqlite":
        with Store.open(f"sqlite:///{tmp_path / 'ringfence.db'}") as opened:
            opened.migrate()
            yield opened
        return
    base = request.getfixturevalue("postgres_url")
    schema = f"rf_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(base, autocommit=True) as connection:
        connection.execute(f"CREATE SCHEMA {schema}")
    try:
        with Store.open(f"{base}?options=-csearch_path%3D{schema}") as opened:
            opened.migrate()
            yield opened
    finally:
        with psycopg.connect(base, autocommit=True) as connection:
            connection.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture
def accounts(store: Store) -> AccountsService:
    return AccountsService(
        store, actor="cli", clock=lambda: MONDAY_NOON_UTC, random=random.Random(5)
    )


@pytest.fixture
def policy(store: Store) -> PolicyService:
    return PolicyService(store, actor="cli", clock=lambda: MONDAY_NOON_UTC)


@pytest.fixture
def acme(accounts: AccountsService) -> Tenant:
    """A US tenant with extensions 1001 and 1002, its policy untouched."""
    tenant = accounts.add_tenant("acme", domain="acme.example")
    accounts.add_extension("acme", "1001")
    accounts.add_extension("acme", "1002")
    return tenant


def outcome(result: PolicyCheck) -> tuple[bool, str]:
    return result.decision.allowed, result.decision.reason


def call(policy: PolicyService, number: str, ext: str = "1001", **kw: str) -> tuple[bool, str]:
    return outcome(policy.check("acme", ext, number, **kw))


# -- defaults and settings --------------------------------------------------------------------


def test_a_new_tenant_may_not_call_abroad_until_an_admin_allows_countries(
    policy: PolicyService, acme: Tenant
) -> None:
    view = policy.show("acme")
    assert view.rules.international is False
    assert view.rules.sources["international"] == "default"
    refused = policy.check("acme", "1001", GB)
    assert outcome(refused) == (False, "intl_disabled")
    assert refused.decision.status == 403
    assert refused.destination.e164 == GB
    national = policy.check("acme", "1001", US_NATIONAL)
    assert outcome(national) == (True, "")
    assert national.destination.e164 == US

    policy.set("acme", values={"international": "on", "countries": "GB"})
    assert call(policy, GB) == (True, "")
    assert call(policy, FR) == (False, "country_not_allowed")
    view = policy.show("acme")
    assert view.rules.countries == frozenset({"GB"})
    assert view.rules.sources["countries"] == "tenant"


def test_emergency_calls_go_through_whatever_else_is_off(
    policy: PolicyService, acme: Tenant
) -> None:
    policy.set("acme", values={"outbound": "off"})
    assert call(policy, US_NATIONAL) == (False, "outbound_disabled")
    emergency = policy.check("acme", "1001", "911")
    assert outcome(emergency) == (True, "")
    assert emergency.decision.alert == "emergency_call"


def test_premium_and_satellite_numbers_are_refused_even_where_the_country_is_allowed(
    policy: PolicyService, acme: Tenant
) -> None:
    policy.set("acme", values={"international": "on", "countries": "GB"})
    assert call(policy, UK_PREMIUM) == (False, "premium_rate")
    assert call(policy, IRIDIUM) == (False, "international_network")
    policy.set("acme", values={"blocked_types": "none"})
    assert call(policy, UK_PREMIUM) == (True, "")
    # Unblocking the type leaves the packaged high-risk list in the way of Iridium.
    assert call(policy, IRIDIUM) == (False, "high_risk_range")


def test_an_extension_may_be_stricter_than_its_tenant(policy: PolicyService, acme: Tenant) -> None:
    policy.set("acme", values={"international": "on", "countries": "GB"})
    policy.set("acme", ext="1002", values={"international": "off"})
    assert call(policy, GB, ext="1001") == (True, "")
    assert call(policy, GB, ext="1002") == (False, "intl_disabled")
    view = policy.show("acme", "1002")
    assert view.rules.international is False
    assert view.rules.sources["international"] == "extension"
    assert view.rules.sources["countries"] == "tenant"
    # The tenant's own view is unchanged.
    assert policy.show("acme").rules.international is True


def test_a_looser_extension_is_ignored_unless_the_tenant_lets_it_loosen(
    policy: PolicyService, acme: Tenant
) -> None:
    policy.set("acme", values={"international": "on", "countries": "GB"})
    policy.set("acme", ext="1001", values={"countries": "GB,FR"})
    assert call(policy, FR) == (False, "country_not_allowed")
    view = policy.show("acme", "1001")
    assert view.rules.countries == frozenset({"GB"})
    assert view.rules.sources["countries"] == (
        "tenant (the extension's looser value is not allowed)"
    )
    assert view.extension_settings is not None
    assert view.extension_settings.countries == frozenset({"GB", "FR"})

    policy.set("acme", loosen=["countries"])
    assert call(policy, FR) == (True, "")
    assert call(policy, FR, ext="1002") == (False, "country_not_allowed")
    view = policy.show("acme", "1001")
    assert view.rules.sources["countries"] == "extension"
    assert view.tenant_settings.extensions_may_loosen == frozenset({"countries"})
    with pytest.raises(InvalidInput, match="only a tenant"):
        policy.set("acme", ext="1001", loosen=["countries"])
    with pytest.raises(InvalidInput, match="--loosen takes setting names"):
        policy.set("acme", loosen=["everything"])


def test_tenant_and_extension_lists_combine_to_what_both_allow(
    policy: PolicyService, acme: Tenant
) -> None:
    policy.set("acme", values={"international": "on", "countries": "GB,FR"})
    policy.set("acme", ext="1001", values={"countries": "FR,DE"})
    view = policy.show("acme", "1001")
    assert view.rules.countries == frozenset({"FR"})
    assert view.rules.sources["countries"] == "tenant and extension"
    assert call(policy, FR) == (True, "")
    assert call(policy, GB) == (False, "country_not_allowed")


def test_clear_sends_a_value_back_to_inherited(policy: PolicyService, acme: Tenant) -> None:
    policy.set("acme", values={"international": "on"})
    policy.set("acme", ext="1001", values={"international": "off"})
    assert call(policy, GB) == (False, "intl_disabled")

    policy.set("acme", ext="1001", clear=["international"])
    assert call(policy, GB) == (True, "")
    view = policy.show("acme", "1001")
    assert view.rules.sources["international"] == "tenant"
    assert view.extension_settings is not None
    assert view.extension_settings.is_empty

    policy.set("acme", values={"max_rate": "0.25"})
    assert call(policy, GB) == (False, "no_rate")
    policy.set("acme", clear=["max_rate", "international"])
    view = policy.show("acme")
    assert (view.rules.max_rate, view.rules.sources["max_rate"]) == (None, "default")
    assert (view.rules.international, view.rules.sources["international"]) == (False, "default")
    assert call(policy, GB) == (False, "intl_disabled")


BAD_SETTINGS: list[tuple[dict[str, str], list[str], str]] = [
    ({"international": "maybe"}, [], "--international takes"),
    ({"countries": "GB,XX"}, [], "'XX' is not a country code"),
    ({"window": "25:00-26:00"}, [], "HH:MM-HH:MM"),
    ({"window": "08:00-08:00"}, [], "HH:MM-HH:MM"),
    ({"timezone": "Mars/Base"}, [], "not a time zone"),
    ({"max_rate": "-1"}, [], "--max-rate takes a price per minute"),
    ({"max_rate": "NaN"}, [], "--max-rate takes a price per minute"),
    ({"blocked_types": "premium,cheap"}, [], "'cheap' is not a number type"),
    ({"encryption_required": "sometimes"}, [], "--encryption takes"),
    ({}, ["colour"], "cannot clear colour"),
    ({"max_rate": "0.10"}, ["max_rate"], "set and cleared at once"),
    ({}, [], "nothing to set"),
]


def test_a_bad_setting_says_what_to_write_and_changes_nothing(
    store: Store, policy: PolicyService, acme: Tenant
) -> None:
    policy.set("acme", values={"international": "on", "countries": "GB"})
    revision, audit = store.revision(), store.list_audit(None)
    for values, clear, message in BAD_SETTINGS:
        # Each bad value comes with a good one, which must not be stored either.
        good = {"outbound": "off"} if values or clear else {}
        with pytest.raises(InvalidInput, match=message):
            policy.set("acme", values={**good, **values}, clear=clear)
    assert (store.revision(), store.list_audit(None)) == (revision, audit)
    assert policy.show("acme").tenant_settings.outbound is None
    assert call(policy, GB) == (True, "")


def test_unknown_tenants_and_extensions_are_named(policy: PolicyService, acme: Tenant) -> None:
    with pytest.raises(NotFound, match="no tenant named 'nope'"):
        policy.show("nope")
    with pytest.raises(NotFound, match="acme has no extension '9999'"):
        policy.set("acme", ext="9999", values={"international": "off"})
    with pytest.raises(NotFound, match="acme has no extension '9999'"):
        policy.check("acme", "9999", GB)


# -- rates ------------------------------------------------------------------------------------


def test_max_rate_prices_from_the_tenant_table_first_and_the_global_one_for_the_rest(
    policy: PolicyService, acme: Tenant
) -> None:
    policy.set("acme", values={"international": "on", "countries": "any"})
    policy.import_rates(None, "prefix,price,currency\n44,0.50,GBP\n4420,0.90,GBP\n33,0.10,EUR\n")
    imported = policy.import_rates("acme", "44,0.05,GBP\n")
    assert (imported.imported, imported.replaced) == (1, 0)
    # Without a limit, unpriced numbers are allowed.
    assert call(policy, US) == (True, "")

    policy.set("acme", values={"max_rate": "0.20"})
    london = policy.check("acme", "1001", GB).decision
    assert london.allowed
    assert london.rate is not None
    # The tenant prices +44 itself, even where the global table has a longer prefix.
    assert (london.rate.prefix, str(london.rate.price)) == ("44", "0.05")
    paris = policy.check("acme", "1001", FR).decision
    assert paris.allowed
    assert paris.rate is not None
    assert (paris.rate.prefix, str(paris.rate.price), paris.rate.currency) == ("33", "0.10", "EUR")
    # A limit refuses numbers without a rate, domestic ones too.
    assert call(policy, US) == (False, "no_rate")

    policy.set("acme", values={"max_rate": "0.08"})
    assert call(policy, GB) == (True, "")
    assert call(policy, FR) == (False, "rate_too_high")
    view = policy.show("acme")
    assert (view.tenant_rates, view.global_rates) == (1, 3)

    again = policy.import_rates("acme", "44,0.09,GBP\n1,0.01,USD\n")
    assert (again.imported, again.replaced) == (2, 1)
    assert call(policy, GB) == (False, "rate_too_high")
    assert call(policy, US) == (True, "")


BAD_RATES = [
    ("44,0.05,GBP\n33,0.10,EUR\n34,abc,EUR\n", r"line 3: 'abc' is not a price"),
    ("prefix,price,currency\n44,0.05,GBP\n33,-1,EUR\n", "line 3: a price must be zero"),
    ("44,0.05,GBP\n44,0.06,GBP\n", "line 2: prefix 44 appears twice"),
    ("44,0.05\n", "line 1: expected prefix,price,currency"),
    ("+44x,0.05,GBP\n", r"line 1: '\+44x' is not a prefix"),
    ("44,0.05,POUNDS\n", "line 1: 'POUNDS' is not an ISO 4217"),
]


def test_a_bad_rates_file_names_the_line_and_imports_nothing(
    store: Store, policy: PolicyService, acme: Tenant
) -> None:
    policy.import_rates("acme", "44,0.05,GBP\n")
    policy.import_rates(None, "33,0.10,EUR\n")
    policy.set("acme", values={"international": "on", "max_rate": "1"})
    revision, audit = store.revision(), store.list_audit(None)
    for text, message in BAD_RATES:
        for tenant in ("acme", None):
            with pytest.raises(InvalidInput, match=message) as raised:
                policy.import_rates(tenant, text)
            assert "nothing was imported" in str(raised.value)
    assert (store.revision(), store.list_audit(None)) == (revision, audit)
    view = policy.show("acme")
    assert (view.tenant_rates, view.global_rates) == (1, 1)
    london = policy.check("acme", "1001", GB).decision.rate
    paris = policy.check("acme", "1001", FR).decision.rate
    assert london is not None
    assert paris is not None
    assert (str(london.price), str(paris.price)) == ("0.05", "0.10")


# -- blocked callers --------------------------------------------------------------------------


def test_blocked_callers_are_normalised_unique_and_removable(
    store: Store, accounts: AccountsService, policy: PolicyService, acme: Tenant
) -> None:
    block = policy.add_block("acme", "+44 909*")
    assert (block.pattern, block.ext, block.treatment.value) == ("+44909*", None, "reject")
    with pytest.raises(Conflict, match=r"\+44909\* is blocked for acme already"):
        policy.add_block("acme", "+44-909*", treatment="busy")
    # The same pattern on one extension is a block of its own.
    mine = policy.add_block("acme", "+44909*", ext="1001", treatment="silence")
    assert (mine.ext, mine.treatment.value) == ("1001", "silence")
    policy.add_block("acme", "Anonymous", ext="1001")
    with pytest.raises(InvalidInput, match="is not a caller to block"):
        policy.add_block("acme", "12345")
    with pytest.raises(InvalidInput, match="--treatment takes busy, reject or silence"):
        policy.add_block("acme", "+33*", treatment="ignore")
    with pytest.raises(NotFound, match="acme has no extension '9999'"):
        policy.add_block("acme", "+33*", ext="9999")
    with pytest.raises(NotFound, match=r"acme has no block \+33\*"):
        policy.remove_block("acme", "+33*")

    assert sorted((b.pattern, b.ext or "") for b in policy.blocks("acme")) == [
        ("+44909*", ""),
        ("+44909*", "1001"),
        ("anonymous", "1001"),
    ]
    assert {b.pattern for b in policy.blocks("acme", "1001")} == {"+44909*", "anonymous"}
    assert len(policy.show("acme", "1002").blocks) == 1  # the tenant-wide one only

    # The phone never rings: the call path sees the block, whatever form the caller ID has.
    rules = store.load_directory().policy.rules(acme.id, country="US", ext="1002")
    refused = check_inbound("011 44 909 879 0000", "1002", rules)
    assert (refused.allowed, refused.reason, refused.status) == (False, "caller_blocked", 603)
    assert check_inbound(GB, "1002", rules).allowed

    accounts.remove_extension("acme", "1001")
    assert [(b.pattern, b.ext) for b in policy.blocks("acme")] == [("+44909*", None)]
    accounts.add_extension("acme", "1001")
    assert policy.blocks("acme", "1001") == []
    policy.remove_block("acme", "+44 909 *")
    assert policy.blocks("acme") == []


def test_an_extensions_own_settings_vanish_with_it(
    accounts: AccountsService, policy: PolicyService, acme: Tenant
) -> None:
    policy.set("acme", values={"international": "on"})
    policy.set("acme", ext="1001", values={"international": "off"})
    accounts.remove_extension("acme", "1001")
    accounts.add_extension("acme", "1001")
    assert call(policy, GB) == (True, "")
    assert policy.show("acme", "1001").rules.sources["international"] == "tenant"


# -- the high-risk list -----------------------------------------------------------------------


def test_the_operators_high_risk_list_replaces_the_packaged_one_until_reset(
    store: Store, policy: PolicyService, acme: Tenant
) -> None:
    packaged = policy.high_risk()
    assert packaged.origin == "packaged list"
    assert len(packaged) > 0
    policy.set("acme", values={"blocked_types": "none"})
    assert call(policy, US) == (True, "")
    assert call(policy, IRIDIUM) == (False, "high_risk_range")

    count = policy.import_high_risk(
        "# ranges from our fraud desk\nprefix,label,source\n1212555,Test range,ticket 42\n"
    )
    assert count == 1
    assert (policy.high_risk().origin, len(policy.high_risk())) == ("operator list", 1)
    refused = policy.check("acme", "1001", US)
    assert outcome(refused) == (False, "high_risk_range")
    assert "Test range" in refused.decision.detail
    # The packaged ranges no longer apply: Iridium now falls to the international rule.
    assert call(policy, IRIDIUM) == (False, "intl_disabled")
    assert policy.show("acme").high_risk.origin == "operator list"

    with pytest.raises(InvalidInput, match="no ranges; use reset"):
        policy.import_high_risk("prefix,label,source\n")
    with pytest.raises(InvalidInput, match="line 2: 'abc' is not a prefix"):
        policy.import_high_risk("1,North America,x\nabc,Nowhere,x\n")
    assert len(policy.high_risk()) == 1

    reset = policy.reset_high_risk()
    assert (reset.origin, len(reset)) == ("packaged list", len(packaged))
    assert call(policy, US) == (True, "")
    assert call(policy, IRIDIUM) == (False, "high_risk_range")
    # A tenant that calls such ranges legitimately turns the list off for itself.
    policy.set("acme", values={"block_high_risk": "off"})
    assert call(policy, IRIDIUM) == (False, "intl_disabled")
    assert store.load_directory().policy.high_risk.origin == "packaged list"


# -- audit, revision, time windows ------------------------------------------------------------


def test_every_change_is_audited_with_its_old_and_new_value(
    store: Store, policy: PolicyService, acme: Tenant
) -> None:
    policy.set("acme", values={"international": "on", "countries": "GB"})
    policy.set("acme", values={"countries": "GB,FR", "max_rate": "0.25"}, clear=["international"])
    policy.set("acme", ext="1001", values={"window": "09:00-17:00"})
    policy.add_block("acme", "+44909*", treatment="busy")
    policy.remove_block("acme", "+44909*")
    policy.import_rates("acme", "44,0.05,GBP\n33,0.10,EUR\n")
    policy.import_rates(None, "1,0.01,USD\n")
    policy.import_high_risk("1212555,Test range,ticket 42\n")
    policy.reset_high_risk()

    entries = list(reversed(store.list_audit(None)))[-9:]
    assert all(e.actor == "cli" and e.at == MONDAY_NOON_UTC for e in entries)
    got = [(e.action, e.tenant_id, e.target) for e in entries]
    assert got == [
        ("policy.set", acme.id, "tenant"),
        ("policy.set", acme.id, "tenant"),
        ("policy.set", acme.id, "ext 1001"),
        ("block.add", acme.id, "+44909*"),
        ("block.remove", acme.id, "+44909*"),
        ("rates.import", acme.id, "rates"),
        ("rates.import", None, "global rates"),
        ("high_risk.import", None, "high-risk ranges"),
        ("high_risk.reset", None, "high-risk ranges"),
    ]
    first, second, ext = (
        (json.loads(e.old_value or "null"), json.loads(e.new_value or "null")) for e in entries[:3]
    )
    assert first == ({}, {"countries": ["GB"], "international": True})
    assert second == (
        {"countries": ["GB"], "international": True},
        {"countries": ["FR", "GB"], "max_rate": "0.25"},
    )
    assert ext == ({}, {"window": "09:00-17:00"})
    assert [(e.old_value, e.new_value) for e in entries[3:]] == [
        (None, "busy"),
        ("busy", None),
        ("0 rates", "2 rates (EUR,GBP)"),
        ("0 rates", "1 rates (USD)"),
        (f"{len(policy.high_risk())} ranges (packaged list)", "1 ranges (operator list)"),
        ("1 ranges (operator list)", "packaged list"),
    ]
    assert entries[3].detail == "tenant-wide"
    # The tenant's own log holds its changes, not the service-wide ones.
    assert {e.action for e in store.list_audit(acme.id)} >= {"policy.set", "block.add"}
    assert all(e.tenant_id == acme.id for e in store.list_audit(acme.id))


def test_a_change_bumps_the_revision_and_the_call_path_sees_it(
    store: Store, policy: PolicyService, acme: Tenant
) -> None:
    def rules_of(ext: str | None) -> EffectiveRules:
        return store.load_directory().policy.rules(acme.id, country="US", ext=ext)

    before = store.revision()
    assert rules_of("1001").international is False
    policy.set("acme", values={"international": "on", "countries": "GB"})
    assert store.revision() == before + 1
    directory = store.load_directory()
    assert directory.revision == before + 1
    rules = directory.policy.rules(acme.id, country="US", ext="1001")
    assert (rules.international, rules.countries) == (True, frozenset({"GB"}))

    policy.set("acme", ext="1001", values={"international": "off"})
    assert store.revision() == before + 2
    assert rules_of("1001").international is False
    assert rules_of("1002").international is True

    for change in (
        lambda: policy.add_block("acme", "+33*"),
        lambda: policy.import_rates("acme", "44,0.05,GBP\n"),
        lambda: policy.import_high_risk("1212555,Test,x\n"),
        policy.reset_high_risk,
    ):
        revision = store.revision()
        change()
        assert store.revision() == revision + 1

    # Refused changes and reads leave it alone.
    revision = store.revision()
    with pytest.raises(InvalidInput):
        policy.set("acme", values={"countries": "XX"})
    with pytest.raises(NotFound):
        policy.set("acme", ext="9999", values={"international": "on"})
    with pytest.raises(Conflict):
        policy.add_block("acme", "+33*")
    with pytest.raises(NotFound):
        policy.remove_block("acme", "+44909*")
    policy.show("acme", "1001")
    policy.check("acme", "1001", GB)
    policy.high_risk()
    assert store.revision() == revision


def test_check_at_a_time_of_day_follows_the_window_in_its_time_zone(
    policy: PolicyService, acme: Tenant
) -> None:
    policy.set(
        "acme",
        values={"international": "on", "window": "08:00-18:00", "timezone": "Europe/London"},
    )
    late = policy.check("acme", "1001", GB, at="2026-11-23T20:00")
    assert outcome(late) == (False, "outside_window")
    assert "08:00-18:00 Europe/London" in late.decision.detail
    assert late.at == datetime(2026, 11, 23, 20, 0, tzinfo=UTC).timestamp()
    assert call(policy, GB, at="2026-11-23T10:00") == (True, "")
    # Domestic calls know no window.
    assert call(policy, US, at="2026-11-23T20:00") == (True, "")
    # In summer London is an hour ahead of UTC: a time without a zone is London's.
    assert call(policy, GB, at="2026-07-01T07:30") == (False, "outside_window")
    assert call(policy, GB, at="2026-07-01T07:30+00:00") == (True, "")
    assert call(policy, GB, at="2026-11-23T12:30-05:00") == (True, "")  # 17:30 in London
    assert call(policy, GB, at="2026-11-23T13:30-05:00") == (False, "outside_window")
    # Without --at, the service clock (noon UTC) decides.
    assert call(policy, GB) == (True, "")
    with pytest.raises(InvalidInput, match="not an ISO time"):
        policy.check("acme", "1001", GB, at="tonight")

    # An extension's narrower window applies on top of the tenant's.
    policy.set("acme", ext="1001", values={"window": "12:00-20:00"})
    assert call(policy, GB, at="2026-11-23T10:00") == (False, "outside_window")
    assert call(policy, GB, at="2026-11-23T13:00") == (True, "")
    assert call(policy, GB, at="2026-11-23T19:00") == (False, "outside_window")
    assert call(policy, GB, ext="1002", at="2026-11-23T10:00") == (True, "")


def test_the_tenants_required_encryption_is_a_floor_the_policy_cannot_lower(
    store: Store, accounts: AccountsService, policy: PolicyService
) -> None:
    tenant = accounts.add_tenant("secure", domain="secure.example", encryption_required=True)
    accounts.add_extension("secure", "1001")
    assert policy.show("secure").rules.encryption_required is True
    policy.set("secure", values={"encryption_required": "optional"})
    rules = store.load_directory().policy.rules(
        tenant.id, country="US", ext="1001", encryption_required=True
    )
    assert rules.encryption_required is True


def test_an_extension_cannot_move_the_tenants_window_with_its_own_clock(
    policy: PolicyService, accounts: AccountsService
) -> None:
    """The window is in the tenant's time zone; an extension's other zone would shift it (20:00
    in London is 09:00 in Auckland), so it is ignored unless the tenant lets it loosen."""
    accounts.add_tenant("lon", domain="lon.example", country="GB", timezone="Europe/London")
    accounts.add_extension("lon", "1001")
    policy.set("lon", values={"international": "on", "window": "08:00-18:00"})
    france = "+33142685300"
    late = "2026-11-23T20:00+00:00"
    assert policy.check("lon", "1001", france, at=late).decision.reason == "outside_window"
    view = policy.set("lon", ext="1001", values={"timezone": "Pacific/Auckland"})
    assert view.rules.timezone == "Europe/London"
    assert "not allowed" in view.rules.sources["timezone"]
    assert policy.check("lon", "1001", france, at=late).decision.reason == "outside_window"
    policy.set("lon", loosen=["timezone"])
    assert policy.check("lon", "1001", france, at=late).decision.allowed


def test_both_windows_show_where_they_come_from(
    policy: PolicyService, accounts: AccountsService
) -> None:
    accounts.add_tenant("win", domain="win.example")
    accounts.add_extension("win", "1001")
    policy.set("win", values={"window": "08:00-18:00"})
    view = policy.set("win", ext="1001", values={"window": "12:00-20:00"})
    assert [str(w) for w in view.rules.windows] == ["08:00-18:00", "12:00-20:00"]
    assert view.rules.sources["window"] == "tenant and extension"


def test_blocks_of_an_unknown_extension_and_an_empty_rates_file_are_errors(
    policy: PolicyService, accounts: AccountsService
) -> None:
    accounts.add_tenant("err", domain="err.example")
    with pytest.raises(NotFound, match="no extension '9999'"):
        policy.blocks("err", "9999")
    policy.import_rates("err", "44,0.02,USD\n")
    with pytest.raises(InvalidInput, match="no rates"):
        policy.import_rates("err", "prefix,price,currency\n")
    assert policy.show("err").tenant_rates == 1  # the stored table is intact


def test_budgets_and_throttles_are_set_audited_and_reach_the_call_path(
    store: Store, accounts: AccountsService, policy: PolicyService
) -> None:
    tenant = accounts.add_tenant("thr", domain="thr.example")
    accounts.add_extension("thr", "1001")
    before = store.revision()
    view = policy.show("thr", "1001")
    assert view.limits.daily_budget == Decimal("50")  # the safe default of a new tenant
    assert view.limit_sources["daily_budget"] == "default"
    policy.set_limits("thr", values={"daily_budget": "20", "intl_concurrent_per_extension": "1"})
    view = policy.set_limits("thr", ext="1001", values={"daily_budget": "5"})
    assert (view.limits.daily_budget, view.limit_sources["daily_budget"]) == (
        Decimal("5"),
        "extension",
    )
    assert view.limit_sources["intl_concurrent_per_extension"] == "tenant"
    assert store.revision() > before
    directory = store.load_directory()
    assert directory.usage_limits(tenant.id).daily_budget == Decimal("20")
    assert directory.usage_limits(tenant.id).calls_per_minute == 10  # default kept
    assert directory.usage_limits(tenant.id, "1001").daily_budget == Decimal("5")
    (entry, *_) = accounts.audit_log("thr")
    assert (entry.action, entry.target) == ("limits.set", "ext 1001")
    assert (entry.old_value, entry.new_value) == ("{}", '{"daily_budget": "5"}')
    policy.set_limits("thr", ext="1001", values={"daily_budget": "none"})
    assert policy.show("thr", "1001").limits.daily_budget == Decimal("20")
    for bad in ({"daily_budget": "-3"}, {"calls_per_minute": "ten"}, {}):
        with pytest.raises(InvalidInput):
            policy.set_limits("thr", values=bad)
