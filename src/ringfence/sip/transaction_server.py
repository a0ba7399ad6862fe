"""The two server transaction machines of RFC 3261 §17.2, with the RFC 6026 "Accepted" state.

Each machine has its own state enum, its own event enum and an explicit transition table. A
request (a retransmission or an ACK) that has no entry for the current state is absorbed. A
response from the TU that has no entry is a misuse and raises :class:`TransactionError`, with
one exception the RFC names: a non-INVITE server transaction in "Completed" discards further
final responses. The machines are driven by :class:`ringfence.sip.transaction.TransactionLayer`.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum

from ringfence.errors import TransactionError
from ringfence.sip.effects import (
    AckTimeout,
    DeliverRequest,
    Effect,
    Peer,
    TransactionKey,
    Transmit,
    TransportFailed,
)
from ringfence.sip.machine import start_or_fire, transition
from ringfence.sip.message import Request, Response, make_response
from ringfence.sip.status import StatusCode
from ringfence.sip.timers import Deadlines, TimerName, TimerSettings

__all__ = [
    "SERVER_INVITE_TRANSITIONS",
    "SERVER_NON_INVITE_TRANSITIONS",
    "ServerInviteEvent",
    "ServerInviteState",
    "ServerInviteTransaction",
    "ServerNonInviteEvent",
    "ServerNonInviteState",
    "ServerNonInviteTransaction",
    "TryingMode",
]


class TryingMode(Enum):
    """When an INVITE server transaction sends 100 (Trying) on its own (RFC 3261 §17.2.1).

    RFC 3261 §17.2.1: "The server transaction MUST generate a 100 (Trying) response unless it
    knows that the TU will generate a provisional or final response within 200 ms, in which case
    it MAY generate a 100 (Trying) response."
    """

    #: At once, before the TU sees the INVITE: what a proxy does, whose TU may take long.
    IMMEDIATE = "immediate"
    #: Only if the TU has sent no response within ``TimerSettings.trying_delay`` (200 ms).
    DELAYED = "delayed"


def _check_status(response: Response) -> None:
    if not 100 <= response.status <= 699:
        raise TransactionError(f"status {response.status} is not a SIP response code")


# --- the server INVITE transaction (RFC 3261 §17.2.1, RFC 6026 §8.5 and §8.7) ----------------


class ServerInviteState(Enum):
    """RFC 3261 Figure 7 as corrected by RFC 6026 Figure 7."""

    PROCEEDING = "Proceeding"
    COMPLETED = "Completed"
    CONFIRMED = "Confirmed"
    ACCEPTED = "Accepted"
    TERMINATED = "Terminated"


class ServerInviteEvent(Enum):
    INVITE_RETRANSMITTED = "INVITE received again"
    ACK_RECEIVED = "ACK received"
    TU_PROVISIONAL = "1xx from the TU"
    TU_SUCCESS = "2xx from the TU"
    TU_FAILURE = "300-699 from the TU"
    TRYING_DUE = "200 ms passed without a response from the TU"
    TIMER_G = "Timer G fired"
    TIMER_H = "Timer H fired"
    TIMER_I = "Timer I fired"
    TIMER_L = "Timer L fired"
    TRANSPORT_ERROR = "transport error"


_SI = ServerInviteState
_SIE = ServerInviteEvent

SERVER_INVITE_TRANSITIONS: Mapping[
    tuple[ServerInviteState, ServerInviteEvent], ServerInviteState
] = {
    (_SI.PROCEEDING, _SIE.INVITE_RETRANSMITTED): _SI.PROCEEDING,  # resend the last 1xx
    (_SI.PROCEEDING, _SIE.TRYING_DUE): _SI.PROCEEDING,  # send 100 (Trying)
    (_SI.PROCEEDING, _SIE.TU_PROVISIONAL): _SI.PROCEEDING,  # send it
    (_SI.PROCEEDING, _SIE.TU_SUCCESS): _SI.ACCEPTED,  # send it once, start L
    (_SI.PROCEEDING, _SIE.TU_FAILURE): _SI.COMPLETED,  # send it, start G and H
    (_SI.COMPLETED, _SIE.INVITE_RETRANSMITTED): _SI.COMPLETED,  # resend the final response
    (_SI.COMPLETED, _SIE.TIMER_G): _SI.COMPLETED,  # resend it, G = MIN(2G, T2)
    (_SI.COMPLETED, _SIE.ACK_RECEIVED): _SI.CONFIRMED,  # absorb the ACK, start I
    (_SI.COMPLETED, _SIE.TIMER_H): _SI.TERMINATED,  # no ACK came: tell the TU
    (_SI.CONFIRMED, _SIE.ACK_RECEIVED): _SI.CONFIRMED,  # absorb
    (_SI.CONFIRMED, _SIE.INVITE_RETRANSMITTED): _SI.CONFIRMED,  # absorb
    (_SI.CONFIRMED, _SIE.TIMER_I): _SI.TERMINATED,
    (_SI.ACCEPTED, _SIE.INVITE_RETRANSMITTED): _SI.ACCEPTED,  # absorb
    (_SI.ACCEPTED, _SIE.ACK_RECEIVED): _SI.ACCEPTED,  # to the TU, outside the transaction
    (_SI.ACCEPTED, _SIE.TU_SUCCESS): _SI.ACCEPTED,  # 2xx retransmission or forked 2xx: send
    (_SI.ACCEPTED, _SIE.TIMER_L): _SI.TERMINATED,
    (_SI.PROCEEDING, _SIE.TRANSPORT_ERROR): _SI.TERMINATED,
    (_SI.COMPLETED, _SIE.TRANSPORT_ERROR): _SI.TERMINATED,
    (_SI.CONFIRMED, _SIE.TRANSPORT_ERROR): _SI.TERMINATED,
    (_SI.ACCEPTED, _SIE.TRANSPORT_ERROR): _SI.TERMINATED,
}

_SERVER_INVITE_TIMERS = {
    TimerName.TRYING: _SIE.TRYING_DUE,
    TimerName.G: _SIE.TIMER_G,
    TimerName.H: _SIE.TIMER_H,
    TimerName.I: _SIE.TIMER_I,
    TimerName.L: _SIE.TIMER_L,
}


class ServerInviteTransaction:
    """Answers one INVITE (RFC 3261 §17.2.1, RFC 6026 §8.5 and §8.7)."""

    __slots__ = (
        "_final",
        "_settings",
        "_timer_g",
        "_trying",
        "deadlines",
        "key",
        "last_provisional",
        "last_response",
        "request",
        "source",
        "state",
    )

    def __init__(
        self,
        *,
        key: TransactionKey,
        request: Request,
        source: Peer,
        settings: TimerSettings,
        trying: TryingMode,
    ) -> None:
        self.key = key
        self.request = request
        self.source = source
        self.state = ServerInviteState.PROCEEDING
        self.deadlines = Deadlines()
        self.last_provisional: Response | None = None
        self.last_response: Response | None = None
        self._final: Response | None = None
        self._settings = settings
        self._trying = trying
        self._timer_g: float | None = settings.timer_g(reliable=source.reliable)

    @property
    def terminated(self) -> bool:
        return self.state is ServerInviteState.TERMINATED

    def start(self, now: float) -> list[Effect]:
        """Enter "Proceeding": pass the INVITE to the TU, and see to the 100 (Trying)."""
        effects: list[Effect] = []
        if self._trying is TryingMode.IMMEDIATE:
            effects.append(self._send_trying())
        else:
            self.deadlines.start(TimerName.TRYING, now + self._settings.trying_delay)
        # RFC 3261 §17.2.1: "The request MUST be passed to the TU."
        effects.append(
            DeliverRequest(request=self.request, source=self.source, transaction=self.key)
        )
        return effects

    def receive_request(self, request: Request, source: Peer, now: float) -> list[Effect]:
        """A retransmission of the INVITE, or an ACK, matched this transaction."""
        is_ack = request.method == "ACK"
        event = ServerInviteEvent.ACK_RECEIVED if is_ack else ServerInviteEvent.INVITE_RETRANSMITTED
        before = self._move(event)
        if before is None:
            return []
        if is_ack:
            if before is ServerInviteState.COMPLETED:
                # RFC 3261 §17.2.1: "If an ACK is received while the server transaction is in
                # the "Completed" state, the server transaction MUST transition to the
                # "Confirmed" state. As Timer G is ignored in this state, any retransmissions of
                # the response will cease." "The purpose of the "Confirmed" state is to absorb
                # any additional ACK messages that arrive". Timer I is "T4 seconds for
                # unreliable transports, and zero seconds for reliable transports".
                self.deadlines.stop(TimerName.G, TimerName.H)
                return self._wait(
                    TimerName.I, self._settings.timer_i(reliable=self.source.reliable), now
                )
            if before is ServerInviteState.ACCEPTED:
                # RFC 6026 §8.7: "If an ACK is received while the INVITE server transaction is
                # in the "Accepted" state, then the ACK must be passed up to the TU." It is the
                # ACK to a 2xx, no part of this transaction, so it carries no transaction key.
                return [DeliverRequest(request=request, source=source, transaction=None)]
            return []
        if before is ServerInviteState.PROCEEDING:
            # RFC 3261 §17.2.1: "If a request retransmission is received while in the
            # "Proceeding" state, the most recent provisional response that was received from
            # the TU MUST be passed to the transport layer for retransmission."
            if self.last_provisional is None:
                # Waiting for the TU with TryingMode.DELAYED: the client is retransmitting
                # already, so the 100 (Trying) is due now.
                self.deadlines.stop(TimerName.TRYING)
                return [self._send_trying()]
            return [self._transmit(self.last_provisional)]
        if before is ServerInviteState.COMPLETED and self._final is not None:
            # RFC 3261 §17.2.1: "while in the "Completed" state, if a request retransmission is
            # received, the server SHOULD pass the response to the transport for retransmission."
            return [self._transmit(self._final)]
        # RFC 6026 §8.7: "The purpose of the "Accepted" state is to absorb retransmissions of an
        # accepted INVITE request. Any such retransmissions are absorbed entirely within the
        # server transaction. They are not passed up to the TU". "Confirmed" absorbs them too.
        return []

    def send_response(self, response: Response, now: float) -> list[Effect]:
        """The TU answers the INVITE. Raise :class:`TransactionError` if the state forbids it."""
        _check_status(response)
        if response.status < 200:
            event = ServerInviteEvent.TU_PROVISIONAL
        elif response.status < 300:
            event = ServerInviteEvent.TU_SUCCESS
        else:
            event = ServerInviteEvent.TU_FAILURE
        state = self.state
        before = self._move(event)
        if before is None:
            raise TransactionError(
                f"cannot send a {response.status} on INVITE server transaction {self.key} "
                f'in state "{state.value}"'
            )
        self.deadlines.stop(TimerName.TRYING)
        self.last_response = response
        effects: list[Effect] = [self._transmit(response)]
        if event is ServerInviteEvent.TU_PROVISIONAL:
            # RFC 3261 §17.2.1: "So long as the server transaction is in the "Proceeding" state,
            # each of these MUST be passed to the transport layer for transmission."
            self.last_provisional = response
        elif event is ServerInviteEvent.TU_SUCCESS:
            if before is ServerInviteState.PROCEEDING:
                # RFC 6026 §8.5: "If, while in the "Proceeding" state, the TU passes a 2xx
                # response to the server transaction, the server transaction MUST pass this
                # response to the transport layer for transmission. It is not retransmitted by
                # the server transaction; retransmissions of 2xx responses are handled by the TU.
                # The server transaction MUST then transition to the "Accepted" state."
                self.deadlines.start(TimerName.L, now + self._settings.timer_l)
            # In "Accepted" (RFC 6026 §8.7): "if the TU passes a 2xx response, the server
            # transaction MUST pass the response to the transport layer for transmission."
        else:
            # RFC 3261 §17.2.1: "While in the "Proceeding" state, if the TU passes a response
            # with status code from 300 to 699 to the server transaction, the response MUST be
            # passed to the transport layer for transmission, and the state machine MUST enter
            # the "Completed" state. For unreliable transports, timer G is set to fire in T1
            # seconds, and is not set to fire for reliable transports." "When the "Completed"
            # state is entered, timer H MUST be set to fire in 64*T1 seconds for all
            # transports."
            self._final = response
            if self._timer_g is not None:
                self.deadlines.start(TimerName.G, now + self._timer_g)
            self.deadlines.start(TimerName.H, now + self._settings.timer_h)
        return effects

    def fire(self, timer: TimerName, now: float) -> list[Effect]:
        """Timer ``timer`` came due at ``now``."""
        self.deadlines.fire(timer)
        event = _SERVER_INVITE_TIMERS[timer]
        if self._move(event) is None:
            return []
        if event is ServerInviteEvent.TRYING_DUE:
            return [self._send_trying()]
        if event is ServerInviteEvent.TIMER_G and self._final is not None:
            if self._timer_g is None:  # pragma: no cover - G runs on unreliable transports only
                return []
            # RFC 3261 §17.2.1: "If timer G fires, the response is passed to the transport layer
            # once more for retransmission, and timer G is set to fire in MIN(2*T1, T2) seconds.
            # From then on, when timer G fires, the response is passed to the transport again for
            # transmission, and timer G is reset with a value that doubles, unless that value
            # exceeds T2, in which case it is reset with the value of T2."
            self._timer_g = self._settings.doubled_to_t2(self._timer_g)
            self.deadlines.start(TimerName.G, now + self._timer_g)
            return [self._transmit(self._final)]
        if event is ServerInviteEvent.TIMER_H:
            # RFC 3261 §17.2.1: "If timer H fires while in the "Completed" state, it implies that
            # the ACK was never received. In this case, the server transaction MUST transition to
            # the "Terminated" state, and MUST indicate to the TU that a transaction failure has
            # occurred."
            return [AckTimeout(transaction=self.key)]
        # Timer I (RFC 3261 §17.2.1: "Once timer I fires, the server MUST transition to the
        # "Terminated" state.") or Timer L (RFC 6026 §8.7).
        return []

    def transport_error(self, now: float) -> list[Effect]:
        # RFC 3261 §17.2.4: "the server transaction SHOULD inform the TU that a failure has
        # occurred, and SHOULD transition to the terminated state."
        if self._move(ServerInviteEvent.TRANSPORT_ERROR) is None:
            return []
        return [TransportFailed(transaction=self.key)]

    def _send_trying(self) -> Transmit:
        # RFC 3261 §8.2.6.1: the 100 copies the Timestamp header (make_response does so).
        trying = make_response(self.request, StatusCode.TRYING)
        self.last_provisional = trying
        return self._transmit(trying)

    def _wait(self, timer: TimerName, seconds: float, now: float) -> list[Effect]:
        return start_or_fire(self.deadlines, timer, seconds, now, self.fire)

    def _move(self, event: ServerInviteEvent) -> ServerInviteState | None:
        """Take the transition for ``event``; return the state left, or None if absorbed."""
        after = transition(
            SERVER_INVITE_TRANSITIONS,
            self.state,
            event,
            ServerInviteState.TERMINATED,
            self.deadlines,
        )
        if after is None:
            return None
        before, self.state = self.state, after
        return before

    def _transmit(self, response: Response) -> Transmit:
        return Transmit(message=response, target=self.source, transaction=self.key)

    def __repr__(self) -> str:
        return f"<ServerInviteTransaction {self.key} {self.state.value} {self.deadlines!r}>"


# --- the server non-INVITE transaction (RFC 3261 §17.2.2) ------------------------------------


class ServerNonInviteState(Enum):
    """RFC 3261 Figure 8."""

    TRYING = "Trying"
    PROCEEDING = "Proceeding"
    COMPLETED = "Completed"
    TERMINATED = "Terminated"


class ServerNonInviteEvent(Enum):
    REQUEST_RETRANSMITTED = "request received again"
    TU_PROVISIONAL = "1xx from the TU"
    TU_FINAL = "200-699 from the TU"
    TIMER_J = "Timer J fired"
    TRANSPORT_ERROR = "transport error"


_SN = ServerNonInviteState
_SNE = ServerNonInviteEvent

SERVER_NON_INVITE_TRANSITIONS: Mapping[
    tuple[ServerNonInviteState, ServerNonInviteEvent], ServerNonInviteState
] = {
    (_SN.TRYING, _SNE.REQUEST_RETRANSMITTED): _SN.TRYING,  # discard
    (_SN.TRYING, _SNE.TU_PROVISIONAL): _SN.PROCEEDING,  # send it
    (_SN.TRYING, _SNE.TU_FINAL): _SN.COMPLETED,  # send it, start J
    (_SN.PROCEEDING, _SNE.REQUEST_RETRANSMITTED): _SN.PROCEEDING,  # resend the last 1xx
    (_SN.PROCEEDING, _SNE.TU_PROVISIONAL): _SN.PROCEEDING,  # send it
    (_SN.PROCEEDING, _SNE.TU_FINAL): _SN.COMPLETED,  # send it, start J
    (_SN.COMPLETED, _SNE.REQUEST_RETRANSMITTED): _SN.COMPLETED,  # resend the final response
    (_SN.COMPLETED, _SNE.TU_FINAL): _SN.COMPLETED,  # discard
    (_SN.COMPLETED, _SNE.TIMER_J): _SN.TERMINATED,
    (_SN.TRYING, _SNE.TRANSPORT_ERROR): _SN.TERMINATED,
    (_SN.PROCEEDING, _SNE.TRANSPORT_ERROR): _SN.TERMINATED,
    (_SN.COMPLETED, _SNE.TRANSPORT_ERROR): _SN.TERMINATED,
}


class ServerNonInviteTransaction:
    """Answers one request other than INVITE or ACK (RFC 3261 §17.2.2)."""

    __slots__ = (
        "_final",
        "_settings",
        "deadlines",
        "key",
        "last_provisional",
        "last_response",
        "request",
        "source",
        "state",
    )

    def __init__(
        self, *, key: TransactionKey, request: Request, source: Peer, settings: TimerSettings
    ) -> None:
        self.key = key
        self.request = request
        self.source = source
        self.state = ServerNonInviteState.TRYING
        self.deadlines = Deadlines()
        self.last_provisional: Response | None = None
        self.last_response: Response | None = None
        self._final: Response | None = None
        self._settings = settings

    @property
    def terminated(self) -> bool:
        return self.state is ServerNonInviteState.TERMINATED

    def start(self, now: float) -> list[Effect]:
        """Enter "Trying". RFC 3261 §17.2.2: "This request is passed up to the TU."."""
        return [DeliverRequest(request=self.request, source=self.source, transaction=self.key)]

    def receive_request(self, request: Request, source: Peer, now: float) -> list[Effect]:
        """A retransmission of the request matched this transaction."""
        before = self._move(ServerNonInviteEvent.REQUEST_RETRANSMITTED)
        if before is ServerNonInviteState.PROCEEDING and self.last_provisional is not None:
            # RFC 3261 §17.2.2: "If a retransmission of the request is received while in the
            # "Proceeding" state, the most recently sent provisional response MUST be passed to
            # the transport layer for retransmission."
            return [self._transmit(self.last_provisional)]
        if before is ServerNonInviteState.COMPLETED and self._final is not None:
            # RFC 3261 §17.2.2: "While in the "Completed" state, the server transaction MUST pass
            # the final response to the transport layer for retransmission whenever a
            # retransmission of the request is received."
            return [self._transmit(self._final)]
        # RFC 3261 §17.2.2: "Once in the "Trying" state, any further request retransmissions are
        # discarded."
        return []

    def send_response(self, response: Response, now: float) -> list[Effect]:
        """The TU answers the request. Raise :class:`TransactionError` if the state forbids it."""
        _check_status(response)
        final = response.status >= 200
        event = ServerNonInviteEvent.TU_FINAL if final else ServerNonInviteEvent.TU_PROVISIONAL
        state = self.state
        before = self._move(event)
        if before is None:
            raise TransactionError(
                f"cannot send a {response.status} on {self.key.method} server transaction "
                f'{self.key} in state "{state.value}"'
            )
        if before is ServerNonInviteState.COMPLETED:
            # RFC 3261 §17.2.2: "Any other final responses passed by the TU to the server
            # transaction MUST be discarded while in the "Completed" state."
            return []
        self.last_response = response
        effects: list[Effect] = [self._transmit(response)]
        if not final:
            # RFC 3261 §17.2.2: "While in the "Trying" state, if the TU passes a provisional
            # response to the server transaction, the server transaction MUST enter the
            # "Proceeding" state. The response MUST be passed to the transport layer for
            # transmission."
            self.last_provisional = response
            return effects
        # RFC 3261 §17.2.2: "When the server transaction enters the "Completed" state, it MUST set
        # Timer J to fire in 64*T1 seconds for unreliable transports, and zero seconds for
        # reliable transports."
        self._final = response
        effects += self._wait(
            TimerName.J, self._settings.timer_j(reliable=self.source.reliable), now
        )
        return effects

    def fire(self, timer: TimerName, now: float) -> list[Effect]:
        """Timer ``timer`` came due at ``now``."""
        self.deadlines.fire(timer)
        if timer is TimerName.J:
            # RFC 3261 §17.2.2: "The server transaction remains in this state until Timer J
            # fires, at which point it MUST transition to the "Terminated" state."
            self._move(ServerNonInviteEvent.TIMER_J)
        return []

    def transport_error(self, now: float) -> list[Effect]:
        # RFC 3261 §17.2.4: "the server transaction SHOULD inform the TU that a failure has
        # occurred, and SHOULD transition to the terminated state."
        if self._move(ServerNonInviteEvent.TRANSPORT_ERROR) is None:
            return []
        return [TransportFailed(transaction=self.key)]

    def _wait(self, timer: TimerName, seconds: float, now: float) -> list[Effect]:
        return start_or_fire(self.deadlines, timer, seconds, now, self.fire)

    def _move(self, event: ServerNonInviteEvent) -> ServerNonInviteState | None:
        """Take the transition for ``event``; return the state left, or None if absorbed."""
        after = transition(
            SERVER_NON_INVITE_TRANSITIONS,
            self.state,
            event,
            ServerNonInviteState.TERMINATED,
            self.deadlines,
        )
        if after is None:
            return None
        before, self.state = self.state, after
        return before

    def _transmit(self, response: Response) -> Transmit:
        return Transmit(message=response, target=self.source, transaction=self.key)

    def __repr__(self) -> str:
        return f"<ServerNonInviteTransaction {self.key} {self.state.value} {self.deadlines!r}>"
