"""The client INVITE and non-INVITE transactions (RFC 3261 §17.1, RFC 6026), in virtual time."""

from __future__ import annotations

import pytest

from ringfence.sip.effects import (
    DeliverResponse,
    Effect,
    Peer,
    TransactionKey,
    TransactionTerminated,
    TransactionTimeout,
    Transmit,
)
from ringfence.sip.message import Request, Response, make_response
from ringfence.sip.parser import parse_message
from ringfence.sip.timers import TimerName
from ringfence.sip.transaction import TransactionLayer
from ringfence.sip.transaction_client import (
    CLIENT_INVITE_TRANSITIONS,
    CLIENT_NON_INVITE_TRANSITIONS,
    ClientInviteState,
    ClientNonInviteState,
    ack_for_non_2xx,
)

UDP = Peer(transport="UDP", host="192.0.2.20", port=5060)
TCP = Peer(transport="TCP", host="192.0.2.20", port=5060)
BRANCH = "z9hG4bKclient1"


def outgoing(method: str = "INVITE", *, routes: tuple[str, ...] = ()) -> Request:
    lines = [
        f"{method} sip:bob@biloxi.example.com SIP/2.0",
        f"Via: SIP/2.0/UDP pc33.atlanta.example.com;branch={BRANCH}",
        *(f"Route: {route}" for route in routes),
        "Max-Forwards: 70",
        "From: Alice <sip:alice@atlanta.example.com>;tag=1928301774",
        "To: Bob <sip:bob@biloxi.example.com>",
        "Call-ID: a84b4c76e66710@pc33.atlanta.example.com",
        f"CSeq: 314159 {method}",
        "Contact: <sip:alice@pc33.atlanta.example.com>",
        "Content-Length: 0",
    ]
    message = parse_message(("\r\n".join(lines) + "\r\n\r\n").encode())
    assert isinstance(message, Request)
    return message


def answer(request: Request, status: int, tag: str = "a6c85cf") -> Response:
    return make_response(request, status, to_tag=None if status == 100 else tag)


def run_timers(layer: TransactionLayer) -> list[tuple[float, list[Effect]]]:
    """Fire every timer in turn until none runs; return what each wake-up produced."""
    fired: list[tuple[float, list[Effect]]] = []
    while (deadline := layer.next_deadline()) is not None:
        fired.append((deadline, layer.advance(deadline)))
    return fired


# --- client INVITE -------------------------------------------------------------------------


def test_timer_a_doubles_over_udp_until_timer_b() -> None:
    layer = TransactionLayer()
    invite = outgoing()
    key, effects = layer.send_request(invite, UDP, now=0.0)
    assert effects == [Transmit(message=invite, target=UDP, transaction=key)]
    assert layer.state(key) is ClientInviteState.CALLING

    fired = run_timers(layer)
    retransmit = [Transmit(message=invite, target=UDP, transaction=key)]
    assert fired == [
        (0.5, retransmit),
        (1.5, retransmit),
        (3.5, retransmit),
        (7.5, retransmit),
        (15.5, retransmit),
        (31.5, retransmit),
        (32.0, [TransactionTimeout(transaction=key), TransactionTerminated(transaction=key)]),
    ]
    assert len(layer) == 0


def test_no_retransmission_over_tcp_only_timer_b() -> None:
    layer = TransactionLayer()
    key, _ = layer.send_request(outgoing(), TCP, now=10.0)
    assert layer.next_deadline() == 42.0
    assert run_timers(layer) == [
        (42.0, [TransactionTimeout(transaction=key), TransactionTerminated(transaction=key)])
    ]


def test_provisional_stops_retransmission_and_timer_b() -> None:
    layer = TransactionLayer()
    invite = outgoing()
    key, _ = layer.send_request(invite, UDP, now=0.0)
    layer.advance(0.5)
    trying = answer(invite, 100)
    assert layer.receive_response(trying, UDP, now=0.6) == [
        DeliverResponse(response=trying, source=UDP, transaction=key)
    ]
    assert layer.state(key) is ClientInviteState.PROCEEDING
    ringing = answer(invite, 180)
    assert layer.receive_response(ringing, UDP, now=0.9) == [
        DeliverResponse(response=ringing, source=UDP, transaction=key)
    ]
    # RFC 3261 §17.1.1.2: no retransmission in "Proceeding", and Timer B guards "Calling" only.
    assert layer.next_deadline() is None
    assert layer.advance(1000.0) == []
    assert layer.state(key) is ClientInviteState.PROCEEDING


def test_ack_for_486_is_built_and_resent_on_each_retransmission() -> None:
    layer = TransactionLayer()
    invite = outgoing(routes=("<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"))
    key, _ = layer.send_request(invite, UDP, now=0.0)
    busy = answer(invite, 486)
    effects = layer.receive_response(busy, UDP, now=0.2)
    ack = ack_for_non_2xx(invite, busy)
    assert effects == [
        DeliverResponse(response=busy, source=UDP, transaction=key),
        Transmit(message=ack, target=UDP, transaction=key),
    ]
    assert ack.method == "ACK"
    assert ack.request_uri == invite.request_uri
    assert ack.headers.fields == (
        ("Via", f"SIP/2.0/UDP pc33.atlanta.example.com;branch={BRANCH}"),
        ("Route", "<sip:p1.example.com;lr>"),
        ("Route", "<sip:p2.example.com;lr>"),
        ("Max-Forwards", "70"),
        ("From", "Alice <sip:alice@atlanta.example.com>;tag=1928301774"),
        ("To", "Bob <sip:bob@biloxi.example.com>;tag=a6c85cf"),
        ("Call-ID", "a84b4c76e66710@pc33.atlanta.example.com"),
        ("CSeq", "314159 ACK"),
        ("Content-Length", "0"),
    )
    assert ack.top_via.branch == BRANCH
    assert layer.state(key) is ClientInviteState.COMPLETED

    # RFC 3261 §17.1.1.2: the retransmitted 486 is not passed up; the ACK goes out again.
    assert layer.receive_response(busy, UDP, now=0.7) == [
        Transmit(message=ack, target=UDP, transaction=key)
    ]
    # Timer D: 32 s on UDP, after which the transaction is gone.
    assert run_timers(layer) == [(32.2, [TransactionTerminated(transaction=key)])]
    assert layer.receive_response(busy, UDP, now=40.0) == [
        DeliverResponse(response=busy, source=UDP, transaction=None)
    ]


def test_ack_without_routes_has_none_and_defaults_max_forwards() -> None:
    invite = outgoing()
    invite = invite.with_headers(invite.headers.without("Max-Forwards"))
    ack = ack_for_non_2xx(invite, answer(invite, 404))
    assert "Route" not in ack.headers
    assert ack.headers.get("Max-Forwards") == "70"


def test_timer_d_is_zero_over_tcp() -> None:
    layer = TransactionLayer()
    invite = outgoing()
    key, _ = layer.send_request(invite, TCP, now=0.0)
    busy = answer(invite, 486)
    # RFC 3261 §17.1.1.2: the ACK is sent "even if the transport is reliable".
    assert layer.receive_response(busy, TCP, now=0.2) == [
        DeliverResponse(response=busy, source=TCP, transaction=key),
        Transmit(message=ack_for_non_2xx(invite, busy), target=TCP, transaction=key),
        TransactionTerminated(transaction=key),
    ]
    assert key not in layer
    assert layer.next_deadline() is None


def test_accepted_state_passes_every_2xx_and_ends_with_timer_m() -> None:
    layer = TransactionLayer()
    invite = outgoing()
    key, _ = layer.send_request(invite, UDP, now=0.0)
    ok = answer(invite, 200)
    forked_ok = answer(invite, 200, tag="other-branch")
    deliver = DeliverResponse(response=ok, source=UDP, transaction=key)
    # RFC 6026 §8.4: 2xx to the TU, no ACK from the transaction.
    assert layer.receive_response(ok, UDP, now=1.0) == [deliver]
    assert layer.state(key) is ClientInviteState.ACCEPTED
    assert layer.next_deadline() == 33.0  # Timer M; A and B no longer run
    assert layer.receive_response(ok, UDP, now=1.5) == [deliver]
    assert layer.receive_response(forked_ok, UDP, now=2.0) == [
        DeliverResponse(response=forked_ok, source=UDP, transaction=key)
    ]
    # A late provisional or failure is absorbed.
    assert layer.receive_response(answer(invite, 180), UDP, now=2.5) == []
    assert layer.receive_response(answer(invite, 486), UDP, now=2.6) == []
    assert run_timers(layer) == [(33.0, [TransactionTerminated(transaction=key)])]
    # After Timer M a 2xx is stray: the TU (a proxy) forwards it statelessly.
    assert layer.receive_response(ok, UDP, now=34.0) == [
        DeliverResponse(response=ok, source=UDP, transaction=None)
    ]


def test_timer_m_runs_over_tcp_too() -> None:
    layer = TransactionLayer()
    invite = outgoing()
    key, _ = layer.send_request(invite, TCP, now=0.0)
    layer.receive_response(answer(invite, 200), TCP, now=1.0)
    assert layer.running_timers() == [(33.0, key, TimerName.M)]
    assert layer.next_deadline() == 33.0


def test_2xx_in_completed_is_absorbed() -> None:
    layer = TransactionLayer()
    invite = outgoing()
    key, _ = layer.send_request(invite, UDP, now=0.0)
    layer.receive_response(answer(invite, 603), UDP, now=0.1)
    assert layer.receive_response(answer(invite, 200), UDP, now=0.2) == []
    assert layer.state(key) is ClientInviteState.COMPLETED


# --- client non-INVITE -----------------------------------------------------------------------


def test_timer_e_doubles_up_to_t2_until_timer_f() -> None:
    layer = TransactionLayer()
    options = outgoing("OPTIONS")
    key, effects = layer.send_request(options, UDP, now=0.0)
    assert effects == [Transmit(message=options, target=UDP, transaction=key)]
    fired = run_timers(layer)
    retransmit = [Transmit(message=options, target=UDP, transaction=key)]
    times = [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    assert fired == [
        *((at, retransmit) for at in times),
        (32.0, [TransactionTimeout(transaction=key), TransactionTerminated(transaction=key)]),
    ]


def test_timer_e_is_t2_in_proceeding() -> None:
    layer = TransactionLayer()
    register = outgoing("REGISTER")
    key, _ = layer.send_request(register, UDP, now=0.0)
    assert layer.advance(0.5) != []  # E: next in 1.0
    trying = answer(register, 100)
    assert layer.receive_response(trying, UDP, now=0.7) == [
        DeliverResponse(response=trying, source=UDP, transaction=key)
    ]
    assert layer.state(key) is ClientNonInviteState.PROCEEDING
    assert layer.next_deadline() == 1.5
    layer.advance(1.5)
    # RFC 3261 §17.1.2.2: in "Proceeding" Timer E is reset with T2.
    assert layer.next_deadline() == 5.5
    layer.advance(5.5)
    assert layer.next_deadline() == 9.5


@pytest.mark.parametrize(("peer", "timer_k"), [(UDP, 5.0), (TCP, 0.0)])
def test_final_response_moves_to_completed_for_timer_k(peer: Peer, timer_k: float) -> None:
    layer = TransactionLayer()
    bye = outgoing("BYE")
    key, _ = layer.send_request(bye, peer, now=0.0)
    ok = answer(bye, 200)
    effects = layer.receive_response(ok, peer, now=0.3)
    assert effects[0] == DeliverResponse(response=ok, source=peer, transaction=key)
    if timer_k == 0.0:
        assert effects[1:] == [TransactionTerminated(transaction=key)]
        return
    assert effects[1:] == []
    assert layer.state(key) is ClientNonInviteState.COMPLETED
    assert layer.next_deadline() == 0.3 + timer_k  # E and F stopped
    # Retransmissions of the final response are absorbed in "Completed".
    assert layer.receive_response(ok, peer, now=1.0) == []
    assert run_timers(layer) == [(0.3 + timer_k, [TransactionTerminated(transaction=key)])]


def test_no_timer_e_over_tcp() -> None:
    layer = TransactionLayer()
    key, _ = layer.send_request(outgoing("MESSAGE"), TCP, now=0.0)
    assert [timer.value for _, _, timer in layer.running_timers()] == ["F"]
    assert run_timers(layer) == [
        (32.0, [TransactionTimeout(transaction=key), TransactionTerminated(transaction=key)])
    ]


# --- the tables --------------------------------------------------------------------------------


def test_every_live_client_state_ends_on_a_transport_error() -> None:
    for state in ClientInviteState:
        if state is not ClientInviteState.TERMINATED:
            assert any(
                s is state and after is ClientInviteState.TERMINATED
                for (s, _), after in CLIENT_INVITE_TRANSITIONS.items()
            )
    terminal_nict = {
        s
        for (s, _), after in CLIENT_NON_INVITE_TRANSITIONS.items()
        if after is ClientNonInviteState.TERMINATED
    }
    assert terminal_nict == set(ClientNonInviteState) - {ClientNonInviteState.TERMINATED}


def test_key_names_branch_and_method() -> None:
    layer = TransactionLayer()
    key, _ = layer.send_request(outgoing(), UDP, now=0.0)
    assert key == TransactionKey(side=key.side, method="INVITE", branch=BRANCH.lower())
    assert layer.request_of(key) == outgoing()
