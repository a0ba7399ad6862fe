"""The two client transaction machines of RFC 3261 §17.1, with the RFC 6026 "Accepted" state.

Each machine has its own state enum, its own event enum and an explicit transition table. An
event that has no entry for the current state is absorbed: it changes nothing and yields no
effect. The machines are driven by :class:`ringfence.sip.transaction.TransactionLayer`, which
owns the timer heap; a machine only starts and stops timers in its :class:`Deadlines`.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum

from ringfence.errors import ParseError
from ringfence.sip.effects import (
    DeliverResponse,
    Effect,
    Peer,
    TransactionKey,
    TransactionTimeout,
    Transmit,
    TransportFailed,
)
from ringfence.sip.headers import Headers
from ringfence.sip.machine import start_or_fire, transition
from ringfence.sip.message import Request, Response
from ringfence.sip.timers import Deadlines, TimerName, TimerSettings

__all__ = [
    "CLIENT_INVITE_TRANSITIONS",
    "CLIENT_NON_INVITE_TRANSITIONS",
    "ClientInviteEvent",
    "ClientInviteState",
    "ClientInviteTransaction",
    "ClientNonInviteEvent",
    "ClientNonInviteState",
    "ClientNonInviteTransaction",
    "ack_for_non_2xx",
]


# --- the ACK for a non-2xx final response ----------------------------------------------------


def ack_for_non_2xx(invite: Request, response: Response) -> Request:
    """Build the ACK a client INVITE transaction sends for a 300-699 response (§17.1.1.3).

    RFC 3261 §17.1.1.3: "The ACK request constructed by the client transaction MUST contain
    values for the Call-ID, From, and Request-URI that are equal to the values of those header
    fields in the request passed to the transport by the client transaction (call this the
    "original request"). The To header field in the ACK MUST equal the To header field in the
    response being acknowledged [...]. The ACK MUST contain a single Via header field, and this
    MUST be equal to the top Via header field of the original request. The CSeq header field in
    the ACK MUST contain the same value for the sequence number as was present in the original
    request, but the method parameter MUST be equal to "ACK"." And: "If the INVITE request whose
    response is being acknowledged had Route header fields, those header fields MUST appear in
    the ACK."

    Max-Forwards is copied from the INVITE (70 when it had none; RFC 3261 §8.1.1.6). Raise
    :class:`ParseError` when the response has no readable To header.
    """
    _ = response.to  # a malformed To raises ParseError here, before anything changes
    invite_headers = invite.headers
    fields: list[tuple[str, str]] = [("Via", invite_headers.elements("Via")[0])]
    fields.extend(("Route", value) for value in invite_headers.get_all("Route"))
    fields.append(("Max-Forwards", invite_headers.get("Max-Forwards") or "70"))
    fields.append(("From", _required(invite_headers, "From")))
    fields.append(("To", _required(response.headers, "To")))
    fields.append(("Call-ID", _required(invite_headers, "Call-ID")))
    fields.append(("CSeq", f"{invite.cseq.number} ACK"))
    fields.append(("Content-Length", "0"))
    return Request(
        method="ACK",
        request_uri=invite.request_uri,
        headers=Headers(tuple(fields)),
        version=invite.version,
    )


def _required(headers: Headers, name: str) -> str:
    value = headers.get(name)
    if value is None:
        raise ParseError(f"cannot build an ACK without a {name} header")
    return value


# --- the client INVITE transaction (RFC 3261 §17.1.1, RFC 6026 §8.4) -------------------------


class ClientInviteState(Enum):
    """RFC 3261 Figure 5 as corrected by RFC 6026 Figure 5."""

    CALLING = "Calling"
    PROCEEDING = "Proceeding"
    ACCEPTED = "Accepted"
    COMPLETED = "Completed"
    TERMINATED = "Terminated"


class ClientInviteEvent(Enum):
    PROVISIONAL = "1xx received"
    SUCCESS = "2xx received"
    FAILURE = "300-699 received"
    TIMER_A = "Timer A fired"
    TIMER_B = "Timer B fired"
    TIMER_D = "Timer D fired"
    TIMER_M = "Timer M fired"
    TRANSPORT_ERROR = "transport error"


_CI = ClientInviteState
_CIE = ClientInviteEvent

CLIENT_INVITE_TRANSITIONS: Mapping[
    tuple[ClientInviteState, ClientInviteEvent], ClientInviteState
] = {
    (_CI.CALLING, _CIE.TIMER_A): _CI.CALLING,  # retransmit, double A
    (_CI.CALLING, _CIE.TIMER_B): _CI.TERMINATED,  # timeout to the TU
    (_CI.CALLING, _CIE.PROVISIONAL): _CI.PROCEEDING,  # 1xx to the TU, stop retransmitting
    (_CI.CALLING, _CIE.SUCCESS): _CI.ACCEPTED,  # 2xx to the TU, start M
    (_CI.CALLING, _CIE.FAILURE): _CI.COMPLETED,  # response to the TU, send ACK, start D
    (_CI.PROCEEDING, _CIE.PROVISIONAL): _CI.PROCEEDING,  # 1xx to the TU
    (_CI.PROCEEDING, _CIE.SUCCESS): _CI.ACCEPTED,  # 2xx to the TU, start M
    (_CI.PROCEEDING, _CIE.FAILURE): _CI.COMPLETED,  # response to the TU, send ACK, start D
    (_CI.ACCEPTED, _CIE.SUCCESS): _CI.ACCEPTED,  # every further 2xx to the TU
    (_CI.ACCEPTED, _CIE.TIMER_M): _CI.TERMINATED,
    (_CI.COMPLETED, _CIE.FAILURE): _CI.COMPLETED,  # retransmitted final: send the ACK again
    (_CI.COMPLETED, _CIE.TIMER_D): _CI.TERMINATED,
    (_CI.CALLING, _CIE.TRANSPORT_ERROR): _CI.TERMINATED,
    (_CI.PROCEEDING, _CIE.TRANSPORT_ERROR): _CI.TERMINATED,
    (_CI.ACCEPTED, _CIE.TRANSPORT_ERROR): _CI.TERMINATED,
    (_CI.COMPLETED, _CIE.TRANSPORT_ERROR): _CI.TERMINATED,
}

_AWAITING_FINAL = (_CI.CALLING, _CI.PROCEEDING)

_CLIENT_INVITE_TIMERS = {
    TimerName.A: _CIE.TIMER_A,
    TimerName.B: _CIE.TIMER_B,
    TimerName.D: _CIE.TIMER_D,
    TimerName.M: _CIE.TIMER_M,
}


class ClientInviteTransaction:
    """Sends one INVITE and follows it to a final answer (RFC 3261 §17.1.1.2)."""

    __slots__ = (
        "_ack",
        "_settings",
        "_timer_a",
        "deadlines",
        "key",
        "request",
        "state",
        "target",
    )

    def __init__(
        self, *, key: TransactionKey, request: Request, target: Peer, settings: TimerSettings
    ) -> None:
        self.key = key
        self.request = request
        self.target = target
        self.state = ClientInviteState.CALLING
        self.deadlines = Deadlines()
        self._settings = settings
        self._timer_a: float | None = settings.timer_a(reliable=target.reliable)
        self._ack: Request | None = None

    @property
    def terminated(self) -> bool:
        return self.state is ClientInviteState.TERMINATED

    def start(self, now: float) -> list[Effect]:
        """Send the INVITE. The machine starts in "Calling"."""
        # RFC 3261 §17.1.1.2: "If an unreliable transport is being used, the client transaction
        # MUST start timer A with a value of T1. [...] For any transport, the client transaction
        # MUST start timer B with a value of 64*T1 seconds".
        if self._timer_a is not None:
            self.deadlines.start(TimerName.A, now + self._timer_a)
        self.deadlines.start(TimerName.B, now + self._settings.timer_b)
        return [self._transmit(self.request)]

    def receive_response(self, response: Response, source: Peer, now: float) -> list[Effect]:
        if response.status < 200:
            event = ClientInviteEvent.PROVISIONAL
        elif response.status < 300:
            event = ClientInviteEvent.SUCCESS
        else:
            event = ClientInviteEvent.FAILURE
        ack: Request | None = None
        if event is ClientInviteEvent.FAILURE and self.state in _AWAITING_FINAL:
            ack = ack_for_non_2xx(self.request, response)  # may raise ParseError: nothing moved
        before = self._move(event)
        if before is None:
            return []
        to_tu = DeliverResponse(response=response, source=source, transaction=self.key)
        if event is ClientInviteEvent.PROVISIONAL:
            # RFC 3261 §17.1.1.2: "In the "Proceeding" state, the client transaction SHOULD NOT
            # retransmit the request any longer. Furthermore, the provisional response MUST be
            # passed to the TU." Timer B guards "Calling" only.
            self.deadlines.stop(TimerName.A, TimerName.B)
            return [to_tu]
        if event is ClientInviteEvent.SUCCESS:
            if before is not ClientInviteState.ACCEPTED:
                # RFC 6026 §8.4: "reception of a 2xx response MUST cause the client transaction
                # to enter the "Accepted" state, and the response MUST be passed up to the TU.
                # The client transaction MUST NOT generate an ACK to the 2xx response".
                self.deadlines.stop(TimerName.A, TimerName.B)
                self.deadlines.start(TimerName.M, now + self._settings.timer_m)
            # RFC 6026 §8.4: "Any 2xx responses that match this client transaction and that are
            # received while in the "Accepted" state MUST be passed up to the TU."
            return [to_tu]
        if ack is None:
            # RFC 3261 §17.1.1.2: "Any retransmissions of the final response that are received
            # while in the "Completed" state MUST cause the ACK to be re-passed to the transport
            # layer for retransmission, but the newly received response MUST NOT be passed up to
            # the TU."
            return [] if self._ack is None else [self._transmit(self._ack)]
        # RFC 3261 §17.1.1.2: "The client transaction MUST pass the received response up to the
        # TU, and the client transaction MUST generate an ACK request, even if the transport is
        # reliable".
        self.deadlines.stop(TimerName.A, TimerName.B)
        self._ack = ack
        effects: list[Effect] = [to_tu, self._transmit(ack)]
        # RFC 3261 §17.1.1.2: "The client transaction SHOULD start timer D when it enters the
        # "Completed" state, with a value of at least 32 seconds for unreliable transports, and
        # a value of zero seconds for reliable transports."
        effects += self._wait(
            TimerName.D, self._settings.timer_d(reliable=self.target.reliable), now
        )
        return effects

    def fire(self, timer: TimerName, now: float) -> list[Effect]:
        """Timer ``timer`` came due at ``now``."""
        self.deadlines.fire(timer)
        event = _CLIENT_INVITE_TIMERS[timer]
        if self._move(event) is None:
            return []
        if event is ClientInviteEvent.TIMER_A and self._timer_a is not None:
            # RFC 3261 §17.1.1.2: "When timer A fires, the client transaction MUST retransmit the
            # request by passing it to the transport layer, and MUST reset the timer with a
            # value of 2*T1."
            self._timer_a = self._settings.doubled(self._timer_a)
            self.deadlines.start(TimerName.A, now + self._timer_a)
            return [self._transmit(self.request)]
        if event is ClientInviteEvent.TIMER_B:
            # RFC 3261 §17.1.1.2: "If the client transaction is still in the "Calling" state
            # when timer B fires, the client transaction SHOULD inform the TU that a timeout has
            # occurred. The client transaction MUST NOT generate an ACK."
            return [TransactionTimeout(transaction=self.key)]
        # Timer D (RFC 3261 §17.1.1.2) or Timer M (RFC 6026 §8.4): "MUST move to the
        # "Terminated" state."
        return []

    def transport_error(self, now: float) -> list[Effect]:
        # RFC 3261 §17.1.4: "The client transaction SHOULD inform the TU that a transport failure
        # has occurred, and the client transaction SHOULD transition directly to the
        # "Terminated" state."
        if self._move(ClientInviteEvent.TRANSPORT_ERROR) is None:
            return []
        return [TransportFailed(transaction=self.key)]

    def _wait(self, timer: TimerName, seconds: float, now: float) -> list[Effect]:
        return start_or_fire(self.deadlines, timer, seconds, now, self.fire)

    def _move(self, event: ClientInviteEvent) -> ClientInviteState | None:
        """Take the transition for ``event``; return the state left, or None if absorbed."""
        after = transition(
            CLIENT_INVITE_TRANSITIONS,
            self.state,
            event,
            ClientInviteState.TERMINATED,
            self.deadlines,
        )
        if after is None:
            return None
        before, self.state = self.state, after
        return before

    def _transmit(self, message: Request) -> Transmit:
        return Transmit(message=message, target=self.target, transaction=self.key)

    def __repr__(self) -> str:
        return f"<ClientInviteTransaction {self.key} {self.state.value} {self.deadlines!r}>"


# --- the client non-INVITE transaction (RFC 3261 §17.1.2) ------------------------------------


class ClientNonInviteState(Enum):
    """RFC 3261 Figure 6."""

    TRYING = "Trying"
    PROCEEDING = "Proceeding"
    COMPLETED = "Completed"
    TERMINATED = "Terminated"


class ClientNonInviteEvent(Enum):
    PROVISIONAL = "1xx received"
    FINAL = "200-699 received"
    TIMER_E = "Timer E fired"
    TIMER_F = "Timer F fired"
    TIMER_K = "Timer K fired"
    TRANSPORT_ERROR = "transport error"


_CN = ClientNonInviteState
_CNE = ClientNonInviteEvent

CLIENT_NON_INVITE_TRANSITIONS: Mapping[
    tuple[ClientNonInviteState, ClientNonInviteEvent], ClientNonInviteState
] = {
    (_CN.TRYING, _CNE.TIMER_E): _CN.TRYING,  # retransmit, E = MIN(2E, T2)
    (_CN.TRYING, _CNE.TIMER_F): _CN.TERMINATED,  # timeout to the TU
    (_CN.TRYING, _CNE.PROVISIONAL): _CN.PROCEEDING,  # 1xx to the TU
    (_CN.TRYING, _CNE.FINAL): _CN.COMPLETED,  # response to the TU, start K
    (_CN.PROCEEDING, _CNE.TIMER_E): _CN.PROCEEDING,  # retransmit, E = T2
    (_CN.PROCEEDING, _CNE.TIMER_F): _CN.TERMINATED,  # timeout to the TU
    (_CN.PROCEEDING, _CNE.PROVISIONAL): _CN.PROCEEDING,  # 1xx to the TU
    (_CN.PROCEEDING, _CNE.FINAL): _CN.COMPLETED,  # response to the TU, start K
    (_CN.COMPLETED, _CNE.TIMER_K): _CN.TERMINATED,
    (_CN.TRYING, _CNE.TRANSPORT_ERROR): _CN.TERMINATED,
    (_CN.PROCEEDING, _CNE.TRANSPORT_ERROR): _CN.TERMINATED,
    (_CN.COMPLETED, _CNE.TRANSPORT_ERROR): _CN.TERMINATED,
}

_CLIENT_NON_INVITE_TIMERS = {
    TimerName.E: _CNE.TIMER_E,
    TimerName.F: _CNE.TIMER_F,
    TimerName.K: _CNE.TIMER_K,
}


class ClientNonInviteTransaction:
    """Sends one request other than INVITE or ACK and follows it to a final answer."""

    __slots__ = ("_settings", "_timer_e", "deadlines", "key", "request", "state", "target")

    def __init__(
        self, *, key: TransactionKey, request: Request, target: Peer, settings: TimerSettings
    ) -> None:
        self.key = key
        self.request = request
        self.target = target
        self.state = ClientNonInviteState.TRYING
        self.deadlines = Deadlines()
        self._settings = settings
        self._timer_e: float | None = settings.timer_e(reliable=target.reliable)

    @property
    def terminated(self) -> bool:
        return self.state is ClientNonInviteState.TERMINATED

    def start(self, now: float) -> list[Effect]:
        """Send the request. The machine starts in "Trying"."""
        # RFC 3261 §17.1.2.2: "The "Trying" state is entered when the TU initiates a new client
        # transaction with a request. When entering this state, the client transaction SHOULD
        # set timer F to fire in 64*T1 seconds. [...] If an unreliable transport is in use, the
        # client transaction MUST set timer E to fire in T1 seconds."
        self.deadlines.start(TimerName.F, now + self._settings.timer_f)
        if self._timer_e is not None:
            self.deadlines.start(TimerName.E, now + self._timer_e)
        return [self._transmit()]

    def receive_response(self, response: Response, source: Peer, now: float) -> list[Effect]:
        final = response.status >= 200
        event = ClientNonInviteEvent.FINAL if final else ClientNonInviteEvent.PROVISIONAL
        if self._move(event) is None:
            # RFC 3261 §17.1.2.2: the "Completed" state exists "to buffer any additional response
            # retransmissions that may be received".
            return []
        effects: list[Effect] = [
            DeliverResponse(response=response, source=source, transaction=self.key)
        ]
        if final:
            # RFC 3261 §17.1.2.2: "If a final response (status codes 200-699) is received while in
            # the "Trying" state, the response MUST be passed to the TU, and the client
            # transaction MUST transition to the "Completed" state." "Once the client transaction
            # enters the "Completed" state, it MUST set Timer K to fire in T4 seconds for
            # unreliable transports, and zero seconds for reliable transports."
            self.deadlines.stop(TimerName.E, TimerName.F)
            effects += self._wait(
                TimerName.K, self._settings.timer_k(reliable=self.target.reliable), now
            )
        return effects

    def fire(self, timer: TimerName, now: float) -> list[Effect]:
        """Timer ``timer`` came due at ``now``."""
        self.deadlines.fire(timer)
        event = _CLIENT_NON_INVITE_TIMERS[timer]
        before = self._move(event)
        if before is None:
            return []
        if event is ClientNonInviteEvent.TIMER_E and self._timer_e is not None:
            if before is ClientNonInviteState.TRYING:
                # RFC 3261 §17.1.2.2: "If timer E fires while still in this state, the timer is
                # reset, but this time with a value of MIN(2*T1, T2). When the timer fires again,
                # it is reset to a MIN(4*T1, T2). This process continues so that retransmissions
                # occur with an exponentially increasing interval that caps at T2."
                self._timer_e = self._settings.doubled_to_t2(self._timer_e)
            else:
                # RFC 3261 §17.1.2.2: "If Timer E fires while in the "Proceeding" state, the
                # request MUST be passed to the transport layer for retransmission, and Timer E
                # MUST be reset with a value of T2 seconds."
                self._timer_e = self._settings.t2
            self.deadlines.start(TimerName.E, now + self._timer_e)
            return [self._transmit()]
        if event is ClientNonInviteEvent.TIMER_F:
            # RFC 3261 §17.1.2.2: "If Timer F fires while the client transaction is still in the
            # "Trying" state, the client transaction SHOULD inform the TU about the timeout, and
            # then it SHOULD enter the "Terminated" state."
            return [TransactionTimeout(transaction=self.key)]
        # RFC 3261 §17.1.2.2: "If Timer K fires while in this state, the client transaction MUST
        # transition to the "Terminated" state."
        return []

    def transport_error(self, now: float) -> list[Effect]:
        # RFC 3261 §17.1.4: "The client transaction SHOULD inform the TU that a transport failure
        # has occurred, and the client transaction SHOULD transition directly to the
        # "Terminated" state."
        if self._move(ClientNonInviteEvent.TRANSPORT_ERROR) is None:
            return []
        return [TransportFailed(transaction=self.key)]

    def _wait(self, timer: TimerName, seconds: float, now: float) -> list[Effect]:
        return start_or_fire(self.deadlines, timer, seconds, now, self.fire)

    def _move(self, event: ClientNonInviteEvent) -> ClientNonInviteState | None:
        """Take the transition for ``event``; return the state left, or None if absorbed."""
        after = transition(
            CLIENT_NON_INVITE_TRANSITIONS,
            self.state,
            event,
            ClientNonInviteState.TERMINATED,
            self.deadlines,
        )
        if after is None:
            return None
        before, self.state = self.state, after
        return before

    def _transmit(self) -> Transmit:
        return Transmit(message=self.request, target=self.target, transaction=self.key)

    def __repr__(self) -> str:
        return f"<ClientNonInviteTransaction {self.key} {self.state.value} {self.deadlines!r}>"
