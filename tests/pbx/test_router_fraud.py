"""The fraud guard in the router: a contained extension's international calls are refused
while its domestic ones go; a PIN hold challenges for the extension's PIN in its own realm,
a right PIN lets the call out and tells the service, a wrong one is refused; the detector's
assessment reaches the service's hook with what to do."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest
from tests.pbx.test_router import (
    DIRECTORY,
    NOW,
    PASSWORD,
    PHONE,
    A,
    authenticated,
    invite,
    router,  # noqa: F401
)

from ringfence.accounts import Directory, pin_realm
from ringfence.fraud import Assessment, Hold, InboundCall, OutboundAttempt, Registered, Response
from ringfence.pbx.auth import Authenticator
from ringfence.pbx.location import LocationStore
from ringfence.pbx.router import Refused, Routed, Router
from ringfence.policy import PolicyBook, PolicySettings, RateTable, parse_rates_csv
from ringfence.sip.digest import (
    Algorithm,
    DigestVerifier,
    build_credentials,
    compute_ha1,
    parse_challenge,
)
from ringfence.sip.nonce import NonceFactory, ReplayTracker

GB = "+442079460018@a.example"
US = "2125550123@a.example"
PIN = "4821"


def held(
    level: Response, ext: str = "1001", *, pin: bool = True, policy: PolicyBook | None = None
) -> Directory:
    extensions = []
    for e in DIRECTORY.extensions(A):
        if pin and e.ext == ext:
            realm = pin_realm("a.example")
            e = replace(  # noqa: PLW2901
                e,
                pin_ha1_md5=compute_ha1(
                    username=ext, realm=realm, password=PIN, algorithm=Algorithm.MD5
                ),
            )
        extensions.append(e)
    others = [x for t in DIRECTORY.tenants() if t.id != A for x in DIRECTORY.extensions(t.id)]
    return Directory(
        revision=2,
        tenants=DIRECTORY.tenants(),
        extensions=[*extensions, *others],
        trunks=[t for x in DIRECTORY.tenants() for t in DIRECTORY.trunks(x.id)],
        numbers=[n for x in DIRECTORY.tenants() for n in DIRECTORY.numbers_of(x.id)],
        policy=policy or DIRECTORY.policy,
        holds={(A, ext): Hold(tenant_id=A, ext=ext, level=level, since=0.0)},
    )


def test_a_contained_extension_may_call_home_but_not_abroad(router: Router) -> None:  # noqa: F811
    directory = held(Response.CONTAIN)
    router.directory = lambda: directory
    abroad = router.route(authenticated(router, "1001", "a.example", GB), PHONE)
    assert isinstance(abroad, Refused)
    assert (int(abroad.status), abroad.reason) == (403, "fraud_contained")
    assert abroad.call is not None  # the refusal is in the call records
    home = router.route(authenticated(router, "1001", "a.example", US), PHONE)
    assert isinstance(home, Routed)
    other = router.route(authenticated(router, "1002", "a.example", GB), PHONE)
    assert isinstance(other, Routed)


def pin_answer(challenge: Refused, ext: str, pin: str, target: str) -> str:
    values = [v for k, v in challenge.headers if k == "Proxy-Authenticate"]
    lines = []
    for value in values:
        parsed = parse_challenge(value)
        secret = pin if parsed.realm.startswith("pin.") else PASSWORD
        ha1 = compute_ha1(
            username=ext, realm=parsed.realm, password=secret, algorithm=parsed.algorithm
        )
        credentials = build_credentials(
            challenge=parsed,
            method="INVITE",
            uri=f"sip:{target}",
            username=ext,
            ha1=ha1,
            cnonce="pin",
            nc=1,
        )
        lines.append(f"Proxy-Authorization: {credentials.to_header_value()}\r\n")
    return "".join(lines)


@pytest.mark.parametrize(("pin", "allowed"), [(PIN, True), ("0000", False)])
def test_a_pin_hold_asks_for_the_pin_in_its_own_realm(
    router: Router,  # noqa: F811
    pin: str,
    allowed: bool,
) -> None:
    directory = held(Response.PIN)
    router.directory = lambda: directory
    given: list[tuple[int, str]] = []
    router.on_pin = lambda tenant, ext: given.append((tenant, ext))
    challenge = router.route(authenticated(router, "1001", "a.example", GB), PHONE)
    assert isinstance(challenge, Refused)
    assert (int(challenge.status), challenge.reason) == (407, "pin_required")
    realms = sorted(
        parse_challenge(v).realm for k, v in challenge.headers if k == "Proxy-Authenticate"
    )
    assert realms == ["a.example", "pin.a.example"]
    answered = invite("1001", "a.example", GB, auth=pin_answer(challenge, "1001", pin, GB))
    outcome = router.route(answered, PHONE)
    if allowed:
        assert isinstance(outcome, Routed)
        assert given == [(A, "1001")]
    else:
        assert isinstance(outcome, Refused)
        assert (int(outcome.status), outcome.reason) == (403, "pin_wrong")
        assert given == []


def test_a_pin_hold_on_an_extension_without_a_pin_refuses_international_calls(
    router: Router,  # noqa: F811
) -> None:
    directory = held(Response.PIN, pin=False)
    router.directory = lambda: directory
    outcome = router.route(authenticated(router, "1001", "a.example", GB), PHONE)
    assert isinstance(outcome, Refused)
    assert (int(outcome.status), outcome.reason) == (403, "pin_required")


ATTACKER = replace(PHONE, host="203.0.113.5")


def known_phone(service: Router) -> None:
    """1001 has a PIN, and its phone has registered from its usual network for days."""
    directory = held(Response.NONE)
    service.directory = lambda: directory
    service.detector.registered(
        Registered(tenant_id=A, ext="1001", source=PHONE.host, at=NOW - 2e5)
    )


def test_the_detector_escalates_calls_from_a_new_network_and_tells_the_service(
    router: Router,  # noqa: F811
) -> None:
    known_phone(router)
    seen: list[Assessment] = []
    router.on_fraud = seen.append
    outcomes = []
    # Calls abroad to a country never called, one after another from a network the
    # extension was never on: notified on the second, the PIN asked for on the third.
    for n in range(3):
        target = f"+44207946002{n}@a.example"
        challenge = router.route(invite("1001", "a.example", target), ATTACKER)
        assert isinstance(challenge, Refused)
        outcomes.append(router.route(authenticated(router, "1001", "a.example", target), ATTACKER))
    assert [type(o).__name__ for o in outcomes] == ["Routed", "Routed", "Refused"]
    refused = outcomes[2]
    assert isinstance(refused, Refused)
    assert (int(refused.status), refused.reason) == (407, "pin_required")
    assert [a.response for a in seen] == [Response.NOTIFY, Response.PIN]
    assert all(a.tenant_id == A for a in seen)
    assert "new_network" in seen[0].explain()


def test_the_invite_with_the_right_pin_goes_out_unscored_and_is_tracked(
    router: Router,  # noqa: F811
) -> None:
    known_phone(router)
    seen: list[Assessment] = []
    router.on_fraud = seen.append
    for n in range(3):
        last = router.route(
            authenticated(router, "1001", "a.example", f"+44207946002{n}@a.example"), ATTACKER
        )
    assert isinstance(last, Refused)
    assert last.reason == "pin_required"
    escalations = len(seen)
    answered = invite("1001", "a.example", GB, auth=pin_answer(last, "1001", PIN, GB))
    assert isinstance(router.route(answered, ATTACKER), Routed)
    assert len(seen) == escalations  # the INVITE with the PIN was not scored again
    # Probing refused destinations contains the extension: the call let out on the PIN is
    # among the calls its containment ends.
    found = [
        router.detector.assess(
            OutboundAttempt(
                tenant_id=A,
                ext="1001",
                call_key=f"probe{n}",
                at=NOW + n,
                number=f"+37120000{n:03d}",
                country="LV",
                home_country="US",
                timezone="UTC",
                international=True,
                allowed=False,
            )
        )
        for n in range(6)
    ]
    contained = [a for a in found if a.response is Response.CONTAIN]
    assert contained
    assert f"{answered.call_id};f1" in contained[0].end_calls


def test_calling_back_a_wangiri_wave_is_refused(router: Router) -> None:  # noqa: F811
    for n in range(3):
        router.detector.inbound(
            InboundCall(
                tenant_id=A,
                caller=f"+44207946{n:04d}",
                caller_country="GB",
                home_country="US",
                at=NOW - 600 + n,
                answered=False,
                rang_for=2.0,
            )
        )
    outcome = router.route(authenticated(router, "1001", "a.example", GB), PHONE)
    assert isinstance(outcome, Refused)
    assert (int(outcome.status), outcome.reason) == (403, "fraud_blocked_range")
    elsewhere = router.route(
        authenticated(router, "1001", "a.example", "+442087654321@a.example"), PHONE
    )
    assert isinstance(elsewhere, Routed)


def test_a_third_wrong_pin_contains_and_the_right_one_then_changes_nothing(
    router: Router,  # noqa: F811
) -> None:
    """Somebody with the SIP password guessing the PIN: two wrong guesses are a user's
    typing; the third contains the extension, and after it even the right PIN is refused."""
    directory = held(Response.PIN)
    router.directory = lambda: directory
    seen: list[Assessment] = []
    router.on_fraud = seen.append
    outcomes = []
    for guess in ("0000", "1111", "2222"):
        challenge = router.route(authenticated(router, "1001", "a.example", GB), PHONE)
        assert isinstance(challenge, Refused)
        assert challenge.reason == "pin_required"
        answered = invite("1001", "a.example", GB, auth=pin_answer(challenge, "1001", guess, GB))
        outcome = router.route(answered, PHONE)
        assert isinstance(outcome, Refused)
        outcomes.append(outcome.reason)
    assert outcomes == ["pin_wrong", "pin_wrong", "pin_wrong"]
    plain = router.route(authenticated(router, "1001", "a.example", GB), PHONE)
    assert isinstance(plain, Refused)
    assert plain.reason == "fraud_contained"
    # The right PIN, with fresh credentials of the tenant's realm beside it.
    fresh = router.route(invite("1001", "a.example", GB), PHONE)
    assert isinstance(fresh, Refused)
    both = replace(
        fresh,
        headers=(*fresh.headers, *(h for h in challenge.headers if "pin." in h[1])),
    )
    right = router.route(
        invite("1001", "a.example", GB, auth=pin_answer(both, "1001", PIN, GB)), PHONE
    )
    assert isinstance(right, Refused)
    assert right.reason == "fraud_contained"
    assert [a.response for a in seen] == [Response.CONTAIN]
    assert "3 wrong PINs" in seen[0].explain()
    home = router.route(authenticated(router, "1001", "a.example", US), PHONE)
    assert isinstance(home, Routed)  # a contained extension still calls home


@pytest.mark.parametrize(
    ("target", "outcome"),
    [
        ("+442079460018@a.example", "Routed"),  # London's fixed lines at 0.02: ordinary
        ("+447400123456@a.example", "Refused"),  # a range the rate table prices at 1.20
    ],
)
def test_a_first_call_priced_far_above_its_country_asks_for_the_pin(
    target: str,
    outcome: str,
) -> None:
    """The rate table prices the United Kingdom at 0.02 and one mobile range at 1.20: the
    first call there is overpriced for a country the tenant never called, and asks the PIN."""
    priced = held(
        Response.NONE,
        policy=PolicyBook(
            settings={(A, ""): PolicySettings(international=True, countries=frozenset({"GB"}))},
            rates={A: RateTable(parse_rates_csv("44,0.02,USD\n4474,1.20,USD\n"))},
        ),
    )
    seeded = random.Random(7)
    verifier = DigestVerifier(
        nonces=NonceFactory(b"k" * 32, random_bytes=seeded.randbytes),
        replay=ReplayTracker(lifetime=300.0),
    )
    service = Router(directory=lambda: priced, location=LocationStore(),
                     authenticator=Authenticator(verifier), wall_clock=lambda: NOW)  # fmt: skip
    seen: list[Assessment] = []
    service.on_fraud = seen.append
    result = service.route(authenticated(service, "1001", "a.example", target), PHONE)
    assert type(result).__name__ == outcome
    if isinstance(result, Refused):
        assert (int(result.status), result.reason) == (407, "pin_required")
        assert "overpriced" in seen[0].explain()
        assert "usually costs 0.02" in seen[0].explain()
