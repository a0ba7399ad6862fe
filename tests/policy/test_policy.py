"""The call policy across countries and number types, with real numbering plans (phonenumbers)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from ringfence.policy import (
    Attempt,
    BlockTreatment,
    CallerBlock,
    Destination,
    DestinationKind,
    Direction,
    EffectiveRules,
    NumberType,
    PolicySettings,
    RateTable,
    TableError,
    TimeWindow,
    effective_rules,
    evaluate,
    load_packaged_high_risk,
    normalise,
    parse_high_risk_csv,
    parse_rates_csv,
)

HIGH_RISK = load_packaged_high_risk()
# Monday 2026-11-23, 15:00 UTC: 10:00 in New York, 15:00 in London.
MONDAY_15_UTC = datetime(2026, 11, 23, 15, 0, tzinfo=UTC).timestamp()
OWNED = frozenset({"+12025550123"})


def _rules(country: str = "US", **settings: object) -> EffectiveRules:
    return effective_rules(
        country=country,
        tenant=PolicySettings(**settings),  # type: ignore[arg-type]
        high_risk=HIGH_RISK,
        rates=RateTable(
            parse_rates_csv("prefix,price,currency\n1,0.01,USD\n44,0.02,USD\n4470,0.90,USD\n")
        ),
    )


def _call(dialled: str, rules: EffectiveRules, now: float = MONDAY_15_UTC) -> tuple[bool, str]:
    destination = normalise(dialled, rules.country)
    decision = evaluate(
        Attempt(
            direction=Direction.OUTBOUND,
            destination=destination,
            presented="+12025550123",
            owned_numbers=OWNED,
        ),
        rules,
        now,
    )
    return decision.allowed, decision.reason


# -- normalisation -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dialled", "country", "e164", "region", "number_type"),
    [
        ("+44 20 7946 0018", "US", "+442079460018", "GB", NumberType.FIXED_LINE),
        ("011 44 20 7946 0018", "US", "+442079460018", "GB", NumberType.FIXED_LINE),
        ("00 44 20 7946 0018", "US", "+442079460018", "GB", NumberType.FIXED_LINE),
        ("00 33 1 42 68 53 00", "GB", "+33142685300", "FR", NumberType.FIXED_LINE),
        ("020 7946 0018", "GB", "+442079460018", "GB", NumberType.FIXED_LINE),
        ("(202) 555-0123", "US", "+12025550123", "US", NumberType.FIXED_LINE_OR_MOBILE),
        ("1 202 555 0123", "US", "+12025550123", "US", NumberType.FIXED_LINE_OR_MOBILE),
        ("030 1234567", "DE", "+49301234567", "DE", NumberType.FIXED_LINE),
        ("+1 900 555 1234", "US", "+19005551234", "US", NumberType.PREMIUM),
        ("09098 790000", "GB", "+449098790000", "GB", NumberType.PREMIUM),
        ("0871 234 5678", "GB", "+448712345678", "GB", NumberType.PREMIUM),
        ("+44 70 1234 5678", "US", "+447012345678", "GB", NumberType.PERSONAL),
        ("+44 55 1234 5678", "US", "+445512345678", "GB", NumberType.UAN),
        ("+881 6 1234 5678", "US", "+881612345678", "001", NumberType.INTERNATIONAL_NETWORK),
        ("+870 772 123 456", "US", "+870772123456", "001", NumberType.INTERNATIONAL_NETWORK),
        ("+53 5 1234567", "US", "+5351234567", "CU", NumberType.MOBILE),
        ("0 800 12 34 56", "FR", "+33800123456", "FR", NumberType.TOLL_FREE),
    ],
)
def test_dialled_forms_normalise_to_e164_with_country_and_type(
    dialled: str, country: str, e164: str, region: str, number_type: NumberType
) -> None:
    destination = normalise(dialled, country)
    assert destination.kind is DestinationKind.NUMBER, destination
    assert (destination.e164, destination.country, destination.number_type) == (
        e164,
        region,
        number_type,
    )


@pytest.mark.parametrize(
    ("dialled", "country"),
    [("911", "US"), ("112", "GB"), ("999", "GB"), ("000", "AU"), ("112", "DE"), ("110", "DE")],
)
def test_emergency_numbers_of_the_tenants_country(dialled: str, country: str) -> None:
    assert normalise(dialled, country).kind is DestinationKind.EMERGENCY


@pytest.mark.parametrize(
    ("dialled", "kind"),
    [
        ("1002", DestinationKind.EXTENSION),
        ("alice", DestinationKind.EXTENSION),
        ("+1 202 555", DestinationKind.INVALID),
        ("+999 1234567", DestinationKind.INVALID),
        ("12#34", DestinationKind.INVALID),
        ("0114420794600181234567", DestinationKind.INVALID),  # too long: never an extension
        ("", DestinationKind.INVALID),
    ],
)
def test_short_strings_are_extensions_and_bad_ones_invalid(
    dialled: str, kind: DestinationKind
) -> None:
    assert normalise(dialled, "US").kind is kind


def test_999_is_not_an_emergency_number_in_the_us() -> None:
    # Three digits, not an emergency number there: an extension, never a carrier call.
    assert normalise("999", "US").kind is DestinationKind.EXTENSION


# -- the decision --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dialled", "settings", "allowed", "reason"),
    [
        # A new tenant: domestic calls go, international calls do not.
        ("(202) 555-0123", {}, True, ""),
        ("+44 20 7946 0018", {}, False, "intl_disabled"),
        # International on, every country allowed.
        ("+44 20 7946 0018", {"international": True}, True, ""),
        # Allowed destination countries.
        ("+44 20 7946 0018", {"international": True, "countries": frozenset({"GB"})}, True, ""),
        (
            "+33 1 42 68 53 00",
            {"international": True, "countries": frozenset({"GB"})},
            False,
            "country_not_allowed",
        ),
        # Blocked number types, in the tenant's own country and abroad.
        ("+1 900 555 1234", {}, False, "premium_rate"),
        ("+44 9098 790000", {"international": True}, False, "premium_rate"),
        ("+44 70 1234 5678", {"international": True}, False, "personal_number"),
        ("+44 55 1234 5678", {"international": True}, False, "uan"),
        ("+881 6 1234 5678", {"international": True}, False, "international_network"),
        ("+870 772 123 456", {"international": True}, False, "international_network"),
        # An admin may unblock a type.
        ("+1 900 555 1234", {"blocked_types": frozenset()}, True, ""),
        # The high-risk list, and turning it off.
        ("+53 5 1234567", {"international": True}, False, "high_risk_range"),
        ("+53 5 1234567", {"international": True, "block_high_risk": False}, True, ""),
        # Emergency numbers: always, even with outbound calling off.
        ("911", {"outbound": False}, True, ""),
        ("(202) 555-0123", {"outbound": False}, False, "outbound_disabled"),
        # Invalid numbers.
        ("+1 202 555", {}, False, "invalid_number"),
    ],
)
def test_outbound_decisions(
    dialled: str, settings: dict[str, object], allowed: bool, reason: str
) -> None:
    assert _call(dialled, _rules(**settings)) == (allowed, reason)


def test_emergency_calls_raise_an_alert() -> None:
    decision = evaluate(
        Attempt(direction=Direction.OUTBOUND, destination=normalise("112", "GB")),
        _rules("GB", outbound=False),
        MONDAY_15_UTC,
    )
    assert decision.allowed
    assert decision.alert == "emergency_call"


def test_international_calls_only_inside_the_window_in_the_tenants_time_zone() -> None:
    rules = _rules(
        international=True, window=TimeWindow.parse("08:00-18:00"), timezone="America/New_York"
    )
    assert _call("+44 20 7946 0018", rules, MONDAY_15_UTC) == (True, "")  # 10:00 in New York
    late = datetime(2026, 11, 24, 1, 30, tzinfo=UTC).timestamp()  # 20:30 in New York
    assert _call("+44 20 7946 0018", rules, late) == (False, "outside_window")
    # Domestic calls are not bound by the window.
    assert _call("(202) 555-0123", rules, late) == (True, "")


def test_a_window_over_midnight() -> None:
    window = TimeWindow.parse("22:00-06:00")
    assert window.contains(23 * 60)
    assert window.contains(5 * 60 + 59)
    assert not window.contains(6 * 60)
    assert not window.contains(12 * 60)


@pytest.mark.parametrize("text", ["8-18", "08:00", "25:00-26:00", "08:00-08:00", "08:61-09:00"])
def test_a_bad_window_says_what_is_wrong(text: str) -> None:
    with pytest.raises(ValueError, match="window"):
        TimeWindow.parse(text)


def test_max_price_per_minute_uses_the_longest_matching_prefix() -> None:
    rules = _rules(international=True, max_rate=Decimal("0.25"))
    assert _call("+44 20 7946 0018", rules) == (True, "")  # 44: 0.02
    assert _call("+44 7400 123456", rules) == (True, "")  # 44: 0.02 (mobile, 4474...)
    assert _call("+44 7000 123456", rules) == (False, "personal_number")
    decision = evaluate(
        Attempt(
            direction=Direction.OUTBOUND,
            destination=normalise("+44 20 7946 0018", "US"),
            presented="+12025550123",
            owned_numbers=OWNED,
        ),
        rules,
        MONDAY_15_UTC,
    )
    assert decision.rate is not None
    assert decision.rate.prefix == "44"
    # A number the rate table does not price is refused while a price limit is set.
    assert _call("+33 1 42 68 53 00", rules) == (False, "no_rate")


@pytest.mark.parametrize(
    ("rates", "country_rate"),
    [
        ("44,0.02,USD\n4420,0.90,USD\n", "0.02"),  # the calling code's own rate
        ("4420,0.90,USD\n", None),  # no rate for the country as a whole
    ],
)
def test_a_decision_carries_the_rate_of_an_ordinary_number_of_the_country(
    rates: str, country_rate: str | None
) -> None:
    """The fraud detector compares a call's rate with it: 0.90 where a minute costs 0.02."""
    rules = effective_rules(
        country="US",
        tenant=PolicySettings(international=True),
        rates=RateTable(parse_rates_csv(rates)),
    )
    decision = evaluate(
        Attempt(
            direction=Direction.OUTBOUND,
            destination=normalise("+44 20 7946 0018", "US"),
            presented="+12025550123",
            owned_numbers=OWNED,
        ),
        rules,
        MONDAY_15_UTC,
    )
    assert decision.rate is not None
    assert decision.rate.price == Decimal("0.90")
    found = decision.country_rate
    assert (None if found is None else str(found.price)) == country_rate


def test_a_rate_over_the_limit_is_refused() -> None:
    rules = effective_rules(
        country="US",
        tenant=PolicySettings(international=True, max_rate=Decimal("0.25")),
        rates=RateTable(parse_rates_csv("44,0.02,USD\n442,0.40,USD\n")),
    )
    assert _call("+44 20 7946 0018", rules) == (False, "rate_too_high")


def test_the_caller_id_must_be_a_number_of_the_tenant() -> None:
    decision = evaluate(
        Attempt(
            direction=Direction.OUTBOUND,
            destination=normalise("(202) 555-0123", "US"),
            presented="+13125550199",
            owned_numbers=OWNED,
        ),
        _rules(),
        MONDAY_15_UTC,
    )
    assert (decision.allowed, decision.reason) == (False, "caller_id_not_owned")


# -- inheritance ---------------------------------------------------------------------------


def test_an_extension_may_be_stricter_than_its_tenant() -> None:
    tenant = PolicySettings(international=True, countries=frozenset({"GB", "FR"}))
    rules = effective_rules(
        country="US",
        tenant=tenant,
        extension=PolicySettings(countries=frozenset({"GB"})),
    )
    assert rules.countries == frozenset({"GB"})
    assert rules.sources["countries"] == "extension"
    assert _call("+33 1 42 68 53 00", rules) == (False, "country_not_allowed")
    off = effective_rules(
        country="US", tenant=tenant, extension=PolicySettings(international=False)
    )
    assert _call("+44 20 7946 0018", off) == (False, "intl_disabled")


def test_an_extension_may_be_looser_only_where_the_tenant_allows() -> None:
    tenant = PolicySettings(international=False)
    looser = PolicySettings(international=True, countries=frozenset({"GB"}))
    rules = effective_rules(country="US", tenant=tenant, extension=looser)
    assert not rules.international
    assert "not allowed" in rules.sources["international"]
    allowed = effective_rules(
        country="US",
        tenant=tenant.changed(extensions_may_loosen=frozenset({"international"})),
        extension=looser,
    )
    assert allowed.international
    assert allowed.sources["international"] == "extension"


def test_blocked_types_of_tenant_and_extension_add_up() -> None:
    rules = effective_rules(
        country="US",
        tenant=PolicySettings(blocked_types=frozenset({NumberType.PREMIUM})),
        extension=PolicySettings(blocked_types=frozenset({NumberType.TOLL_FREE})),
    )
    assert rules.blocked_types == {NumberType.PREMIUM, NumberType.TOLL_FREE}


def test_defaults_are_secure_and_say_where_they_come_from() -> None:
    rules = effective_rules(country="GB", tenant=PolicySettings())
    assert not rules.international
    assert {NumberType.PREMIUM, NumberType.INTERNATIONAL_NETWORK} <= rules.blocked_types
    assert rules.block_high_risk
    assert set(rules.sources.values()) == {"default"}


# -- inbound blocks ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("caller", "callee", "allowed", "status"),
    [
        ("+12025550199", "1001", False, 486),  # exact, tenant-wide, busy
        ("+19005550000", "1001", False, 603),  # prefix, reject
        (None, "1001", False, 480),  # anonymous, silence
        ("+13125550100", "1002", False, 603),  # this extension's own block
        ("+13125550100", "1001", True, 200),  # ... which does not apply to another
        ("+12025550123", "1001", True, 200),
    ],
)
def test_blocked_inbound_callers(
    caller: str | None, callee: str, allowed: bool, status: int
) -> None:
    blocks = (
        CallerBlock(id=1, pattern="+12025550199", treatment=BlockTreatment.BUSY),
        CallerBlock(id=2, pattern="+1900*", treatment=BlockTreatment.REJECT),
        CallerBlock(id=3, pattern="anonymous", treatment=BlockTreatment.SILENCE),
        CallerBlock(id=4, pattern="+13125550100", ext="1002"),
    )
    rules = effective_rules(country="US", tenant=PolicySettings(), blocks=blocks)
    decision = evaluate(
        Attempt(direction=Direction.INBOUND, caller_id=caller, callee_ext=callee),
        rules,
        MONDAY_15_UTC,
    )
    assert (decision.allowed, decision.status) == (allowed, status)
    if not allowed:
        assert decision.reason == "caller_blocked"


# -- the tables ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("44,abc,USD\n", "line 1: 'abc' is not a price"),
        ("44,0.1\n", "line 1: expected prefix,price,currency"),
        ("+4x,0.1,USD\n", "line 1: '\\+4x' is not a prefix"),
        ("44,0.1,USD\n44,0.2,USD\n", "line 2: prefix 44 appears twice"),
        ("44,-1,USD\n", "line 1: a price must be zero or more"),
        ("44,0.1,DOLLARS\n", "line 1: 'DOLLARS' is not an ISO 4217"),
    ],
)
def test_a_bad_rates_file_names_the_line_and_the_fix(text: str, message: str) -> None:
    with pytest.raises(TableError, match=message):
        parse_rates_csv(text)


def test_the_packaged_high_risk_list_names_its_sources() -> None:
    assert len(HIGH_RISK) >= 10
    hit = HIGH_RISK.match("+881612345678")
    assert hit is not None
    assert hit.source
    assert HIGH_RISK.match("+442079460018") is None
    assert parse_high_risk_csv("# comment\nprefix,label,source\n53,Cuba,CR\n")[0].label == "Cuba"


def test_a_destination_is_a_value() -> None:
    assert normalise("+44 20 7946 0018", "US") == Destination(
        kind=DestinationKind.NUMBER,
        dialled="+442079460018",
        e164="+442079460018",
        country="GB",
        country_code="44",
        number_type=NumberType.FIXED_LINE,
    )
