"""The server INVITE and non-INVITE transactions (RFC 3261 §17.2, RFC 6026), in virtual time."""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum

import pytest

from ringfence.errors import TransactionError
from ringfence.sip.effects import (
    AckTimeout,
    DeliverRequest,
    Effect,
    Peer,
    Side,
    TransactionKey,
    TransactionTerminated,
    Transmit,
)
from ringfence.sip.message import Request, Response, make_response
from ringfence.sip.parser import parse_message
from ringfence.sip.timers import TimerSettings
from ringfence.sip.transaction import TransactionLayer
from ringfence.sip.transaction_server import (
    SERVER_INVITE_TRANSITIONS,
    SERVER_NON_INVITE_TRANSITIONS,
    ServerInviteState,
    ServerNonInviteState,
    TryingMode,
)

UDP = Peer(transport="UDP", host="192.0.2.1", port=5060)
TCP = Peer(transport="TCP", host="192.0.2.1", port=40312)
BRANCH = "z9hG4bKserver1"


def incoming(method: str = "INVITE", *, branch: str = BRANCH, to_tag: str | None = None) -> Request:
    lines = [
        f"{method} sip:bob@biloxi.example.com SIP/2.0",
        f"Via: SIP/2.0/UDP 192.0.2.1:5060;branch={branch}",
        "Max-Forwards: 70",
        "From: Alice <sip:alice@atlanta.example.com>;tag=1928301774",
        "To: Bob <sip:bob@biloxi.example.com>" + (f";tag={to_tag}" if to_tag else ""),
        "Call-ID: a84b4c76e66710@pc33.atlanta.example.com",
        f"CSeq: 314159 {method}",
        "Timestamp: 54",
        "Content-Length: 0",
    ]
    message = parse_message(("\r\n".join(lines) + "\r\n\r\n").encode())
    assert isinstance(message, Request)
    return message


def answer(request: Request, status: int, tag: str = "a6c85cf") -> Response:
    return make_response(request, status, to_tag=None if status == 100 else tag)


def start(
    method: str = "INVITE", peer: Peer = UDP, *, trying: TryingMode = TryingMode.IMMEDIATE
) -> tuple[TransactionLayer, Request, TransactionKey]:
    layer = TransactionLayer(trying=trying)
    request = incoming(method)
    effects = layer.receive_request(request, peer, now=0.0)
    deliver = effects[-1]
    assert isinstance(deliver, DeliverRequest)
    assert deliver.transaction is not None
    return layer, request, deliver.transaction


def run_timers(layer: TransactionLayer) -> list[tuple[float, list[Effect]]]:
    fired: list[tuple[float, list[Effect]]] = []
    while (deadline := layer.next_deadline()) is not None:
        fired.append((deadline, layer.advance(deadline)))
    return fired


# --- 100 (Trying) ----------------------------------------------------------------------------


def test_immediate_trying_goes_out_before_the_tu_sees_the_invite() -> None:
    layer = TransactionLayer(trying=TryingMode.IMMEDIATE)
    invite = incoming()
    effects = layer.receive_request(invite, UDP, now=0.0)
    key = TransactionKey(
        side=Side.SERVER,
        method="INVITE",
        branch=BRANCH.lower(),
        sent_by="192.0.2.1:5060",
    )
    trying = make_response(invite, 100)
    assert effects == [
        Transmit(message=trying, target=UDP, transaction=key),
        DeliverRequest(request=invite, source=UDP, transaction=key),
    ]
    assert trying.headers.get("Timestamp") == "54"  # RFC 3261 §8.2.6.1
    assert trying.to.tag is None
    assert layer.next_deadline() is None
    # A retransmitted INVITE gets the 100 again.
    assert layer.receive_request(invite, UDP, now=0.5) == [
        Transmit(message=trying, target=UDP, transaction=key)
    ]


def test_delayed_trying_is_sent_only_if_the_tu_is_silent_for_200_ms() -> None:
    layer, invite, key = start(trying=TryingMode.DELAYED)
    assert layer.next_deadline() == 0.2
    assert layer.advance(0.2) == [
        Transmit(message=make_response(invite, 100), target=UDP, transaction=key)
    ]
    assert layer.next_deadline() is None


def test_delayed_trying_is_not_sent_when_the_tu_answers_in_time() -> None:
    layer, invite, key = start(trying=TryingMode.DELAYED)
    ringing = answer(invite, 180)
    assert layer.send_response(key, ringing, now=0.05) == [
        Transmit(message=ringing, target=UDP, transaction=key)
    ]
    assert layer.next_deadline() is None
    assert layer.advance(1.0) == []


def test_delayed_trying_is_sent_at_once_on_a_retransmission() -> None:
    settings = TimerSettings(t1=0.05)  # a client retransmitting before our 200 ms are up
    layer = TransactionLayer(settings=settings, trying=TryingMode.DELAYED)
    invite = incoming()
    [deliver] = layer.receive_request(invite, UDP, now=0.0)
    assert isinstance(deliver, DeliverRequest)
    key = deliver.transaction
    assert layer.receive_request(invite, UDP, now=0.05) == [
        Transmit(message=make_response(invite, 100), target=UDP, transaction=key)
    ]
    assert layer.next_deadline() is None


# --- INVITE: provisional and non-2xx final ------------------------------------------------------


def test_request_retransmission_gets_the_latest_provisional() -> None:
    layer, invite, key = start()
    ringing = answer(invite, 180)
    progress = answer(invite, 183)
    layer.send_response(key, ringing, now=0.1)
    layer.send_response(key, progress, now=0.2)
    assert layer.receive_request(invite, UDP, now=0.5) == [
        Transmit(message=progress, target=UDP, transaction=key)
    ]
    assert layer.state(key) is ServerInviteState.PROCEEDING


def test_failure_over_udp_runs_timer_g_capped_at_t2_until_timer_h() -> None:
    layer, invite, key = start()
    busy = answer(invite, 486)
    assert layer.send_response(key, busy, now=0.0) == [
        Transmit(message=busy, target=UDP, transaction=key)
    ]
    assert layer.state(key) is ServerInviteState.COMPLETED
    resend = [Transmit(message=busy, target=UDP, transaction=key)]
    times = [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    assert run_timers(layer) == [
        *((at, resend) for at in times),
        (32.0, [AckTimeout(transaction=key), TransactionTerminated(transaction=key)]),
    ]
    assert len(layer) == 0


def test_failure_is_resent_on_invite_retransmission_and_ack_confirms() -> None:
    layer, invite, key = start()
    busy = answer(invite, 486)
    layer.send_response(key, busy, now=0.0)
    assert layer.receive_request(invite, UDP, now=0.2) == [
        Transmit(message=busy, target=UDP, transaction=key)
    ]
    ack = incoming("ACK", to_tag="a6c85cf")
    # RFC 3261 §17.2.1: the ACK to a non-2xx is absorbed, not passed to the TU.
    assert layer.receive_request(ack, UDP, now=0.3) == []
    assert layer.state(key) is ServerInviteState.CONFIRMED
    assert layer.receive_request(ack, UDP, now=0.4) == []  # "Confirmed" absorbs ACKs
    assert layer.receive_request(invite, UDP, now=0.45) == []  # and INVITEs
    # Timer I: T4 on UDP. G and H no longer run.
    assert run_timers(layer) == [(5.3, [TransactionTerminated(transaction=key)])]


def test_failure_over_tcp_has_no_timer_g_and_timer_i_is_zero() -> None:
    layer, invite, key = start(peer=TCP)
    busy = answer(invite, 486)
    layer.send_response(key, busy, now=0.0)
    assert layer.next_deadline() == 32.0  # Timer H only
    ack = incoming("ACK", to_tag="a6c85cf")
    assert layer.receive_request(ack, TCP, now=0.1) == [TransactionTerminated(transaction=key)]
    assert layer.next_deadline() is None


# --- INVITE: RFC 6026 "Accepted" -----------------------------------------------------------


def test_accepted_absorbs_invite_retransmissions_and_sends_tu_2xx() -> None:
    layer, invite, key = start()
    ok = answer(invite, 200)
    assert layer.send_response(key, ok, now=1.0) == [
        Transmit(message=ok, target=UDP, transaction=key)
    ]
    assert layer.state(key) is ServerInviteState.ACCEPTED
    assert layer.next_deadline() == 33.0  # Timer L; the server does not retransmit the 2xx
    # RFC 6026 §8.7: retransmitted INVITEs are absorbed, not passed up as a new request.
    assert layer.receive_request(invite, UDP, now=1.5) == []
    # 2xx retransmissions are the TU's; the transaction sends them.
    assert layer.send_response(key, ok, now=1.5) == [
        Transmit(message=ok, target=UDP, transaction=key)
    ]
    assert run_timers(layer) == [(33.0, [TransactionTerminated(transaction=key)])]
    with pytest.raises(TransactionError):
        layer.send_response(key, ok, now=34.0)


def test_ack_matching_an_accepted_invite_goes_to_the_tu_without_a_transaction() -> None:
    layer, invite, key = start()
    layer.send_response(key, answer(invite, 200), now=1.0)
    odd_ack = incoming("ACK", to_tag="a6c85cf")  # same branch as the INVITE
    assert layer.receive_request(odd_ack, UDP, now=1.1) == [
        DeliverRequest(request=odd_ack, source=UDP, transaction=None)
    ]
    assert layer.state(key) is ServerInviteState.ACCEPTED


def test_timer_l_runs_over_tcp_too() -> None:
    layer, invite, key = start(peer=TCP)
    layer.send_response(key, answer(invite, 200), now=0.0)
    assert layer.next_deadline() == 32.0


@pytest.mark.parametrize(
    ("first", "then"),
    [
        (200, 180),  # a provisional after the 2xx
        (200, 486),  # a failure after the 2xx
        (486, 486),  # a second final
        (486, 200),
        (404, 180),
    ],
)
def test_tu_misuse_is_refused(first: int, then: int) -> None:
    layer, invite, key = start()
    layer.send_response(key, answer(invite, first), now=0.0)
    state = layer.state(key)
    with pytest.raises(TransactionError):
        layer.send_response(key, answer(invite, then), now=0.1)
    assert layer.state(key) is state


@pytest.mark.parametrize("status", [99, 700])
def test_status_outside_100_699_is_refused(status: int) -> None:
    layer, invite, key = start()
    with pytest.raises(TransactionError):
        layer.send_response(key, answer(invite, status), now=0.0)


def test_a_client_key_cannot_send_a_response() -> None:
    layer = TransactionLayer()
    invite = incoming()
    key = TransactionKey(side=Side.CLIENT, method="INVITE", branch=BRANCH.lower())
    with pytest.raises(TransactionError):
        layer.send_response(key, answer(invite, 200), now=0.0)


# --- non-INVITE ----------------------------------------------------------------------------------


def test_non_invite_trying_discards_retransmissions() -> None:
    layer, options, key = start("OPTIONS")
    assert layer.state(key) is ServerNonInviteState.TRYING
    assert layer.next_deadline() is None  # no 100 (Trying) for a non-INVITE
    assert layer.receive_request(options, UDP, now=0.5) == []


def test_non_invite_proceeding_resends_the_last_provisional() -> None:
    layer, request, key = start("SUBSCRIBE")
    trying = answer(request, 100)
    assert layer.send_response(key, trying, now=0.1) == [
        Transmit(message=trying, target=UDP, transaction=key)
    ]
    assert layer.state(key) is ServerNonInviteState.PROCEEDING
    assert layer.receive_request(request, UDP, now=0.5) == [
        Transmit(message=trying, target=UDP, transaction=key)
    ]


@pytest.mark.parametrize(("peer", "timer_j"), [(UDP, 32.0), (TCP, 0.0)])
def test_non_invite_completed_resends_the_final_until_timer_j(peer: Peer, timer_j: float) -> None:
    layer, options, key = start("OPTIONS", peer)
    ok = answer(options, 200)
    effects = layer.send_response(key, ok, now=1.0)
    assert effects[0] == Transmit(message=ok, target=peer, transaction=key)
    if timer_j == 0.0:
        assert effects[1:] == [TransactionTerminated(transaction=key)]
        return
    assert layer.state(key) is ServerNonInviteState.COMPLETED
    assert layer.receive_request(options, peer, now=1.5) == [
        Transmit(message=ok, target=peer, transaction=key)
    ]
    # RFC 3261 §17.2.2: further finals from the TU are discarded in "Completed".
    assert layer.send_response(key, answer(options, 500), now=2.0) == []
    with pytest.raises(TransactionError):
        layer.send_response(key, answer(options, 180), now=2.0)
    assert run_timers(layer) == [(1.0 + timer_j, [TransactionTerminated(transaction=key)])]


# --- the tables --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "terminated"),
    [
        (SERVER_INVITE_TRANSITIONS, ServerInviteState.TERMINATED),
        (SERVER_NON_INVITE_TRANSITIONS, ServerNonInviteState.TERMINATED),
    ],
)
def test_terminated_has_no_way_out(
    table: Mapping[tuple[Enum, Enum], Enum], terminated: Enum
) -> None:
    assert all(state is not terminated for state, _ in table)


def test_a_response_without_a_readable_to_is_refused() -> None:
    layer, invite, key = start()
    busy = answer(invite, 486)
    broken = busy.with_headers(busy.headers.with_value("To", "<not a uri"))
    with pytest.raises(TransactionError, match="malformed"):
        layer.send_response(key, broken, now=0.0)
    assert layer.state(key) is ServerInviteState.PROCEEDING
