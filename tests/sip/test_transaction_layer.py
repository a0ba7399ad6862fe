"""The transaction layer: matching (RFC 3261 §17.1.3, §17.2.3, §9.2), strays, transport errors,
the timer heap and forgetting terminated transactions."""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ringfence.errors import ParseError, TransactionError
from ringfence.sip.effects import (
    DeliverRequest,
    DeliverResponse,
    Effect,
    Peer,
    Side,
    TransactionKey,
    TransactionTerminated,
    Transmit,
    TransportFailed,
)
from ringfence.sip.headers import Headers
from ringfence.sip.message import Request, Response, make_response
from ringfence.sip.parser import parse_message
from ringfence.sip.transaction import TransactionLayer, is_rfc3261_branch
from ringfence.sip.transaction_client import ClientInviteState
from ringfence.sip.transaction_server import ServerInviteState, ServerNonInviteState

UDP = Peer(transport="UDP", host="192.0.2.1", port=5060)
TCP = Peer(transport="TCP", host="192.0.2.1", port=40312)
BADBRANCH = Path(__file__).parent / "corpus" / "rfc4475" / "badbranch.dat"


def make_request(
    method: str = "INVITE",
    *,
    branch: str | None = "z9hG4bKbranch1",
    sent_by: str = "192.0.2.1:5060",
    via_params: str = "",
    uri: str = "sip:bob@biloxi.example.com",
    from_tag: str = "1928301774",
    to_tag: str | None = None,
    call_id: str = "a84b4c76e66710@pc33.atlanta.example.com",
    cseq: int = 314159,
    cseq_method: str | None = None,
) -> Request:
    via = f"SIP/2.0/UDP {sent_by}" + (f";branch={branch}" if branch else "") + via_params
    lines = [
        f"{method} {uri} SIP/2.0",
        f"Via: {via}",
        "Max-Forwards: 70",
        f"From: Alice <sip:alice@atlanta.example.com>;tag={from_tag}",
        "To: Bob <sip:bob@biloxi.example.com>" + (f";tag={to_tag}" if to_tag else ""),
        f"Call-ID: {call_id}",
        f"CSeq: {cseq} {cseq_method or method}",
        "Content-Length: 0",
    ]
    message = parse_message(("\r\n".join(lines) + "\r\n\r\n").encode())
    assert isinstance(message, Request)
    return message


def answer(request: Request, status: int, tag: str = "a6c85cf") -> Response:
    return make_response(request, status, to_tag=None if status == 100 else tag)


def server_key(effects: list[Effect]) -> TransactionKey:
    deliver = effects[-1]
    assert isinstance(deliver, DeliverRequest)
    assert deliver.transaction is not None
    return deliver.transaction


# --- responses to client transactions (RFC 3261 §17.1.3) ---------------------------------------


def test_response_matches_by_branch_and_cseq_method() -> None:
    layer = TransactionLayer()
    invite = make_request()
    cancel = make_request("CANCEL")  # RFC 3261 §9.1: the CANCEL shares the INVITE's branch
    invite_key, _ = layer.send_request(invite, UDP, now=0.0)
    cancel_key, _ = layer.send_request(cancel, UDP, now=1.0)
    assert invite_key != cancel_key
    ok = answer(cancel, 200)
    assert layer.receive_response(ok, UDP, now=1.1) == [
        DeliverResponse(response=ok, source=UDP, transaction=cancel_key)
    ]
    terminated = answer(invite, 487)
    effects = layer.receive_response(terminated, UDP, now=1.2)
    assert effects[0] == DeliverResponse(response=terminated, source=UDP, transaction=invite_key)
    assert layer.state(invite_key) is ClientInviteState.COMPLETED


@pytest.mark.parametrize(
    "response_branch",
    [
        "z9hG4bKsomeoneelse",  # a branch we never sent
        None,  # no branch at all
    ],
)
def test_unmatched_response_is_stray(response_branch: str | None) -> None:
    layer = TransactionLayer()
    layer.send_request(make_request(), UDP, now=0.0)
    stray = answer(make_request(branch=response_branch), 200)
    assert layer.receive_response(stray, UDP, now=0.1) == [
        DeliverResponse(response=stray, source=UDP, transaction=None)
    ]


def test_branch_is_matched_without_regard_to_case() -> None:
    layer = TransactionLayer()
    key, _ = layer.send_request(make_request(branch="z9hG4bKAbC"), UDP, now=0.0)
    ringing = answer(make_request(branch="Z9HG4BKabc"), 180)
    assert layer.receive_response(ringing, UDP, now=0.1) == [
        DeliverResponse(response=ringing, source=UDP, transaction=key)
    ]


# --- requests to server transactions (RFC 3261 §17.2.3) ---------------------------------------

_FIRST: dict[str, Any] = {"branch": "z9hG4bKbranch1"}


@pytest.mark.parametrize(
    ("second", "matches"),
    [
        ({}, True),
        ({"branch": "Z9HG4BKBRANCH1"}, True),  # tokens compare without case
        ({"branch": "z9hG4bKbranch2"}, False),
        ({"sent_by": "192.0.2.9:5060"}, False),  # same branch, another sent-by
        ({"sent_by": "192.0.2.1:5070"}, False),
        ({"sent_by": "192.0.2.1"}, False),  # an omitted port is not 5060
        ({"uri": "sip:carol@chicago.example.com"}, True),  # only branch, sent-by and method count
        ({"via_params": ";received=192.0.2.7"}, True),
    ],
)
def test_rfc3261_request_matching(second: dict[str, Any], matches: bool) -> None:
    layer = TransactionLayer()
    first = make_request("OPTIONS", **_FIRST)
    key = server_key(layer.receive_request(first, UDP, now=0.0))
    effects = layer.receive_request(make_request("OPTIONS", **second), UDP, now=0.5)
    if matches:
        assert effects == []  # "Trying" discards retransmissions
        assert len(layer) == 1
    else:
        assert server_key(effects) != key
        assert len(layer) == 2


def test_same_branch_other_method_is_another_transaction() -> None:
    layer = TransactionLayer()
    invite_key = server_key(layer.receive_request(make_request(), UDP, now=0.0))
    cancel_key = server_key(layer.receive_request(make_request("CANCEL"), UDP, now=0.1))
    assert (invite_key.method, cancel_key.method) == ("INVITE", "CANCEL")
    assert invite_key.branch == cancel_key.branch


def test_ack_with_the_invite_branch_matches_the_invite_transaction() -> None:
    layer = TransactionLayer()
    invite = make_request()
    key = server_key(layer.receive_request(invite, UDP, now=0.0))
    layer.send_response(key, answer(invite, 404), now=0.1)
    assert layer.receive_request(make_request("ACK", to_tag="a6c85cf"), UDP, now=0.2) == []
    assert layer.state(key) is ServerInviteState.CONFIRMED


def test_ack_for_2xx_matches_nothing_and_goes_to_the_tu() -> None:
    layer = TransactionLayer()
    invite = make_request()
    key = server_key(layer.receive_request(invite, UDP, now=0.0))
    layer.send_response(key, answer(invite, 200), now=0.1)
    ack = make_request("ACK", branch="z9hG4bKnewack", to_tag="a6c85cf")
    assert layer.receive_request(ack, UDP, now=0.2) == [
        DeliverRequest(request=ack, source=UDP, transaction=None)
    ]
    assert len(layer) == 1  # no transaction for the ACK
    assert layer.state(key) is ServerInviteState.ACCEPTED


# --- the RFC 2543 fallback ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("branch", "rfc3261"),
    [
        (None, False),
        ("", False),
        ("1234", False),
        ("z9hG4bK", False),  # RFC 4475 §3.2 badbranch: the cookie and nothing more
        ("z9hG4bK1", True),
        ("Z9HG4BK1", True),
        ("xz9hG4bK1", False),
    ],
)
def test_is_rfc3261_branch(branch: str | None, rfc3261: bool) -> None:
    assert is_rfc3261_branch(branch) is rfc3261


@pytest.mark.parametrize(
    ("second", "matches"),
    [
        ({}, True),
        ({"uri": "sip:bob@BILOXI.example.com"}, True),  # RFC 3261 §19.1.4: hosts ignore case
        ({"uri": "sip:bob@biloxi.example.com;transport=tcp"}, False),
        ({"uri": "sip:carol@biloxi.example.com"}, False),
        ({"to_tag": "abc"}, False),
        ({"from_tag": "other"}, False),
        ({"call_id": "other@pc33.atlanta.example.com"}, False),
        ({"cseq": 314160}, False),
        ({"sent_by": "192.0.2.9:5060"}, False),
        ({"via_params": ";received=192.0.2.7"}, False),  # the whole top Via must match
        ({"branch": "2543style"}, False),
    ],
)
def test_rfc2543_request_matching(second: dict[str, Any], matches: bool) -> None:
    layer = TransactionLayer()
    first = make_request(branch=None)
    key = server_key(layer.receive_request(first, UDP, now=0.0))
    assert key.branch.startswith("rfc2543-")
    assert key.sent_by == "192.0.2.1:5060"
    kwargs: dict[str, Any] = {"branch": None, **second}
    effects = layer.receive_request(make_request(**kwargs), UDP, now=0.5)
    if matches:
        assert effects == [Transmit(message=answer(first, 100), target=UDP, transaction=key)]
        assert len(layer) == 1
    else:
        assert server_key(effects) != key
        assert len(layer) == 2


def test_rfc2543_ack_matches_by_the_to_tag_of_the_response_sent() -> None:
    layer = TransactionLayer()
    invite = make_request(branch=None)
    key = server_key(layer.receive_request(invite, UDP, now=0.0))
    layer.send_response(key, answer(invite, 486, tag="t-486"), now=0.1)

    wrong = make_request("ACK", branch=None, to_tag="t-other")
    assert layer.receive_request(wrong, UDP, now=0.2) == [
        DeliverRequest(request=wrong, source=UDP, transaction=None)
    ]
    assert layer.state(key) is ServerInviteState.COMPLETED

    right = make_request("ACK", branch=None, to_tag="T-486")  # tags are tokens: no case
    assert layer.receive_request(right, UDP, now=0.3) == []
    assert layer.state(key) is ServerInviteState.CONFIRMED


def test_rfc2543_ack_to_an_accepted_invite_goes_to_the_tu() -> None:
    layer = TransactionLayer()
    invite = make_request(branch=None)
    key = server_key(layer.receive_request(invite, UDP, now=0.0))
    layer.send_response(key, answer(invite, 200, tag="t-200"), now=0.1)
    ack = make_request("ACK", branch=None, to_tag="t-200")
    assert layer.receive_request(ack, UDP, now=0.2) == [
        DeliverRequest(request=ack, source=UDP, transaction=None)
    ]
    assert layer.state(key) is ServerInviteState.ACCEPTED


def test_badbranch_from_rfc4475_is_handled_as_rfc2543() -> None:
    message = parse_message(BADBRANCH.read_bytes())
    assert isinstance(message, Request)
    assert message.top_via.branch == "z9hG4bK"
    source = Peer(transport="UDP", host="192.0.2.1", port=5060)
    layer = TransactionLayer()
    effects = layer.receive_request(message, source, now=0.0)
    key = server_key(effects)
    assert effects == [DeliverRequest(request=message, source=source, transaction=key)]
    assert key.branch.startswith("rfc2543-")
    assert layer.receive_request(message, source, now=0.5) == []  # a retransmission
    ok = answer(message, 200)
    layer.send_response(key, ok, now=0.6)
    assert layer.receive_request(message, source, now=1.0) == [
        Transmit(message=ok, target=source, transaction=key)
    ]
    assert len(layer) == 1


def test_rfc2543_transactions_are_forgotten_with_their_index() -> None:
    layer = TransactionLayer()
    options = make_request("OPTIONS", branch=None)
    key = server_key(layer.receive_request(options, TCP, now=0.0))
    assert layer.send_response(key, answer(options, 200), now=0.1)[-1] == TransactionTerminated(
        transaction=key
    )
    assert len(layer) == 0
    assert layer._legacy == {}  # the RFC 2543 index holds nothing for it
    # A late copy now starts a new transaction.
    assert server_key(layer.receive_request(options, TCP, now=0.2)) != key


# --- CANCEL (RFC 3261 §9.2) ------------------------------------------------------------------


def test_cancel_finds_its_invite_and_has_its_own_transaction() -> None:
    layer = TransactionLayer()
    invite = make_request()
    invite_key = server_key(layer.receive_request(invite, UDP, now=0.0))
    cancel = make_request("CANCEL")
    effects = layer.receive_request(cancel, UDP, now=1.0)
    cancel_key = server_key(effects)
    assert effects == [DeliverRequest(request=cancel, source=UDP, transaction=cancel_key)]
    assert layer.find_cancelled_invite(cancel) == invite_key
    assert layer.request_of(invite_key) == invite

    # The TU answers 200 to the CANCEL and 487 to the INVITE.
    ok = answer(cancel, 200)
    assert layer.send_response(cancel_key, ok, now=1.0) == [
        Transmit(message=ok, target=UDP, transaction=cancel_key)
    ]
    terminated = answer(invite, 487)
    assert layer.send_response(invite_key, terminated, now=1.0) == [
        Transmit(message=terminated, target=UDP, transaction=invite_key)
    ]
    assert layer.state(invite_key) is ServerInviteState.COMPLETED
    assert layer.state(cancel_key) is ServerNonInviteState.COMPLETED


@pytest.mark.parametrize(
    "cancel",
    [
        make_request("CANCEL", branch="z9hG4bKother"),
        make_request("CANCEL", sent_by="192.0.2.9:5060"),
        make_request("CANCEL", branch=None),  # an RFC 2543 CANCEL for an RFC 3261 INVITE
    ],
)
def test_cancel_for_no_live_invite(cancel: Request) -> None:
    layer = TransactionLayer()
    layer.receive_request(make_request(), UDP, now=0.0)
    layer.receive_request(make_request("OPTIONS", branch="z9hG4bKother"), UDP, now=0.0)
    assert layer.find_cancelled_invite(cancel) is None


@pytest.mark.parametrize(
    ("cancel_kwargs", "found"),
    [
        ({}, True),
        ({"call_id": "other@x"}, False),
        ({"uri": "sip:carol@biloxi.example.com"}, False),
        ({"cseq": 1}, False),
        ({"to_tag": "abc"}, False),
    ],
)
def test_rfc2543_cancel_matching(cancel_kwargs: dict[str, Any], found: bool) -> None:
    layer = TransactionLayer()
    invite_key = server_key(layer.receive_request(make_request(branch=None), UDP, now=0.0))
    layer.receive_request(make_request("OPTIONS", branch=None, cseq=314159), UDP, now=0.0)
    cancel = make_request("CANCEL", branch=None, **cancel_kwargs)
    assert layer.find_cancelled_invite(cancel) == (invite_key if found else None)


# --- transport errors (RFC 3261 §17.1.4, §17.2.4) --------------------------------------------


def _client_invite(layer: TransactionLayer) -> TransactionKey:
    return layer.send_request(make_request(), UDP, now=0.0)[0]


def _client_invite_completed(layer: TransactionLayer) -> TransactionKey:
    key, _ = layer.send_request(make_request(), UDP, now=0.0)
    layer.receive_response(answer(make_request(), 503), UDP, now=0.1)
    return key


def _client_non_invite(layer: TransactionLayer) -> TransactionKey:
    return layer.send_request(make_request("OPTIONS"), UDP, now=0.0)[0]


def _server_invite(layer: TransactionLayer) -> TransactionKey:
    return server_key(layer.receive_request(make_request(), UDP, now=0.0))


def _server_invite_accepted(layer: TransactionLayer) -> TransactionKey:
    key = server_key(layer.receive_request(make_request(), UDP, now=0.0))
    layer.send_response(key, answer(make_request(), 200), now=0.1)
    return key


def _server_non_invite(layer: TransactionLayer) -> TransactionKey:
    return server_key(layer.receive_request(make_request("BYE"), UDP, now=0.0))


@pytest.mark.parametrize(
    "setup",
    [
        _client_invite,
        _client_invite_completed,
        _client_non_invite,
        _server_invite,
        _server_invite_accepted,
        _server_non_invite,
    ],
)
def test_transport_error_terminates_and_tells_the_tu(
    setup: Callable[[TransactionLayer], TransactionKey],
) -> None:
    layer = TransactionLayer()
    key = setup(layer)
    assert layer.transport_error(key, now=0.2) == [
        TransportFailed(transaction=key),
        TransactionTerminated(transaction=key),
    ]
    assert len(layer) == 0
    assert layer.next_deadline() is None
    assert layer.transport_error(key, now=0.3) == []  # already gone: nothing to do


# --- misuse and malformed input -------------------------------------------------------------


def test_send_request_refuses_what_it_cannot_match() -> None:
    layer = TransactionLayer()
    with pytest.raises(TransactionError, match="ACK"):
        layer.send_request(make_request("ACK"), UDP, now=0.0)
    with pytest.raises(TransactionError, match="z9hG4bK"):
        layer.send_request(make_request(branch=None), UDP, now=0.0)
    with pytest.raises(TransactionError, match="z9hG4bK"):
        layer.send_request(make_request(branch="z9hG4bK"), UDP, now=0.0)
    layer.send_request(make_request(), UDP, now=0.0)
    with pytest.raises(TransactionError, match="already live"):
        layer.send_request(make_request(), UDP, now=0.0)
    mismatched = Request(
        method="INVITE",
        request_uri="sip:bob@biloxi.example.com",
        headers=make_request().headers.with_value("CSeq", "1 BYE"),
    )
    with pytest.raises(TransactionError, match="CSeq"):
        layer.send_request(mismatched, UDP, now=0.0)
    no_via = Request(
        method="OPTIONS",
        request_uri="sip:bob@biloxi.example.com",
        headers=make_request().headers.without("Via"),
    )
    with pytest.raises(TransactionError, match="malformed"):
        layer.send_request(no_via, UDP, now=0.0)
    assert len(layer) == 1


def test_malformed_input_raises_parse_error_and_changes_nothing() -> None:
    layer = TransactionLayer()
    bad_via = Request(
        method="INVITE",
        request_uri="sip:bob@biloxi.example.com",
        headers=Headers((("Via", "garbage"), ("CSeq", "1 INVITE"))),
    )
    with pytest.raises(ParseError):
        layer.receive_request(bad_via, UDP, now=0.0)
    invite = make_request()
    key, _ = layer.send_request(invite, UDP, now=0.0)
    no_to = answer(invite, 486)
    no_to = no_to.with_headers(no_to.headers.without("To"))
    with pytest.raises(ParseError):
        layer.receive_response(no_to, UDP, now=0.1)
    assert layer.state(key) is ClientInviteState.CALLING
    assert len(layer) == 1


# --- the timer heap and memory ---------------------------------------------------------------


def _earliest(layer: TransactionLayer) -> float | None:
    timers = layer.running_timers()
    return timers[0][0] if timers else None


def test_next_deadline_is_always_the_earliest_running_timer() -> None:
    rng = random.Random(3261)
    layer = TransactionLayer()
    now = 0.0
    clients: list[tuple[TransactionKey, Request]] = []
    servers: list[tuple[TransactionKey, Request]] = []
    for step in range(600):
        now += rng.choice([0.0, 0.05, 0.3, 1.0, 4.0])
        peer = rng.choice([UDP, TCP])
        action = rng.randrange(6)
        if action == 0:
            method = rng.choice(["INVITE", "OPTIONS"])
            request = make_request(method, branch=f"z9hG4bKc{step}")
            key, _ = layer.send_request(request, peer, now=now)
            clients.append((key, request))
        elif action == 1 and clients:
            key, request = rng.choice(clients)
            layer.receive_response(answer(request, rng.choice([100, 180, 200, 486])), peer, now=now)
        elif action == 2:
            method = rng.choice(["INVITE", "REGISTER"])
            request = make_request(method, branch=f"z9hG4bKs{step}")
            servers.append((server_key(layer.receive_request(request, peer, now=now)), request))
        elif action == 3 and servers:
            key, request = rng.choice(servers)
            if key in layer:
                # A second final, say, is refused and changes nothing.
                with contextlib.suppress(TransactionError):
                    layer.send_response(key, answer(request, rng.choice([180, 200, 404])), now)
        elif action == 4 and servers:
            key, request = rng.choice(servers)
            layer.receive_request(request, peer, now=now)
        else:
            layer.advance(now)
        assert layer.next_deadline() == _earliest(layer)
    # Run everything out: every transaction ends and is forgotten, in UDP and TCP alike.
    while (deadline := layer.next_deadline()) is not None:
        layer.advance(deadline)
        assert layer.next_deadline() == _earliest(layer)
    # Only server transactions the TU never answered finally, and client INVITEs that got a
    # provisional (they wait for the TU, RFC 3261 §17.1.1.2), have no timer and are left.
    waiting = {
        ServerInviteState.PROCEEDING,
        ServerNonInviteState.TRYING,
        ServerNonInviteState.PROCEEDING,
        ClientInviteState.PROCEEDING,
    }
    assert {layer.state(key) for key in layer} <= waiting


def test_terminated_transactions_are_forgotten_and_the_heap_stays_small() -> None:
    layer = TransactionLayer()
    for n in range(3000):
        invite = make_request(branch=f"z9hG4bKmany{n}")
        key, _ = layer.send_request(invite, TCP, now=float(n) * 0.001)
        # A 486 over TCP: ACK, Timer D of zero, gone at once. Timer B (32 s) goes stale.
        effects = layer.receive_response(answer(invite, 486), TCP, now=float(n) * 0.001)
        assert effects[-1] == TransactionTerminated(transaction=key)
    assert len(layer) == 0
    assert list(layer) == []
    assert layer.next_deadline() is None
    assert len(layer._heap) <= 512  # stale entries are purged, not kept for 32 s


def test_iteration_and_membership() -> None:
    layer = TransactionLayer()
    client_key, _ = layer.send_request(make_request("OPTIONS"), UDP, now=0.0)
    server = server_key(layer.receive_request(make_request("OPTIONS"), UDP, now=0.0))
    assert set(layer) == {client_key, server}
    assert client_key in layer
    assert client_key.side is Side.CLIENT
    assert server.side is Side.SERVER
    assert layer.state(TransactionKey(side=Side.CLIENT, method="BYE", branch="x")) is None
    assert layer.request_of(TransactionKey(side=Side.CLIENT, method="BYE", branch="x")) is None
