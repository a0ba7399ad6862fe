"""URIs: parsing, serialising, and RFC 3261 §19.1.4 / RFC 3966 §4 equality."""

from __future__ import annotations

import pytest

from ringfence.errors import ParseError
from ringfence.sip.uri import AbsoluteUri, SipUri, TelUri, parse_uri


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sip:alice@example.com", SipUri(user="alice", host="example.com")),
        (
            "sips:alice@example.com:5061",
            SipUri(scheme="sips", user="alice", host="example.com", port=5061),
        ),
        (
            "sip:alice:secret@example.com",
            SipUri(user="alice", password="secret", host="example.com"),
        ),
        ("sip:192.0.2.4", SipUri(host="192.0.2.4")),
        ("sip:[2001:db8::10]:5070", SipUri(host="[2001:db8::10]", port=5070)),
        ("sip:[2001:db8::10:5070]", SipUri(host="[2001:db8::10:5070]")),  # RFC 5118 §4.3
        ("sip:u@[2001:db8::192.0.2.1]", SipUri(user="u", host="[2001:db8::192.0.2.1]")),
        (
            "sip:proxy.example.com;lr;transport=tcp",
            SipUri(host="proxy.example.com", params=(("lr", None), ("transport", "tcp"))),
        ),
        (
            "sip:bob@example.com?subject=project%20x&priority=urgent",
            SipUri(
                user="bob",
                host="example.com",
                headers=(("subject", "project%20x"), ("priority", "urgent")),
            ),
        ),
        (
            "sip:+12125551212@gw.example.com;user=phone",
            SipUri(user="+12125551212", host="gw.example.com", params=(("user", "phone"),)),
        ),
        ("tel:+1-201-555-0123", TelUri(number="+1-201-555-0123")),
        (
            "tel:7042;phone-context=example.com",
            TelUri(number="7042", params=(("phone-context", "example.com"),)),
        ),
        ("mailto:alice@example.com", AbsoluteUri(scheme="mailto", opaque="alice@example.com")),
    ],
)
def test_parse_and_serialise(text: str, expected: object) -> None:
    uri = parse_uri(text)
    assert uri == expected
    assert str(uri) == text


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("sip:user@2001:db8::10", "unexpected text after host"),  # RFC 5118 §4.2: unbracketed
        ("sip:user@[2001:db8::10", "bad host"),
        ("sip:user@[2001:db8:::10]", "bad IPv6"),
        ("sip:user@exa mple.com", "bad host"),
        ("sip:user@example.com:99999", "port out of range"),
        ("sip:user@example.com;;lr", "empty URI parameter"),
        ("sip:user@example.com;a b", "bad URI parameter"),
        ("sip:us er@example.com", "bad user"),
        ("sip:user@example.com?noequals", "bad URI header"),
        ("<sip:user@example.com>", "not a URI"),
        ("sip", "not a URI"),
        ("tel:", "bad tel"),
        ("foo:", "bad foo URI"),
        ("sip:" + "a" * 5000 + "@example.com", "too long"),
    ],
)
def test_parse_errors_name_the_fault(text: str, reason: str) -> None:
    with pytest.raises(ParseError, match=reason):
        parse_uri(text)


# RFC 3261 §19.1.4, the examples it gives.
EQUIVALENT = [
    ("sip:%61lice@atlanta.com;transport=TCP", "sip:alice@AtLanTa.CoM;Transport=tcp"),
    ("sip:carol@chicago.com", "sip:carol@chicago.com;newparam=5"),
    ("sip:carol@chicago.com", "sip:carol@chicago.com;security=on"),
    ("sip:carol@chicago.com;newparam=5", "sip:carol@chicago.com;security=on"),
    (
        "sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com",
        "sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com",
    ),
    (
        "sip:alice@atlanta.com?subject=project%20x&priority=urgent",
        "sip:alice@atlanta.com?priority=urgent&subject=project%20x",
    ),
    ("sip:u@[2001:db8::10]", "sip:u@[2001:DB8:0:0:0:0:0:10]"),
]
NOT_EQUIVALENT = [
    ("SIP:ALICE@AtLanTa.CoM;Transport=udp", "sip:alice@AtLanTa.CoM;Transport=UDP"),  # user case
    ("sip:bob@biloxi.com", "sip:bob@biloxi.com:5060"),  # default port made explicit
    ("sip:bob@biloxi.com", "sip:bob@biloxi.com;transport=udp"),  # transport only on one side
    ("sip:bob@biloxi.com", "sip:bob@biloxi.com:6000;transport=tcp"),
    ("sip:carol@chicago.com", "sip:carol@chicago.com?Subject=next%20meeting"),  # headers
    ("sip:bob@phone21.boxesbybob.com", "sip:bob@192.0.2.4"),  # no DNS resolution
    ("sip:alice@example.com", "sips:alice@example.com"),
    ("sip:carol@chicago.com;newparam=5", "sip:carol@chicago.com;newparam=6"),
]


@pytest.mark.parametrize(("a", "b"), EQUIVALENT)
def test_equivalent_uris(a: str, b: str) -> None:
    assert parse_uri(a) == parse_uri(b)
    assert hash(parse_uri(a)) == hash(parse_uri(b))


@pytest.mark.parametrize(("a", "b"), NOT_EQUIVALENT)
def test_different_uris(a: str, b: str) -> None:
    assert parse_uri(a) != parse_uri(b)


def test_tel_equality_ignores_visual_separators() -> None:
    assert parse_uri("tel:+1-201-555-0123") == parse_uri("tel:+1.201.555.0123")
    assert parse_uri("tel:+1-201-555-0123") != parse_uri("tel:+1-201-555-0124")
    assert parse_uri("tel:7042;phone-context=a.com") == parse_uri("tel:7042;Phone-Context=A.com")


def test_sip_uri_helpers() -> None:
    uri = parse_uri("sips:alice@Example.COM:5061;transport=TLS;lr")
    assert isinstance(uri, SipUri)
    assert uri.secure
    assert uri.transport == "tls"
    assert uri.loose_route
    assert str(uri.aor()) == "sips:alice@example.com"
    assert str(uri.with_params(transport="tcp")) == "sips:alice@Example.COM:5061;lr;transport=tcp"
    assert str(uri.without_params("lr")) == "sips:alice@Example.COM:5061;transport=TLS"
