"""The router chain, in process: tenant, digest authentication, classification and location.

Real values throughout (a Directory snapshot, the location store, the digest verifier with a
seeded random source); only the network is absent.
"""

from __future__ import annotations

import random
import re
from dataclasses import replace
from decimal import Decimal

import pytest

from ringfence.accounts import Directory, Extension, PhoneNumber, Tenant, TenantId, Trunk
from ringfence.fraud import Limits
from ringfence.pbx.auth import Authenticator
from ringfence.pbx.location import LocationStore, Registration
from ringfence.pbx.router import Refused, Routed, Router
from ringfence.policy import (
    BlockTreatment,
    CallerBlock,
    PolicyBook,
    PolicySettings,
    RateTable,
    load_packaged_high_risk,
    parse_rates_csv,
)
from ringfence.sip.digest import Algorithm, DigestVerifier, build_credentials, compute_ha1
from ringfence.sip.effects import Peer
from ringfence.sip.headers import parse_name_addr
from ringfence.sip.message import Request
from ringfence.sip.nonce import NonceFactory, ReplayTracker
from ringfence.sip.parser import parse_message
from ringfence.sip.registrar import Binding

NOW = 1_800_000_000.0
A, B, C = TenantId(1), TenantId(2), TenantId(3)
PASSWORD = "Correct-horse-7"


def extension(tenant: TenantId, domain: str, ext: str) -> Extension:
    md5 = compute_ha1(username=ext, realm=domain, password=PASSWORD, algorithm=Algorithm.MD5)
    sha = compute_ha1(username=ext, realm=domain, password=PASSWORD, algorithm=Algorithm.SHA_256)
    return Extension(id=int(ext), tenant_id=tenant, ext=ext, display_name=None,
                     ha1_md5=md5, ha1_sha256=sha)  # fmt: skip


DIRECTORY = Directory(
    revision=1,
    tenants=[
        Tenant(id=A, name="alpha", domain="a.example", created_at=0.0),
        Tenant(id=B, name="beta", domain="b.example", created_at=0.0),
        Tenant(id=C, name="gamma", domain="c.example", created_at=0.0, encryption_required=True),
    ],
    extensions=[
        extension(A, "a.example", "1001"),
        extension(A, "a.example", "1002"),
        extension(A, "a.example", "1003"),
        extension(B, "b.example", "2001"),
        extension(C, "c.example", "3001"),
        extension(C, "c.example", "3002"),
    ],
    trunks=[
        Trunk(id=1, tenant_id=A, name="carrier", host="198.51.100.9", port=5060, transport="udp")
    ],
    numbers=[
        PhoneNumber(id=1, tenant_id=A, e164="+15551230001", ext="1002"),
        PhoneNumber(id=2, tenant_id=A, e164="+15551230002", ext="1001"),
    ],
    # Tenant alpha (US) may call Great Britain; its extension 1003 may not call abroad at all.
    policy=PolicyBook(
        settings={
            (A, ""): PolicySettings(international=True, countries=frozenset({"GB"})),
            (A, "1003"): PolicySettings(international=False),
        },
        blocks=[
            (A, CallerBlock(id=1, pattern="+447700900999", treatment=BlockTreatment.BUSY)),
            (A, CallerBlock(id=2, pattern="anonymous", treatment=BlockTreatment.SILENCE)),
            (A, CallerBlock(id=3, pattern="+4477009005*", ext="1002")),
        ],
        high_risk=load_packaged_high_risk(),
    ),
)
PHONE = Peer(transport="UDP", host="192.0.2.10", port=5060)


@pytest.fixture
def router() -> Router:
    seeded = random.Random(7)
    verifier = DigestVerifier(
        nonces=NonceFactory(b"k" * 32, random_bytes=seeded.randbytes),
        replay=ReplayTracker(lifetime=300.0),
    )
    location = LocationStore()
    for tenant, ext, port in ((A, "1002", 6002), (B, "2001", 6201), (C, "3002", 6302)):
        contact = parse_name_addr(f"<sip:{ext}@192.0.2.20:{port}>")
        binding = Binding(contact=contact, expires_at=NOW + 600, call_id=f"r{ext}", cseq=1)
        peer = Peer(transport="UDP", host="192.0.2.20", port=port)
        location.replace(tenant, ext, (Registration(binding=binding, source=peer),))
    return Router(directory=lambda: DIRECTORY, location=location,
                  authenticator=Authenticator(verifier), wall_clock=lambda: NOW)  # fmt: skip


def invite(
    caller: str,
    domain: str,
    target: str,
    *,
    sdp: str | None = None,
    auth: str = "",
    extra: str = "",
) -> Request:
    body = sdp.encode() if sdp else b""
    head = (
        f"INVITE sip:{target} SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bKr1\r\n"
        f"From: <sip:{caller}@{domain}>;tag=f1\r\nTo: <sip:{target}>\r\nCall-ID: c1\r\n"
        f"CSeq: 1 INVITE\r\nMax-Forwards: 70\r\n{auth}{extra}"
        + ("Content-Type: application/sdp\r\n" if body else "")
        + f"Content-Length: {len(body)}\r\n\r\n"
    )
    message = parse_message(head.encode() + body)
    assert isinstance(message, Request)
    return message


def authenticated(router: Router, caller: str, domain: str, target: str, **kw: str) -> Request:
    challenge = router.route(invite(caller, domain, target, **kw), PHONE)
    assert isinstance(challenge, Refused)
    assert challenge.status == 407
    value = dict(challenge.headers)["Proxy-Authenticate"]
    from ringfence.sip.digest import parse_challenge

    parsed = parse_challenge(value)
    ha1 = compute_ha1(username=caller, realm=domain, password=PASSWORD, algorithm=parsed.algorithm)
    credentials = build_credentials(challenge=parsed, method="INVITE", uri=f"sip:{target}",
                                    username=caller, ha1=ha1, cnonce="abc", nc=1)  # fmt: skip
    return invite(
        caller,
        domain,
        target,
        auth=f"Proxy-Authorization: {credentials.to_header_value()}\r\n",
        **kw,
    )


def test_internal_call_reaches_the_registered_flow(router: Router) -> None:
    routed = router.route(authenticated(router, "1001", "a.example", "1002@a.example"), PHONE)
    assert isinstance(routed, Routed)
    assert [str(t.uri) for t in routed.targets] == ["sip:1002@192.0.2.20:6002"]
    assert routed.targets[0].peer == Peer(transport="UDP", host="192.0.2.20", port=6002)
    assert routed.call is not None
    assert (routed.call.direction, routed.call.caller, routed.call.callee) == (
        "internal",
        "1001",
        "1002",
    )


@pytest.mark.parametrize(
    ("target", "status", "reason"),
    [
        ("1003@a.example", 480, "not_registered"),
        ("reception@a.example", 404, "unknown_extension"),
        ("1099@a.example", 404, "unknown_extension"),  # short digits are an extension, not a number
        ("2001@b.example", 403, "cross_tenant"),
        ("bob@elsewhere.example", 403, "relay_denied"),
    ],
)
def test_refusals_carry_reason_and_a_call_record(
    router: Router, target: str, status: int, reason: str
) -> None:
    refused = router.route(authenticated(router, "1001", "a.example", target), PHONE)
    assert isinstance(refused, Refused)
    assert (int(refused.status), refused.reason) == (status, reason)
    assert refused.call is not None  # one record per attempt, refused ones too


def test_wrong_password_and_unknown_user_answer_alike(router: Router) -> None:
    good = authenticated(router, "1001", "a.example", "1002@a.example")
    value = good.headers.get("Proxy-Authorization") or ""
    wrong = good.with_headers(
        good.headers.with_value(
            "Proxy-Authorization",
            re.sub(r'response="[0-9a-f]+"', 'response="' + "0" * 32 + '"', value),
        )
    )
    unknown = authenticated(router, "9999", "a.example", "1002@a.example")
    answers = [router.route(request, PHONE) for request in (wrong, unknown)]
    assert all(isinstance(a, Refused) for a in answers)
    assert {(int(a.status), a.public) for a in answers if isinstance(a, Refused)} == {(403, False)}


def test_outbound_presents_a_number_the_tenant_owns(router: Router) -> None:
    routed = router.route(
        authenticated(router, "1001", "a.example", "+442079460000@a.example"), PHONE
    )
    assert isinstance(routed, Routed)
    assert routed.trunk is not None
    assert str(routed.targets[0].uri) == "sip:+442079460000@198.51.100.9:5060"
    headers = dict(routed.set_headers)
    assert headers["P-Asserted-Identity"] == "<sip:+15551230002@a.example;user=phone>"
    assert headers["From"].startswith("<sip:+15551230002@a.example;user=phone>;tag=f1")


def test_inbound_from_the_trunk_reaches_the_number_owner(router: Router) -> None:
    gateway = Peer(transport="UDP", host="198.51.100.9", port=5060)
    routed = router.route(
        invite("+447700900123", "carrier.example", "+15551230001@a.example"), gateway
    )
    assert isinstance(routed, Routed)
    assert routed.call is not None
    assert (routed.call.direction, routed.call.callee) == ("inbound", "1002")
    unknown = router.route(
        invite("+447700900123", "carrier.example", "+15559999999@a.example"), gateway
    )
    assert isinstance(unknown, Refused)
    assert int(unknown.status) == 404


def test_encryption_required_refuses_a_plain_rtp_offer(router: Router) -> None:
    plain = (
        "v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n"
        "m=audio 4000 RTP/AVP 0\r\n"
    )
    refused = router.route(
        authenticated(router, "3001", "c.example", "3002@c.example", sdp=plain), PHONE
    )
    assert isinstance(refused, Refused)
    assert (int(refused.status), refused.reason) == (488, "encryption_required")
    srtp = plain.replace("RTP/AVP 0", "RTP/SAVP 0") + (
        "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz\r\n"
    )
    routed = router.route(
        authenticated(router, "3001", "c.example", "3002@c.example", sdp=srtp), PHONE
    )
    assert isinstance(routed, Routed)


# -- the call policy in the chain ------------------------------------------------------------

GATEWAY = Peer(transport="UDP", host="198.51.100.9", port=5060)


@pytest.mark.parametrize(
    ("caller", "dialled", "status", "reason"),
    [
        ("1001", "+33142685300", 403, "country_not_allowed"),  # France: not on alpha's list
        ("1001", "+449098790000", 403, "premium_rate"),  # a UK 09 premium-rate number
        ("1001", "+8816512345678", 403, "international_network"),  # Iridium satellite
        ("1001", "+15551239999", 404, "invalid_number"),  # 555-1239 is no NANP number
        ("1003", "+442079460000", 403, "intl_disabled"),  # the extension is stricter
    ],
)
def test_the_policy_refuses_with_its_reason_and_records_the_attempt(
    router: Router, caller: str, dialled: str, status: int, reason: str
) -> None:
    refused = router.route(
        authenticated(router, caller, "a.example", f"{dialled}@a.example"), PHONE
    )
    assert isinstance(refused, Refused)
    assert (int(refused.status), refused.reason) == (status, reason)
    assert refused.public  # the caller's own tenant sees the reason
    assert refused.detail
    assert refused.call is not None
    assert (refused.call.direction, refused.call.callee) == ("outbound", dialled)


@pytest.mark.parametrize("dialled", ["2125550123", "1-212-555-0123", "12125550123"])
def test_national_forms_go_out_in_e164(router: Router, dialled: str) -> None:
    routed = router.route(authenticated(router, "1001", "a.example", f"{dialled}@a.example"), PHONE)
    assert isinstance(routed, Routed)
    assert str(routed.targets[0].uri) == "sip:+12125550123@198.51.100.9:5060"


def test_an_emergency_call_goes_out_with_an_alert_even_where_calls_out_are_refused(
    router: Router,
) -> None:
    routed = router.route(authenticated(router, "1003", "a.example", "911@a.example"), PHONE)
    assert isinstance(routed, Routed)
    assert routed.alert == "emergency_call"
    assert str(routed.targets[0].uri) == "sip:911@198.51.100.9:5060"


def test_a_preferred_identity_must_be_a_number_of_the_tenant(router: Router) -> None:
    owned = "P-Preferred-Identity: <sip:+15551230001@a.example>\r\n"
    routed = router.route(
        authenticated(router, "1001", "a.example", "2125550123@a.example", extra=owned), PHONE
    )
    assert isinstance(routed, Routed)
    headers = dict(routed.set_headers)
    assert headers["P-Asserted-Identity"] == "<sip:+15551230001@a.example;user=phone>"
    assert headers["P-Preferred-Identity"] is None  # removed on the way out (RFC 3325 §9.2)
    foreign = "P-Preferred-Identity: <sip:+12125559876@a.example>\r\n"
    refused = router.route(
        authenticated(router, "1001", "a.example", "2125550123@a.example", extra=foreign), PHONE
    )
    assert isinstance(refused, Refused)
    assert (int(refused.status), refused.reason) == (403, "caller_id_not_owned")


@pytest.mark.parametrize(
    ("caller", "extra", "status", "silence"),
    [
        ("+447700900999", "", 486, False),  # tenant-wide block, busy treatment
        ("00447700900999", "", 486, False),  # the same number in another dialled form
        ("anonymous", "", 480, True),  # withheld: silence
        ("+447700900123", "Privacy: id\r\n", 480, True),  # withheld by Privacy (RFC 3323)
        ("+447700900555", "", 603, False),  # the prefix block of extension 1002
    ],
)
def test_a_blocked_inbound_caller_never_rings_the_phone(
    router: Router, caller: str, extra: str, status: int, silence: bool
) -> None:
    refused = router.route(
        invite(caller, "carrier.example", "+15551230001@a.example", extra=extra), GATEWAY
    )
    assert isinstance(refused, Refused)
    assert (int(refused.status), refused.reason, refused.silence) == (
        status,
        "caller_blocked",
        silence,
    )
    assert not refused.public  # another network's caller learns nothing of the rule
    assert refused.call is not None
    assert refused.call.direction == "inbound"


def test_a_prefix_block_of_one_extension_leaves_the_others_alone(router: Router) -> None:
    # +4477009005* is blocked for 1002 only; 1001 (+15551230002) still rings.
    location = router.location
    contact = parse_name_addr("<sip:1001@192.0.2.20:6001>")
    binding = Binding(contact=contact, expires_at=NOW + 600, call_id="r1001", cseq=1)
    peer = Peer(transport="UDP", host="192.0.2.20", port=6001)
    location.replace(A, "1001", (Registration(binding=binding, source=peer),))
    routed = router.route(
        invite("+447700900555", "carrier.example", "+15551230002@a.example"), GATEWAY
    )
    assert isinstance(routed, Routed)


def test_a_caller_who_withholds_the_number_goes_out_anonymous_with_an_asserted_identity(
    router: Router,
) -> None:
    routed = router.route(
        authenticated(router, "1001", "a.example", "2125550123@a.example", extra="Privacy: id\r\n"),
        PHONE,
    )
    assert isinstance(routed, Routed)
    headers = dict(routed.set_headers)
    assert headers["From"] == '"Anonymous" <sip:anonymous@anonymous.invalid>;tag=f1'
    assert headers["P-Asserted-Identity"] == "<sip:+15551230002@a.example;user=phone>"


# -- usage throttles -------------------------------------------------------------------------


def test_a_third_international_call_at_once_is_refused_until_one_ends(router: Router) -> None:
    """The safe default of a new tenant: 2 international calls at once per extension."""
    live = []
    for n in range(2):
        routed = router.route(
            authenticated(router, "1001", "a.example", f"+44207946001{n}@a.example"), PHONE
        )
        assert isinstance(routed, Routed)
        assert routed.call is not None
        assert routed.call.international
        router.calls.start(replace(routed.call, call_id=f"c{n}"))
        live.append(replace(routed.call, call_id=f"c{n}"))
    third = router.route(
        authenticated(router, "1001", "a.example", "+442079460018@a.example"), PHONE
    )
    assert isinstance(third, Refused)
    assert (int(third.status), third.reason) == (403, "concurrent_calls")
    domestic = router.route(
        authenticated(router, "1001", "a.example", "2125550123@a.example"), PHONE
    )
    assert isinstance(domestic, Routed)  # domestic calls have their own, higher limit
    router.calls.end(live[0], status=200, reason=None, now=NOW)
    again = router.route(
        authenticated(router, "1001", "a.example", "+442079460018@a.example"), PHONE
    )
    assert isinstance(again, Routed)


def test_calls_on_another_node_count_toward_the_limits(router: Router) -> None:
    """Another node reports one of 1001's international calls and four of its starts this
    minute: one more international call is allowed here, then the per-minute cap holds."""
    router.calls.ledger.set_others({f"intl-ext|{A}|1001": 1, f"intl-minute|{A}|1001": 4})
    first = router.route(
        authenticated(router, "1001", "a.example", "+442079460011@a.example"), PHONE
    )
    assert isinstance(first, Routed)
    assert first.call is not None
    router.calls.start(replace(first.call, call_id="n1"))
    second = router.route(
        authenticated(router, "1001", "a.example", "+442079460012@a.example"), PHONE
    )
    assert isinstance(second, Refused)
    assert (int(second.status), second.reason) == (403, "concurrent_calls")
    router.calls.ledger.set_others({f"intl-minute|{A}|1001": 4})
    third = router.route(
        authenticated(router, "1001", "a.example", "+442079460013@a.example"), PHONE
    )
    assert isinstance(third, Refused)
    assert (int(third.status), third.reason) == (403, "call_rate")


def test_international_calls_a_minute_are_capped_per_extension(router: Router) -> None:
    for n in range(5):  # the default: 5 international calls a minute
        routed = router.route(
            authenticated(router, "1001", "a.example", f"+44207946002{n}@a.example"), PHONE
        )
        assert isinstance(routed, Routed)
        assert routed.call is not None
        call = replace(routed.call, call_id=f"r{n}")
        router.calls.start(call)
        router.calls.end(call, status=486, reason=None, now=NOW)
    sixth = router.route(
        authenticated(router, "1001", "a.example", "+442079460030@a.example"), PHONE
    )
    assert isinstance(sixth, Refused)
    assert sixth.reason == "call_rate"
    other = router.route(
        authenticated(router, "1002", "a.example", "+442079460030@a.example"), PHONE
    )
    assert isinstance(other, Routed)  # another extension of the tenant is not held up


def test_a_spent_daily_budget_refuses_paid_calls_but_not_free_ones() -> None:
    priced = Directory(
        revision=2,
        tenants=DIRECTORY.tenants(),
        extensions=[e for t in DIRECTORY.tenants() for e in DIRECTORY.extensions(t.id)],
        trunks=DIRECTORY.trunks(A),
        numbers=DIRECTORY.numbers_of(A),
        policy=PolicyBook(
            settings={(A, ""): PolicySettings(international=True, countries=frozenset({"GB"}))},
            rates={A: RateTable(parse_rates_csv("44,0.60,USD\n1800,0,USD\n"))},
        ),
        usage_limits={(A, ""): Limits(daily_budget=Decimal("1.00"))},
    )
    seeded = random.Random(7)
    verifier = DigestVerifier(
        nonces=NonceFactory(b"k" * 32, random_bytes=seeded.randbytes),
        replay=ReplayTracker(lifetime=300.0),
    )
    clock = [NOW]
    router = Router(directory=lambda: priced, location=LocationStore(),
                    authenticator=Authenticator(verifier), wall_clock=lambda: clock[0])  # fmt: skip
    routed = router.route(
        authenticated(router, "1001", "a.example", "+442079460018@a.example"), PHONE
    )
    assert isinstance(routed, Routed)
    assert routed.call is not None
    assert routed.call.price == Decimal("0.60")
    router.calls.start(routed.call)
    router.calls.answered(routed.call.call_id, routed.call.from_tag, NOW)
    clock[0] = NOW + 120  # two minutes at 0.60 a minute
    record = router.calls.end(routed.call, status=200, reason=None, now=clock[0])
    assert (record.cost, record.currency) == (Decimal("1.2000"), "USD")
    refused = router.route(
        authenticated(router, "1001", "a.example", "+442079460019@a.example"), PHONE
    )
    assert isinstance(refused, Refused)
    assert refused.reason == "budget_exceeded"
    free = router.route(authenticated(router, "1001", "a.example", "+18005550199@a.example"), PHONE)
    assert isinstance(free, Routed)  # toll free costs nothing: no budget stops it
    emergency = router.route(authenticated(router, "1001", "a.example", "911@a.example"), PHONE)
    assert isinstance(emergency, Routed)
