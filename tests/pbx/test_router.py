"""The router chain, in process: tenant, digest authentication, classification and location.

Real values throughout (a Directory snapshot, the location store, the digest verifier with a
seeded random source); only the network is absent.
"""

from __future__ import annotations

import random
import re

import pytest

from ringfence.accounts import Directory, Extension, PhoneNumber, Tenant, TenantId, Trunk
from ringfence.pbx.auth import Authenticator
from ringfence.pbx.location import LocationStore, Registration
from ringfence.pbx.router import Refused, Routed, Router
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
    caller: str, domain: str, target: str, *, sdp: str | None = None, auth: str = ""
) -> Request:
    body = sdp.encode() if sdp else b""
    head = (
        f"INVITE sip:{target} SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bKr1\r\n"
        f"From: <sip:{caller}@{domain}>;tag=f1\r\nTo: <sip:{target}>\r\nCall-ID: c1\r\n"
        f"CSeq: 1 INVITE\r\nMax-Forwards: 70\r\n{auth}"
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
