"""Proxy mechanics of RFC 3261 §16: validation, route preprocessing, forwarding, responses."""

from __future__ import annotations

import pytest

from ringfence.sip.headers import parse_via
from ringfence.sip.message import Request, Response, make_response
from ringfence.sip.parser import parse_message
from ringfence.sip.proxy import (
    ProxyIdentity,
    ResponseContext,
    forward_request,
    make_branch,
    preprocess_route,
    response_destination_is_safe,
    strip_top_via,
    validate_request,
)
from ringfence.sip.uri import SipUri, parse_uri

ME = ProxyIdentity(
    addresses=frozenset({("pbx.example.com", 5060), ("192.0.2.1", 5060)}),
    record_route=SipUri(host="192.0.2.1", params=(("lr", None),)),
)
OUR_VIA = parse_via("SIP/2.0/UDP 192.0.2.1:5060")


def invite(
    extra: str = "", ruri: str = "sip:1002@pbx.example.com", max_forwards: str = "70"
) -> Request:
    text = (
        f"INVITE {ruri} SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bKcaller1;rport\r\n"
        f"Max-Forwards: {max_forwards}\r\n"
        'From: "Alice" <sip:1001@pbx.example.com>;tag=a1\r\n'
        "To: <sip:1002@pbx.example.com>\r\n"
        "Call-ID: c1@198.51.100.7\r\n"
        "CSeq: 1 INVITE\r\n"
        "Contact: <sip:1001@198.51.100.7:5060>\r\n"
        f"{extra}"
        "Content-Length: 0\r\n\r\n"
    )
    message = parse_message(text.encode())
    assert isinstance(message, Request)
    return message


# --- §16.3 ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_", "status", "header"),
    [
        (invite(ruri="mailto:bob@example.com"), 416, None),
        (invite(max_forwards="0"), 483, None),
        (invite("Proxy-Require: foo, bar\r\n"), 420, ("Unsupported", "foo, bar")),
    ],
)
def test_validation_refusals(
    request_: Request, status: int, header: tuple[str, str] | None
) -> None:
    refusal = validate_request(request_, ME)
    assert refusal is not None
    assert refusal.status == status
    if header:
        assert dict(refusal.headers)[header[0]] == header[1]


def test_validation_passes_a_good_request_and_an_options_with_zero_max_forwards() -> None:
    assert validate_request(invite(), ME) is None
    options = parse_message(
        b"OPTIONS sip:pbx.example.com SIP/2.0\r\nVia: SIP/2.0/UDP 198.51.100.7;branch=z9hG4bKo\r\n"
        b"Max-Forwards: 0\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:pbx.example.com>\r\nCall-ID: o1\r\n"
        b"CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    )
    assert isinstance(options, Request)
    # RFC 3261 §16.3 step 3: an OPTIONS with Max-Forwards 0 may be answered by the proxy itself.
    assert validate_request(options, ME) is None


def test_loop_is_detected_but_a_spiral_is_not() -> None:
    original = invite()
    forwarded = forward_request(
        original, target=original.uri, via=OUR_VIA, branch=make_branch("x1", original), identity=ME
    ).request
    # Another element routes our copy straight back to us, adding its own Via: a loop.
    back = forwarded.with_headers(
        forwarded.headers.with_added(
            "Via", "SIP/2.0/UDP 203.0.113.9;branch=z9hG4bKother", first=True
        )
    ).with_uri(original.request_uri)
    refusal = validate_request(back, ME)
    assert refusal is not None
    assert refusal.status == 482
    # The same request retargeted to another user by the next element is a spiral, not a loop.
    assert validate_request(back.with_uri("sip:1003@pbx.example.com"), ME) is None


# --- §16.4 --------------------------------------------------------------------------------------


def test_route_preprocessing_removes_our_route() -> None:
    request = invite("Route: <sip:192.0.2.1;lr>, <sip:next.example.com;lr>\r\n")
    out = preprocess_route(request, ME)
    assert [str(r.uri) for r in out.routes] == ["sip:next.example.com;lr"]


def test_route_preprocessing_undoes_a_strict_router() -> None:
    # A strict router put our Record-Route URI in the Request-URI and the target last in Route.
    request = invite("Route: <sip:1002@198.51.100.9>\r\n", ruri="sip:192.0.2.1;lr")
    out = preprocess_route(request, ME)
    assert out.uri == parse_uri("sip:1002@198.51.100.9")
    assert out.routes == ()


# --- §16.6 --------------------------------------------------------------------------------------


def test_forwarding_builds_the_copy_rfc_3261_16_6_describes() -> None:
    request = invite()
    target = parse_uri("sip:1002@203.0.113.5:5062;transport=tcp")
    branch = make_branch("abc", request)
    result = forward_request(
        request,
        target=target,
        via=parse_via("SIP/2.0/TCP 192.0.2.1:5060"),
        branch=branch,
        identity=ME,
    )
    out = result.request
    assert out.uri == target
    assert out.max_forwards == 69
    assert out.top_via.branch == branch
    assert branch.startswith("z9hG4bK")
    assert out.top_via.transport == "TCP"
    assert len(out.via) == 2
    assert str(out.record_routes[0].uri) == "sip:192.0.2.1;lr"
    assert result.next_hop == target
    assert out.body == request.body
    assert request.max_forwards == 70  # the original is untouched


def test_forwarding_adds_max_forwards_and_routes_by_the_first_route() -> None:
    request = invite("Route: <sip:edge.example.net;lr>\r\n").with_headers(
        invite("Route: <sip:edge.example.net;lr>\r\n").headers.without("Max-Forwards")
    )
    result = forward_request(
        request, target=request.uri, via=OUR_VIA, branch="z9hG4bK1", identity=ME
    )
    assert result.request.max_forwards == 70
    assert result.next_hop == parse_uri("sip:edge.example.net;lr")


def test_forwarding_to_a_strict_router() -> None:
    request = invite("Route: <sip:strict.example.net>, <sip:later.example.net;lr>\r\n")
    target = request.uri
    result = forward_request(request, target=target, via=OUR_VIA, branch="z9hG4bK1", identity=ME)
    out = result.request
    assert out.uri == parse_uri("sip:strict.example.net")
    assert [str(r.uri) for r in out.routes] == ["sip:later.example.net;lr", str(target)]
    assert result.next_hop == parse_uri("sip:later.example.net;lr")


def test_record_route_is_sips_for_a_sips_request() -> None:
    request = invite(ruri="sips:1002@pbx.example.com")
    result = forward_request(
        request, target=request.uri, via=OUR_VIA, branch="z9hG4bK1", identity=ME
    )
    rr = result.request.record_routes[0].uri
    assert isinstance(rr, SipUri)
    assert rr.secure


def test_register_is_not_record_routed() -> None:
    register = parse_message(
        b"REGISTER sip:pbx.example.com SIP/2.0\r\nVia: SIP/2.0/UDP 198.51.100.7;branch=z9hG4bKr\r\n"
        b"From: <sip:1001@pbx.example.com>;tag=1\r\nTo: <sip:1001@pbx.example.com>\r\n"
        b"Call-ID: r1\r\nCSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n"
    )
    assert isinstance(register, Request)
    result = forward_request(
        register, target=register.uri, via=OUR_VIA, branch="z9hG4bK1", identity=ME
    )
    assert result.request.record_routes == ()


# --- §16.7 --------------------------------------------------------------------------------------


def downstream(
    request: Request, status: int, *, tag: str = "b1", extra: tuple[tuple[str, str], ...] = ()
) -> Response:
    """A response as a downstream UAS sends it to our forwarded copy (our Via on top)."""
    forwarded = forward_request(
        request, target=request.uri, via=OUR_VIA, branch="z9hG4bKbr", identity=ME
    )
    return make_response(forwarded.request, status, to_tag=tag, extra=extra)


def test_provisional_responses_are_forwarded_except_100() -> None:
    request = invite()
    context = ResponseContext(request=request)
    context.add_branch("a")
    assert context.on_response("a", downstream(request, 100)).forward is None
    ringing = context.on_response("a", downstream(request, 180)).forward
    assert ringing is not None
    assert ringing.status == 180
    assert len(ringing.via) == 1  # our Via is gone


def test_2xx_is_forwarded_at_once_and_other_branches_cancelled() -> None:
    request = invite()
    context = ResponseContext(request=request)
    for key in ("a", "b", "c"):
        context.add_branch(key)
    context.on_response("b", downstream(request, 180))
    decision = context.on_response("a", downstream(request, 200))
    assert decision.forward is not None
    assert decision.forward.status == 200
    assert set(decision.cancel) == {"b", "c"}
    # A 487 from a cancelled branch is absorbed; a second 2xx (forking) is still forwarded.
    assert context.on_response("b", downstream(request, 487)).forward is None
    second = context.on_response("c", downstream(request, 200, tag="b3")).forward
    assert second is not None
    assert second.to.tag == "b3"


@pytest.mark.parametrize(
    ("statuses", "chosen"),
    [
        ((486, 404), 404),  # the same class: prefer the lower code ...
        ((404, 407), 407),  # ... except codes that help the caller resubmit (§16.7 step 6)
        ((500, 486), 486),  # the lowest class
        ((302, 486), 302),
        ((503,), 500),  # a 503 becomes 500
        ((486, 603), 603),  # 6xx wins
    ],
)
def test_best_response_selection(statuses: tuple[int, ...], chosen: int) -> None:
    request = invite()
    context = ResponseContext(request=request)
    for i in range(len(statuses)):
        context.add_branch(i)
    forwarded = None
    for i, status in enumerate(statuses):
        decision = context.on_response(i, downstream(request, status, tag=f"t{i}"))
        forwarded = decision.forward or forwarded
    assert forwarded is not None
    assert forwarded.status == chosen
    assert context.complete


def test_6xx_cancels_pending_branches() -> None:
    request = invite()
    context = ResponseContext(request=request)
    context.add_branch("a")
    context.add_branch("b")
    decision = context.on_response("a", downstream(request, 603))
    assert decision.cancel == ("b",)
    assert decision.forward is None  # waits for the cancelled branch to finish
    final = context.on_response("b", downstream(request, 487)).forward
    assert final is not None
    assert final.status == 603


def test_challenges_are_aggregated() -> None:
    request = invite()
    context = ResponseContext(request=request)
    context.add_branch("a")
    context.add_branch("b")
    context.on_response(
        "a", downstream(request, 401, extra=(("WWW-Authenticate", 'Digest realm="a", nonce="1"'),))
    )
    final = context.on_response(
        "b",
        downstream(request, 407, extra=(("Proxy-Authenticate", 'Digest realm="b", nonce="2"'),)),
    ).forward
    assert final is not None
    assert final.status == 407
    assert final.headers.get_all("WWW-Authenticate") == ('Digest realm="a", nonce="1"',)
    assert final.headers.get_all("Proxy-Authenticate") == ('Digest realm="b", nonce="2"',)


def test_all_branches_timing_out_gives_408() -> None:
    request = invite()
    context = ResponseContext(request=request)
    context.add_branch("a")
    context.add_branch("b")
    assert context.on_timeout("a").forward is None
    final = context.on_timeout("b").forward
    assert final is not None
    assert final.status == 408
    assert final.headers.get("Via") == request.headers.get("Via")


def test_strip_top_via_and_broadcast_check() -> None:
    bcast = parse_message(
        b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 192.0.2.198;branch=z9hG4bK1324923\r\n"
        b"Via: SIP/2.0/UDP 255.255.255.255;branch=z9hG4bK1saber23\r\n"
        b"Call-ID: b\r\nCSeq: 35 INVITE\r\n"
        b"From: sip:user@example.com;tag=11141343\r\nTo: sip:user@example.edu;tag=2229\r\n"
        b"Content-Length: 0\r\n\r\n"
    )
    assert isinstance(bcast, Response)
    upstream = strip_top_via(bcast)
    assert upstream is not None
    # RFC 4475 §3.3.10: the next hop would be a broadcast address, so it is not forwarded.
    assert not response_destination_is_safe(upstream)
    assert response_destination_is_safe(bcast)
    only_ours = strip_top_via(upstream)
    assert only_ours is None
