"""The fraud guard in the router: a contained extension's international calls are refused
while its domestic ones go; a PIN hold challenges for the extension's PIN in its own realm,
a right PIN lets the call out and tells the service, a wrong one is refused; the detector's
assessment reaches the service's hook with what to do."""

from __future__ import annotations

from dataclasses import replace

import pytest
from tests.pbx.test_router import (
    DIRECTORY,
    PASSWORD,
    PHONE,
    A,
    authenticated,
    invite,
    router,  # noqa: F401
)

from ringfence.accounts import Directory, pin_realm
from ringfence.fraud import Assessment, Hold, Response
from ringfence.pbx.router import Refused, Routed, Router
from ringfence.sip.digest import Algorithm, build_credentials, compute_ha1, parse_challenge

GB = "+442079460018@a.example"
US = "2125550123@a.example"
PIN = "4821"


def held(level: Response, ext: str = "1001", *, pin: bool = True) -> Directory:
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
        policy=DIRECTORY.policy,
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


def test_the_detector_contains_a_burst_and_tells_the_service(router: Router) -> None:  # noqa: F811
    seen: list[Assessment] = []
    router.on_fraud = seen.append
    outcomes = []
    # Expensive, never-called numbers in a row, each from a new address: calls at once from
    # several addresses, then a range already in the open incident.
    for n in range(4):
        source = replace(PHONE, host=f"203.0.113.{n + 1}")
        routed = router.route(
            authenticated(router, "1001", "a.example", f"+44207946002{n}@a.example"), source
        )
        outcomes.append(routed)
        if isinstance(routed, Routed) and routed.call is not None:
            router.calls.start(replace(routed.call, call_id=f"burst{n}"))
    refused = [o for o in outcomes if isinstance(o, Refused)]
    assert refused, "the burst was never stopped"
    assert refused[0].reason in ("fraud_contained", "pin_required")
    assert seen
    assert seen[0].response >= Response.NOTIFY
    assert all(a.tenant_id == A for a in seen)
