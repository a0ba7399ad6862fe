"""RFC 4475, the SIP torture test messages, against the parser and the UAS checks.

Each message is read byte-exact from the shared corpus. Valid ones must parse with the values
the RFC describes, invalid ones must raise ParseError (with what a 400 needs, where readable), and
the application-layer ones must yield the response the RFC names.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ringfence.errors import ParseError
from ringfence.sip.inspect import Capabilities, inspect_request
from ringfence.sip.message import Request, Response
from ringfence.sip.parser import parse_message, response_for_parse_error
from ringfence.sip.uri import AbsoluteUri, SipUri, TelUri

CORPUS = Path(__file__).parent / "corpus" / "rfc4475"


def load(name: str) -> bytes:
    return (CORPUS / f"{name}.dat").read_bytes()


def parse(name: str) -> Request | Response:
    return parse_message(load(name))


def request(name: str) -> Request:
    message = parse(name)
    assert isinstance(message, Request)
    return message


def test_corpus_is_complete() -> None:
    assert len(list(CORPUS.glob("*.dat"))) == 49


# --- §3.1.1 valid messages -----------------------------------------------------------------


def test_3_1_1_1_short_tortuous_invite() -> None:
    msg = request("wsinv")
    assert msg.method == "INVITE"
    assert msg.uri == SipUri(
        user="vivekg", host="chair-dnrc.example.com", params=(("unknownparam", None),)
    )
    assert msg.to.tag == "1918181833n"
    assert msg.from_.display_name == 'J Rosenberg \\"'
    assert msg.from_.tag == "98asjd8"
    assert msg.max_forwards == 68
    assert msg.cseq.number == 9
    assert msg.cseq.method == "INVITE"
    assert [v.branch for v in msg.via] == ["390skdjuw", "z9hG4bK9ikj8", "z9hG4bK30239"]
    assert [v.transport for v in msg.via] == ["UDP", "TCP", "UDP"]
    assert msg.headers.get("s") == ""  # an empty Subject
    assert msg.headers.get("NewFangledHeader") == "newfangled value continued newfangled value"
    assert msg.headers.get("UnknownHeaderWithUnusualValue") == ";;,,;;,;"
    (route,) = msg.routes
    assert isinstance(route.uri, SipUri)
    assert route.uri.loose_route
    (contact,) = msg.contacts
    assert contact.display_name == 'Quoted string ""'
    assert contact.q == 0.33
    assert contact.param("newparam") == "newvalue"
    assert contact.param("secondparam") == ""
    assert len(msg.body) == msg.content_length == 150


def test_3_1_1_2_wide_range_of_valid_characters() -> None:
    msg = request("intmeth")
    assert msg.method == "!interesting-Method0123456789_*+`.%indeed'~"
    assert msg.cseq.method == msg.method
    assert isinstance(msg.uri, SipUri)
    assert msg.uri.user == "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"
    assert msg.uri.password == "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"
    assert msg.to.display_name == "BEL:\x07 NUL:\x00 DEL:\x7f"
    assert msg.from_.display_name == "token1~` token2'+_ token3*%!.-"
    assert msg.from_.tag == "_token~1'+`*%!-."
    assert (
        msg.from_.param("fromParam''~+*_!.-%")
        == '"\u0440\u0430\u0431\u043e\u0442\u0430\u044e\u0449\u0438\u0439"'
    )
    assert msg.call_id == "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{"
    assert msg.top_via.branch == "z9hG4bK-.!%66*_+`'~"
    assert msg.headers.get("extensionHeader-!.%*+_`'~") == "\ufeff\u5927\u505c\u96fb"


def test_3_1_1_3_valid_use_of_percent_escaping() -> None:
    msg = request("esc01")
    assert isinstance(msg.uri, SipUri)
    assert msg.uri.user_unescaped == "sips:user@example.com"
    assert msg.to.uri == SipUri(user="user", host="example.com")
    assert isinstance(msg.from_.uri, SipUri)
    assert msg.from_.uri.user_unescaped == "I have spaces"
    (contact,) = msg.contacts
    assert contact.uri == SipUri(
        user="caller", host="host5.example.net", params=(("lr", None), ("name", "value%41"))
    )


def test_3_1_1_4_escaped_nulls_in_uris() -> None:
    msg = request("escnull")
    assert isinstance(msg.to.uri, SipUri)
    assert msg.to.uri.user_unescaped == "null-\x00-null"
    users = [c.uri.user_unescaped for c in msg.contacts if isinstance(c.uri, SipUri)]
    assert users == ["\x00", "\x00\x00"]


def test_3_1_1_5_percent_when_it_is_not_an_escape() -> None:
    msg = request("esc02")
    assert msg.method == "RE%47IST%45R"  # a method token, not REGISTER
    assert msg.to.display_name == "%Z%45"
    assert msg.top_via.branch == "z9hG4bK209%fzsnel234"
    assert len(msg.contacts) == 2  # "C%6Fntact" is an unknown header, not Contact
    assert msg.headers.get("C%6Fntact") == "<sip:alias2@host2.example.com>"


def test_3_1_1_6_message_with_no_lws_between_display_name_and_laquot() -> None:
    msg = request("lwsdisp")
    assert msg.from_.display_name == "caller"
    assert msg.from_.tag == "323"


def test_3_1_1_7_long_values_in_header_fields() -> None:
    msg = request("longreq")
    assert len(msg.via) == 34
    assert msg.to.display_name is not None
    assert "extremeextreme" in msg.to.display_name
    assert isinstance(msg.to.uri, SipUri)
    assert msg.to.uri.port == 6000
    assert msg.from_.tag is not None
    assert msg.from_.tag.startswith("12982982982")
    assert len(msg.from_.tag) > 100
    assert msg.call_id.startswith("longreq.onereally")
    assert len(msg.body) == msg.content_length


def test_3_1_1_8_extra_trailing_octets_in_a_udp_datagram() -> None:
    msg = request("dblreq")
    assert msg.method == "REGISTER"
    assert msg.body == b""  # the INVITE after Content-Length is ignored


def test_3_1_1_9_semicolon_separated_parameters_in_uri_user_part() -> None:
    msg = request("semiuri")
    assert isinstance(msg.uri, SipUri)
    assert msg.uri.user == "user;par=u%40example.net"
    assert msg.uri.host == "example.com"
    assert msg.uri.params == ()
    assert [a.essence for a in msg.accept] == [
        "application/sdp",
        "application/pkcs7-mime",
        "multipart/mixed",
        "multipart/signed",
        "message/sip",
        "message/sipfrag",
    ]


def test_3_1_1_10_varied_and_unknown_transport_types() -> None:
    msg = request("transports")
    assert [v.transport for v in msg.via] == ["UDP", "SCTP", "TLS", "UNKNOWN", "TCP"]
    assert msg.call_id == "transports.kijh4akdnaqjkwendsasfdj"


def test_3_1_1_11_multipart_mime_message() -> None:
    msg = request("mpart01")
    assert msg.content_type is not None
    assert msg.content_type.essence == "multipart/mixed"
    assert msg.content_type.params == (("boundary", "7a9cbec02ceef655"),)
    assert len(msg.body) == 553
    assert msg.top_via.rport_requested


def test_3_1_1_12_unusual_reason_phrase() -> None:
    msg = parse("unreason")
    assert isinstance(msg, Response)
    assert msg.status == 200
    assert msg.reason.startswith("= 2**3 * 5**2 \u043d\u043e \u0441\u0442\u043e")


def test_3_1_1_13_empty_reason_phrase() -> None:
    msg = parse("noreason")
    assert isinstance(msg, Response)
    assert msg.status == 100
    assert msg.reason == ""


def test_3_4_1_rfc_2543_syntax() -> None:
    msg = request("inv2543")
    assert msg.top_via.branch is None
    assert msg.max_forwards is None
    assert msg.to.tag is None
    assert msg.record_routes[0].uri == SipUri(
        user="UserB", host="example.com", params=(("maddr", "ss1.example.com"),)
    )
    assert msg.body.startswith(b"v=0")


# --- §3.1.2 invalid messages -----------------------------------------------------------------

INVALID = {
    "badinv01": "empty element",  # 3.1.2.1 extraneous header field separators
    "clerr": "Content-Length says 9999",  # 3.1.2.2
    "ncl": "bad Content-Length",  # 3.1.2.3 negative Content-Length
    "scalar02": "CSeq number is too large",  # 3.1.2.4
    "scalarlg": "CSeq number is too large",  # 3.1.2.5 (a response: dropped)
    "quotbal": "unterminated quoted string",  # 3.1.2.6
    "ltgtruri": "not a URI",  # 3.1.2.7
    "lwsruri": "request line",  # 3.1.2.8
    "lwsstart": "request line",  # 3.1.2.9
    "trws": "request line",  # 3.1.2.10
    "escruri": "Request-URI must not contain headers",  # 3.1.2.11
    "regbadct": "must be enclosed in <>",  # 3.1.2.13
    "badaspec": "whitespace inside <URI>",  # 3.1.2.14
    "badvers": "SIP/7.0 is not supported",  # 3.1.2.16
    "mismatch01": "CSeq method does not match",  # 3.1.2.17
    "mismatch02": "CSeq method does not match",  # 3.1.2.18
    "bigcode": "bad status line",  # 3.1.2.19
}


@pytest.mark.parametrize(("name", "reason"), INVALID.items())
def test_3_1_2_invalid_messages_raise_parse_error(name: str, reason: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse_message(load(name))
    assert reason in caught.value.reason


def test_3_1_2_15_non_token_characters_in_display_name() -> None:
    # The corpus copy of this message lacks its final blank line; both forms must fail.
    with pytest.raises(ParseError, match="no blank line"):
        parse_message(load("baddn"))
    with pytest.raises(ParseError, match="display name must be quoted"):
        parse_message(load("baddn") + b"\r\n")


def test_3_1_2_12_bad_date_is_accepted_as_the_rfc_allows_a_tolerant_element() -> None:
    # RFC 4475 §3.1.2.12: an element that does not use Date may process the request anyway.
    # The core never reads Date, so it does not reject a message for it.
    msg = request("baddate")
    assert msg.headers.get("Date") == "Fri, 01 Jan 2010 16:00:00 EST"


@pytest.mark.parametrize(
    ("name", "status"),
    [
        ("badinv01", 400),
        ("clerr", 400),
        ("ncl", 400),
        ("scalar02", 400),
        ("quotbal", 400),
        ("ltgtruri", 400),
        ("lwsruri", 400),
        ("lwsstart", 400),
        ("trws", 400),
        ("escruri", 400),
        ("regbadct", 400),
        ("badaspec", 400),
        ("badvers", 505),
        ("mismatch01", 400),
        ("mismatch02", 501),
        ("insuf", 400),
        ("multi01", 400),
        ("mcl01", 400),
    ],
)
def test_invalid_requests_can_be_answered(name: str, status: int) -> None:
    with pytest.raises(ParseError) as caught:
        parse_message(load(name))
    response = response_for_parse_error(caught.value, to_tag="t1", warn_agent="ringfence")
    assert response is not None
    assert response.status == status
    # The answer copies Via, Call-ID and CSeq as RFC 3261 §8.2.6.2 asks, and it parses itself.
    reparsed = parse_message(response.to_bytes(), lazy=True)
    assert isinstance(reparsed, Response)
    assert reparsed.headers.get("Via") is not None
    assert (reparsed.headers.get("Warning") or "").startswith("399 ringfence ")


@pytest.mark.parametrize("name", ["scalarlg", "bigcode"])
def test_invalid_responses_are_dropped(name: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse_message(load(name))
    assert response_for_parse_error(caught.value, to_tag="t1") is None


# --- §3.2 transaction layer ---------------------------------------------------------------------


def test_3_2_1_missing_transaction_identifier_parses_for_rfc_2543_matching() -> None:
    msg = request("badbranch")
    assert msg.top_via.branch == "z9hG4bK"  # the magic cookie and nothing else


# --- §3.3 application layer -------------------------------------------------------------------

CAPS = Capabilities()


@pytest.mark.parametrize(
    ("name", "status", "header"),
    [
        ("unkscm", 416, None),  # 3.3.2 Request-URI with unknown scheme
        ("novelsc", 416, None),  # 3.3.3 known but atypical scheme
        ("bext01", 420, ("Unsupported", "nothingSupportsThis, nothingSupportsThisEither")),
        ("invut", 415, ("Accept", None)),  # 3.3.6 unknown Content-Type
        ("sdp01", 406, None),  # 3.3.15 unacceptable Accept offering
    ],
)
def test_3_3_uas_inspection_gives_the_response_the_rfc_names(
    name: str, status: int, header: tuple[str, str | None] | None
) -> None:
    refusal = inspect_request(request(name), CAPS)
    assert refusal is not None
    assert refusal.status == status
    if header is not None:
        headers = dict(refusal.headers)
        assert header[0] in headers
        if header[1] is not None:
            assert headers[header[0]] == header[1]


def test_3_3_2_unknown_scheme_is_kept_opaque() -> None:
    msg = request("unkscm")
    assert msg.uri == AbsoluteUri(scheme="nobodyKnowsThisScheme", opaque="totallyopaquecontent")


def test_3_3_4_unknown_uri_schemes_in_header_fields_parse() -> None:
    msg = request("unksm2")
    assert isinstance(msg.to.uri, AbsoluteUri)
    assert msg.to.uri.scheme == "isbn"
    assert isinstance(msg.from_.uri, AbsoluteUri)
    assert msg.from_.uri.scheme == "http"
    assert isinstance(msg.contacts[0].uri, AbsoluteUri)
    assert msg.contacts[0].uri.scheme == "name"


def test_3_3_5_proxy_require_is_readable_for_a_proxy() -> None:
    msg = request("bext01")
    assert msg.option_tags("Proxy-Require") == (
        "noProxiesSupportThis",
        "norDoAnyProxiesSupportThis",
    )


def test_3_3_7_unknown_authorization_scheme_parses() -> None:
    msg = request("regaut01")
    (credentials,) = msg.authorization
    assert credentials.scheme == "NoOneKnowsThisScheme"
    assert not credentials.is_digest


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("insuf", "missing From header"),  # 3.3.1 missing Call-ID, From, To
        ("multi01", "more than one"),  # 3.3.8 multiple single-value fields
        ("mcl01", "more than one Content-Length"),  # 3.3.9
    ],
)
def test_3_3_messages_answered_400(name: str, reason: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse_message(load(name))
    assert caught.value.status == 400
    assert reason in caught.value.reason


def test_3_3_10_broadcast_via_is_visible() -> None:
    msg = parse("bcast")
    assert isinstance(msg, Response)
    assert msg.via[1].host == "255.255.255.255"


def test_3_3_11_zero_max_forwards() -> None:
    assert request("zeromf").max_forwards == 0


def test_3_3_12_contact_parameter_outside_brackets() -> None:
    (contact,) = request("cparam01").contacts
    assert contact.uri == SipUri(user="+19725552222", host="gw1.example.net")
    assert contact.params == (("unknownparam", None),)


def test_3_3_13_contact_uri_parameter_inside_brackets() -> None:
    (contact,) = request("cparam02").contacts
    assert isinstance(contact.uri, SipUri)
    assert contact.uri.params == (("unknownparam", None),)
    assert contact.params == ()


def test_3_3_14_register_with_url_escaped_header() -> None:
    (contact,) = request("regescrt").contacts
    assert isinstance(contact.uri, SipUri)
    assert contact.uri.headers == (("Route", "%3Csip:sip.example.com%3E"),)


@pytest.mark.parametrize("name", ["wsinv", "esc01", "lwsdisp", "semiuri", "inv2543", "cparam01"])
def test_valid_requests_pass_inspection(name: str) -> None:
    assert inspect_request(request(name), CAPS) is None


def test_tel_uri_in_request() -> None:
    msg = parse_message(
        b"INVITE tel:+1-201-555-0123;phone-context=example.com SIP/2.0\r\n"
        b"Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\nTo: <tel:+12015550123>\r\n"
        b"From: <sip:a@example.com>;tag=1\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\n"
        b"Content-Length: 0\r\n\r\n"
    )
    assert isinstance(msg, Request)
    assert isinstance(msg.uri, TelUri)
    assert msg.uri == TelUri(number="+12015550123", params=(("phone-context", "example.com"),))
