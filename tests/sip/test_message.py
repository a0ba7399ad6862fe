"""Messages: raw headers, compact forms, typed accessors, lazy parsing, limits and framing."""

from __future__ import annotations

import pytest

from ringfence.errors import MessageTooLarge, ParseError
from ringfence.sip.headers import Headers, parse_name_addr, parse_via
from ringfence.sip.message import Request, Response, make_response
from ringfence.sip.parser import Frame, KeepAlive, Limits, StreamFramer, parse_message
from ringfence.sip.uri import SipUri

REGISTER = (
    b"REGISTER sip:example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhds;rport\r\n"
    b"Max-Forwards: 70\r\n"
    b"To: <sip:1001@example.com>\r\n"
    b'From: "Desk 1001" <sip:1001@example.com>;tag=a73kszlfl\r\n'
    b"Call-ID: 1j9FpLxk3uxtm8tn@192.0.2.10\r\n"
    b"CSeq: 1 REGISTER\r\n"
    b"Contact: <sip:1001@192.0.2.10:5060;transport=udp>;expires=600\r\n"
    b"Content-Length: 0\r\n\r\n"
)


def test_headers_keep_wire_order_and_casing() -> None:
    msg = parse_message(
        b"OPTIONS sip:a@b SIP/2.0\r\nvIa: SIP/2.0/UDP h;branch=z9hG4bK1\r\n"
        b"X-Custom: one\r\nt: <sip:a@b>\r\nf: <sip:c@d>;tag=1\r\ni: cid\r\n"
        b"CSeq: 1 OPTIONS\r\nl: 0\r\n\r\n"
    )
    assert msg.headers.names() == ("vIa", "X-Custom", "t", "f", "i", "CSeq", "l")
    assert msg.to_bytes().startswith(b"OPTIONS sip:a@b SIP/2.0\r\nvIa: SIP/2.0/UDP h;")


@pytest.mark.parametrize(
    ("compact", "full"),
    [
        ("v", "Via"),
        ("f", "From"),
        ("t", "To"),
        ("i", "Call-ID"),
        ("m", "Contact"),
        ("l", "Content-Length"),
        ("k", "Supported"),
        ("c", "Content-Type"),
        ("s", "Subject"),
        ("e", "Content-Encoding"),
        ("o", "Event"),
        ("r", "Refer-To"),
        ("u", "Allow-Events"),
    ],
)
def test_compact_forms_map_to_the_same_header(compact: str, full: str) -> None:
    headers = Headers(((compact, "value"),))
    assert headers.get(full) == "value"
    assert headers.get(full.upper()) == "value"
    assert full.lower() in headers


def test_headers_editing_returns_new_values() -> None:
    headers = Headers(
        (
            ("Via", "SIP/2.0/UDP a;branch=z9hG4bK1, SIP/2.0/UDP b;branch=z9hG4bK2"),
            ("Route", "<sip:p1;lr>"),
            ("Route", "<sip:p2;lr>"),
        )
    )
    assert headers.elements("Route") == ("<sip:p1;lr>", "<sip:p2;lr>")
    popped = headers.without_first_element("Via")
    assert popped.get("Via") == "SIP/2.0/UDP b;branch=z9hG4bK2"
    assert headers.without_first_element("Route").get_all("Route") == ("<sip:p2;lr>",)
    added = headers.with_added("v", "SIP/2.0/TCP c;branch=z9hG4bK0", first=True)
    assert added.fields[0] == ("v", "SIP/2.0/TCP c;branch=z9hG4bK0")
    assert headers.with_value("Max-Forwards", "69").get("max-forwards") == "69"
    assert "route" not in headers.without("ROUTE")
    assert len(headers) == 3  # the original is unchanged


def test_register_accessors() -> None:
    msg = parse_message(REGISTER)
    assert isinstance(msg, Request)
    assert msg.method == "REGISTER"
    assert msg.uri == SipUri(host="example.com")
    via = msg.top_via
    assert (via.transport, via.host, via.port, via.branch) == (
        "UDP",
        "192.0.2.10",
        5060,
        "z9hG4bK776asdhds",
    )
    assert via.rport_requested
    assert via.rport is None
    assert msg.from_.display_name == "Desk 1001"
    assert msg.from_.tag == "a73kszlfl"
    assert msg.to.tag is None
    assert msg.call_id == "1j9FpLxk3uxtm8tn@192.0.2.10"
    assert (msg.cseq.number, msg.cseq.method) == (1, "REGISTER")
    assert msg.max_forwards == 70
    assert msg.contacts[0].expires == 600
    assert msg.content_length == 0


def test_lazy_parse_defers_header_errors_to_the_accessor() -> None:
    broken = REGISTER.replace(b"To: <sip:1001@example.com>", b'To: "unterminated <sip:x@y>')
    with pytest.raises(ParseError):
        parse_message(broken)
    msg = parse_message(broken, lazy=True)
    assert msg.top_via.branch == "z9hG4bK776asdhds"
    assert msg.call_id == "1j9FpLxk3uxtm8tn@192.0.2.10"
    with pytest.raises(ParseError, match="unterminated") as caught:
        _ = msg.to
    # The error still carries what a 400 needs.
    assert {name for name, _ in caught.value.headers} >= {"Via", "From", "Call-ID", "CSeq"}


def test_accessors_are_cached() -> None:
    msg = parse_message(REGISTER, lazy=True)
    assert msg.top_via is msg.top_via
    assert msg.contacts is msg.contacts


@pytest.mark.parametrize(
    ("text", "transport", "host", "port", "params"),
    [
        (
            "SIP/2.0/UDP [2001:db8::9:1]:6050;branch=z9hG4bKas3-111;received=2001:db8::9:255",
            "UDP",
            "[2001:db8::9:1]",
            6050,
            (("branch", "z9hG4bKas3-111"), ("received", "2001:db8::9:255")),
        ),
        (
            "SIP/2.0/TLS [2001:db8::9:1];branch=z9hG4bKx;received=[2001:db8::9:255]",
            "TLS",
            "[2001:db8::9:1]",
            None,
            (("branch", "z9hG4bKx"), ("received", "[2001:db8::9:255]")),
        ),
        (
            "SIP / 2.0 / tcp host.example.com : 5080 ; branch = z9hG4bKy ; rport = 5999",
            "TCP",
            "host.example.com",
            5080,
            (("branch", "z9hG4bKy"), ("rport", "5999")),
        ),
    ],
)
def test_via_forms(text: str, transport: str, host: str, port: int | None, params: object) -> None:
    via = parse_via(text)
    assert (via.transport, via.host, via.port, via.params) == (transport, host, port, params)


@pytest.mark.parametrize(
    "text",
    [
        "SIP/2.0/UDP",
        "SIP/2.0/UDP host;branch=",
        "SIP/2.0/UDP host;received=not-an-ip",
        "SIP/2.0/UDP host;rport=70000",
        "SIP/2.0/UDP host;ttl=300",
        "SIP/2.0/UDP 2001:db8::1",
    ],
)
def test_bad_via(text: str) -> None:
    with pytest.raises(ParseError):
        parse_via(text)


@pytest.mark.parametrize(
    ("text", "display", "uri", "params"),
    [
        ('"A \\"quoted\\" name" <sip:a@b>;tag=1', 'A "quoted" name', "sip:a@b", (("tag", "1"),)),
        ("Bob Smith <sip:bob@b>", "Bob Smith", "sip:bob@b", ()),
        ("sip:c@d;tag=9", None, "sip:c@d", (("tag", "9"),)),
        ("<sip:c@d;lr>", None, "sip:c@d;lr", ()),
        ('"" <tel:+15551234>', "", "tel:+15551234", ()),
    ],
)
def test_name_addr_forms(text: str, display: str | None, uri: str, params: object) -> None:
    address = parse_name_addr(text)
    assert address.display_name == display
    assert str(address.uri) == uri
    assert address.params == params
    assert parse_name_addr(str(address)) == address


def test_make_response_copies_what_rfc_3261_8_2_6_2_names() -> None:
    request = parse_message(REGISTER)
    assert isinstance(request, Request)
    response = make_response(
        request, 200, to_tag="srv1", extra=[("Contact", "<sip:x@y>;expires=600")]
    )
    assert response.status == 200
    assert response.reason == "OK"
    assert response.headers.get("Via") == request.headers.get("Via")
    assert response.to.tag == "srv1"
    assert response.from_ == request.from_
    assert response.call_id == request.call_id
    assert response.cseq == request.cseq
    assert response.content_length == 0
    parsed = parse_message(response.to_bytes())
    assert isinstance(parsed, Response)
    assert parsed == response


def test_with_body_sets_content_length_and_type() -> None:
    request = parse_message(REGISTER)
    updated = request.with_body(b"v=0\r\n", "application/sdp")
    assert updated.content_length == 5
    assert updated.content_type is not None
    assert updated.content_type.essence == "application/sdp"
    assert parse_message(updated.to_bytes()) == updated


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "no blank line"),
        (b"\r\n\r\n", "no blank line"),
        (b" INVITE sip:a@b SIP/2.0\r\n\r\n", "request line"),
        (b"INVITE sip:a@b SIP/2.0\r\nNo colon here\r\n\r\n", "without a colon"),
        (b"INVITE sip:a@b SIP/2.0\r\n Via: x\r\n\r\n", "continuation line"),
        (b"INVITE sip:a@b SIP/2.0\r\nBad Name: x\r\n\r\n", "bad header name"),
        (b"INVITE sip:a@b SIP/2.0\r\nTo: \xff\xfe\r\n\r\n", "not valid UTF-8"),
        (b"SIP/2.0 099 Low\r\n\r\n", "below 100"),
        (b"SIP/2.0 99 Low\r\n\r\n", "bad status line"),
        (b"SIP/3.0 200 OK\r\n\r\n", "not supported"),
    ],
)
def test_framing_errors(data: bytes, reason: str) -> None:
    with pytest.raises(ParseError, match=reason):
        parse_message(data)


def test_limits_are_enforced_before_parsing() -> None:
    limits = Limits(max_datagram=1000, max_header_lines=10, max_line=200)
    with pytest.raises(MessageTooLarge):
        parse_message(b"x" * 1001, limits=limits)
    many = b"OPTIONS sip:a@b SIP/2.0\r\n" + b"X: y\r\n" * 20 + b"\r\n"
    with pytest.raises(MessageTooLarge, match="header lines"):
        parse_message(many, limits=limits)
    long_line = b"OPTIONS sip:a@b SIP/2.0\r\nX: " + b"y" * 300 + b"\r\n\r\n"
    with pytest.raises(MessageTooLarge, match="over 200"):
        parse_message(long_line, limits=limits)
    folded = (
        b"OPTIONS sip:a@b SIP/2.0\r\nX: y\r\n"
        + b" "
        + b"z" * 150
        + b"\r\n "
        + b"z" * 150
        + b"\r\n\r\n"
    )
    with pytest.raises(MessageTooLarge):
        parse_message(folded, limits=limits)


def test_bare_lf_line_endings_are_tolerated() -> None:
    msg = parse_message(REGISTER.replace(b"\r\n", b"\n"))
    assert isinstance(msg, Request)
    assert msg.call_id == "1j9FpLxk3uxtm8tn@192.0.2.10"


def test_leading_crlf_is_ignored() -> None:
    assert parse_message(b"\r\n\r\n" + REGISTER) == parse_message(REGISTER)


def test_stream_requires_content_length() -> None:
    with pytest.raises(ParseError, match="required on a stream"):
        parse_message(REGISTER.replace(b"Content-Length: 0\r\n", b""), stream=True)
    assert parse_message(REGISTER.replace(b"Content-Length: 0\r\n", b"")).body == b""


# --- stream framing (RFC 3261 §18.3, RFC 5626 §3.5.1) -------------------------------------------


def test_framer_splits_on_content_length_and_handles_keepalives() -> None:
    invite = REGISTER.replace(b"Content-Length: 0", b"Content-Length: 5") + b"v=0\r\n"
    stream = b"\r\n\r\n" + REGISTER + b"\r\n" + invite + REGISTER
    framer = StreamFramer()
    events: list[Frame | KeepAlive] = []
    for i in range(0, len(stream), 7):  # arbitrary chunking
        events.extend(framer.feed(stream[i : i + 7]))
    assert events == [KeepAlive(), Frame(REGISTER), Frame(invite), Frame(REGISTER)]
    assert framer.buffered == 0


def test_framer_errors_that_desynchronise_the_stream() -> None:
    with pytest.raises(ParseError, match="required"):
        StreamFramer().feed(REGISTER.replace(b"Content-Length: 0\r\n", b""))
    with pytest.raises(ParseError, match="conflicting"):
        StreamFramer().feed(
            REGISTER.replace(b"Content-Length: 0\r\n", b"l: 1\r\nContent-Length: 2\r\n")
        )
    with pytest.raises(MessageTooLarge):
        StreamFramer(limits=Limits(max_stream_message=100)).feed(b"x" * 101)
    with pytest.raises(MessageTooLarge):
        StreamFramer().feed(REGISTER.replace(b"Content-Length: 0", b"Content-Length: 999999"))


# --- RFC 5118: IPv6 torture cases --------------------------------------------------------------

V6_BASE = (
    "REGISTER {ruri} SIP/2.0\r\n"
    "To: <sip:user@[2001:db8::10]>\r\n"
    "From: <sip:user@[2001:db8::10]>;tag=81x2\r\n"
    "Via: {via}\r\n"
    "Call-ID: SSG9559905523997077@hlau_4100\r\n"
    "Max-Forwards: 70\r\n"
    'Contact: "Caller" <sip:caller@[2001:db8::1]>\r\n'
    "CSeq: 98176 REGISTER\r\n"
    "Content-Length: 0\r\n\r\n"
)
V6_VIA = "SIP/2.0/UDP [2001:db8::9:1];branch=z9hG4bKas3-111"


@pytest.mark.parametrize(
    ("ruri", "via", "host", "port"),
    [
        ("sip:[2001:db8::10]", V6_VIA, "[2001:db8::10]", None),  # §4.1 basic
        ("sip:[2001:db8::10:5070]", V6_VIA, "[2001:db8::10:5070]", None),  # §4.3 port ambiguous
        ("sip:[2001:db8::10]:5070", V6_VIA, "[2001:db8::10]", 5070),  # §4.4 port unambiguous
        (
            "sip:[2001:db8::10]",
            V6_VIA + ";received=2001:db8::9:255",
            "[2001:db8::10]",
            None,
        ),  # §4.5
        (
            "sip:[2001:db8::10]",
            V6_VIA + ";received=[2001:db8::9:255]",
            "[2001:db8::10]",
            None,
        ),  # §4.5
        (
            "sip:[::ffff:192.0.2.1]",
            "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKx",
            "[::ffff:192.0.2.1]",
            None,
        ),  # §4.6
    ],
)
def test_rfc5118_valid(ruri: str, via: str, host: str, port: int | None) -> None:
    msg = parse_message(V6_BASE.format(ruri=ruri, via=via).encode())
    assert isinstance(msg, Request)
    assert isinstance(msg.uri, SipUri)
    assert (msg.uri.host, msg.uri.port) == (host, port)
    assert msg.contacts[0].uri == SipUri(user="caller", host="[2001:db8:0:0:0:0:0:1]")


def test_rfc5118_4_2_unbracketed_ipv6_is_invalid() -> None:
    with pytest.raises(ParseError):
        parse_message(V6_BASE.format(ruri="sip:2001:db8::10", via=V6_VIA).encode())


@pytest.mark.parametrize("header", ["Supported", "Accept", "Allow", "Require"])
def test_empty_list_headers_hold_no_elements(header: str) -> None:
    """RFC 3261 §25.1 allows ``Supported:`` and friends to be empty; baresip sends one."""
    msg = parse_message(
        REGISTER.replace(b"Content-Length: 0", f"{header}:\r\nContent-Length: 0".encode())
    )
    assert msg.headers.elements(header) == ()
    if header in ("Supported", "Require"):
        assert msg.option_tags(header) == ()
