"""The phone service as the SIP transaction user: it runs the core and performs its effects.

Bytes come in from :mod:`ringfence.transport`, are parsed, and go through the transaction layer.
What the layer delivers is handled here: REGISTER by the registrar, new INVITE and MESSAGE by the
router and then proxied (RFC 3261 §16, forking and record-routing), CANCEL and in-dialog
requests along their dialog, responses through each request's response context.

The event loop never waits on the database in the call path: bindings and call records are
committed by a worker thread (:class:`Persistence`), and only the answer that depends on the
commit (the 200 to a REGISTER, the final response to a BYE) waits for it, without blocking
anything else.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import structlog

from ringfence.accounts import Tenant, TenantId, Trunk
from ringfence.errors import ParseError, TransactionError
from ringfence.fraud import BUDGET_LOOKAHEAD, AuthFailure, Registered, budget_breaches
from ringfence.fraud import Response as FraudResponse
from ringfence.guard import GuardEvent, Perimeter, Verdict
from ringfence.pbx.calls import CallState, CallTracker
from ringfence.pbx.dialogs import Dialog, bye_for, dialog_from_answer
from ringfence.pbx.location import LocationStore
from ringfence.pbx.messages import (
    ALLOW,
    CAPABILITIES,
    DIALOG_METHODS,
    addressed_to_server,
    cancel_for,
    ignore,
    reason_for,
    shift_cseq,
    stamp_via,
    without_own_credentials,
)
from ringfence.pbx.metrics import Metrics
from ringfence.pbx.registrar import RegistrarService, to_stored
from ringfence.pbx.router import Authenticated, Refused, Routed, Router, Target, is_ip
from ringfence.sip.digest import Algorithm, build_credentials, compute_ha1
from ringfence.sip.effects import (
    AckTimeout,
    DeliverRequest,
    DeliverResponse,
    Effect,
    Peer,
    TransactionKey,
    TransactionTerminated,
    TransactionTimeout,
    Transmit,
    TransportFailed,
)
from ringfence.sip.headers import Via
from ringfence.sip.inspect import inspect_request
from ringfence.sip.message import Request, Response, make_response
from ringfence.sip.parser import parse_message, response_for_parse_error
from ringfence.sip.proxy import (
    ProxyIdentity,
    ResponseContext,
    forward_request,
    make_branch,
    response_destination_is_safe,
    strip_top_via,
    validate_request,
)
from ringfence.sip.status import StatusCode
from ringfence.sip.transaction import TransactionLayer
from ringfence.sip.uri import SipUri
from ringfence.store import CallRecord, StoredBinding

__all__ = ["Persistence", "SipService", "Wire"]

log = structlog.get_logger("ringfence.pbx")

SILENCE_SECONDS = 20.0
"""How long a blocked caller with the "silence" treatment waits for nothing, before a 480."""


class Persistence(Protocol):
    """Commits for the call path; each call runs off the event loop."""

    async def replace_bindings(
        self, tenant: Tenant, ext: str, bindings: tuple[StoredBinding, ...]
    ) -> None: ...

    async def add_call_record(self, record: CallRecord) -> None: ...


class Wire(Protocol):
    """The transport's sending side."""

    def send(
        self, message: Request | Response, peer: Peer, on_error: Callable[[], None]
    ) -> None: ...

    def has_flow(self, peer: Peer) -> bool: ...


@dataclass
class _Proxied:
    """One proxied request: its server transaction, response context and branches."""

    server: TransactionKey
    request: Request
    context: ResponseContext
    tenant: Tenant | None
    call: CallState | None
    branches: dict[TransactionKey, tuple[Request, Peer]] = field(default_factory=dict)
    provisional: set[TransactionKey] = field(default_factory=set)
    cancel_wanted: set[TransactionKey] = field(default_factory=set)
    unreachable: set[TransactionKey] = field(default_factory=set)
    trunk: Trunk | None = None
    authenticated: set[TransactionKey] = field(default_factory=set)
    #: The CSeq the request arrived with, when the copies carry a shifted one (see CallState).
    original_cseq: str | None = None
    ending_call: CallState | None = None  # a BYE: the call it ends
    #: A new INVITE: the request as the caller sent it, and where from (for the dialog).
    origin: Request | None = None
    source: Peer | None = None


class SipService:
    """The transaction user of the phone service."""

    def __init__(
        self,
        *,
        layer: TransactionLayer,
        wire: Wire,
        router: Router,
        registrar: RegistrarService,
        location: LocationStore,
        persistence: Persistence,
        identity: ProxyIdentity,
        advertised: dict[str, tuple[str, int]],
        token: Callable[[], str],
        monotonic: Callable[[], float],
        wall_clock: Callable[[], float],
        metrics: Metrics,
        spawn: Callable[[Coroutine[Any, Any, None]], None],
        silence_seconds: float = SILENCE_SECONDS,
        calls: CallTracker | None = None,
        perimeter: Perimeter | None = None,
    ) -> None:
        self._layer = layer
        self._wire = wire
        self._router = router
        self._registrar = registrar
        self._location = location
        self._persistence = persistence
        self._identity = identity
        self._advertised = advertised  # transport name -> (host, port) for Via and Record-Route
        self._token = token
        self._mono = monotonic
        self._wall = wall_clock
        self._metrics = metrics
        self._spawn = spawn
        self._silence_seconds = silence_seconds
        #: The perimeter (DESIGN.md §1 step 2): bans, rates, scanners, failed logins.
        self.perimeter = perimeter if perimeter is not None else Perimeter()
        #: Told of every security event (a ban, a scanner, an extension targeted).
        self.on_guard_event: Callable[[GuardEvent], None] = lambda _: None
        #: INVITEs of blocked callers whose treatment is silence: answered 480 only after a
        #: while (or 487 when the caller cancels first), the callee never rung.
        self._silenced: dict[TransactionKey, tuple[Request, Refused]] = {}
        self.calls = calls if calls is not None else router.calls
        self._by_server: dict[TransactionKey, _Proxied] = {}
        self._by_client: dict[TransactionKey, _Proxied] = {}
        #: Answered calls by (Call-ID, caller's From tag): what the proxy needs to end them.
        self._dialogs: dict[tuple[str, str], Dialog] = {}
        self._on_deadline: Callable[[float | None], None] = lambda _: None

    def set_deadline_callback(self, callback: Callable[[float | None], None]) -> None:
        """The shell arms one timer for the layer's next deadline (DESIGN.md §3)."""
        self._on_deadline = callback

    # -- input from the network and the clock ----------------------------------------------------

    def receive(self, data: bytes, source: Peer) -> None:
        """Handle one message from the network. A fault in our own code is logged with its
        traceback and the request, when there is one, is answered 500; nothing escapes into the
        event loop."""
        try:
            self._receive(data, source)
        except Exception:
            log.exception("internal_error", source=str(source))
            self._answer_internal_error(data, source)

    def tick(self) -> None:
        try:
            self._run(self._layer.advance(self._mono()))
        except Exception:
            log.exception("internal_error_in_timer")

    # -- the perimeter ---------------------------------------------------------------------------

    def _answer_busy(self, data: bytes, source: Peer) -> None:
        """The node is at capacity: a request is told when to come back (a phone retrying at
        once would cost more than the answer)."""
        try:
            message = parse_message(data, lazy=True, stream=source.reliable)
        except ParseError:
            return
        if isinstance(message, Request) and message.method != "ACK":
            retry = str(self.perimeter.settings.retry_after)
            response = make_response(message, 503, to_tag=self._token())
            response = replace(response, headers=response.headers.with_value("Retry-After", retry))
            self._wire.send(response, source, ignore)

    def _scanner(self, request: Request, source: Peer) -> bool:
        """A request naming a scanner is dropped unanswered (an OPTIONS excepted: see
        :meth:`Perimeter.scanner`), and its source banned."""
        try:
            display = request.from_.display_name
        except ParseError:
            display = None
        found = self.perimeter.scanner(
            source.host,
            request.headers.get("user-agent"),
            display,
            self._wall(),
            method=request.method,
        )
        self._report_guard()
        if found:
            self._metrics.guard_drops.labels("scanner").inc()
        return found

    def _muted(self, request: Request, source: Peer) -> bool:
        """A phone at a shared address that kept giving a wrong password for its extension:
        its requests for that extension are dropped for a while, the address's others go on."""
        if not self.perimeter.has_muted or request.method not in _AUTHENTICATED_METHODS:
            return False
        claimed = _claimed_user(request) or _named_user(request)
        if claimed is None or not self.perimeter.muted(source.host, claimed, self._wall()):
            return False
        self._metrics.guard_drops.labels("muted").inc()
        return True

    def auth_seen(self, request: Request, source: Peer, outcome: Authenticated | Refused) -> None:
        """What authentication made of a request, for the perimeter: a phone that got in
        makes its address known-good; a wrong password counts against the address (never
        against the extension: its phones elsewhere keep working); a challenge or a refusal
        for one user after another is somebody walking the extensions."""
        now = self._wall()
        user = _claimed_user(request) or _named_user(request)
        if isinstance(outcome, Refused):
            if outcome.status == StatusCode.FORBIDDEN:
                tenant = outcome.tenant
                exists = (
                    tenant is not None
                    and user is not None
                    and self._router.directory().extension(tenant.id, user) is not None
                )
                self.perimeter.auth_failed(
                    source.host, tenant.id if tenant else None, user, now, exists=exists
                )
            if user:
                challenged = outcome.status != StatusCode.FORBIDDEN
                self.perimeter.refused(source.host, user, now, challenged=challenged)
        elif user:
            self.perimeter.authenticated(source.host, user, now)
        self._report_guard()

    def _report_guard(self) -> None:
        for event in self.perimeter.drain():
            log.warning(
                "security_event",
                kind=event.kind,
                address=event.address,
                detail=event.detail,
                tenant=event.tenant_id,
                ext=event.ext,
                banned_until=None if event.ban is None else event.ban.until,
            )
            if event.ban is not None:
                # One line per ban in a fixed form, for fail2ban (see README).
                log.warning(
                    "ringfence_ban",
                    ban=f"ringfence ban {event.address} reason={event.kind}",
                )
            self.on_guard_event(event)

    def _answer_internal_error(self, data: bytes, source: Peer) -> None:
        try:
            message = parse_message(data, lazy=True, stream=source.reliable)
            if isinstance(message, Request) and message.method != "ACK":
                response = make_response(message, 500, to_tag=self._token())
                self._wire.send(response, source, ignore)
        except Exception:  # the message itself is beyond answering
            log.debug("internal_error_unanswered", source=str(source))

    def _receive(self, data: bytes, source: Peer) -> None:
        verdict = self.perimeter.admit(source.host, data[:16], self._wall())
        if verdict is not Verdict.ADMIT:
            self._metrics.guard_drops.labels(verdict.value).inc()
            if verdict is Verdict.BUSY:
                self._answer_busy(data, source)
            self._report_guard()
            return
        try:
            message = parse_message(data, stream=source.reliable)
        except ParseError as error:
            self._metrics.parse_errors.inc()
            # DESIGN.md §1 step 3: a 400 from the core and a strike from the guard.
            self.perimeter.malformed(source.host, self._wall())
            self._report_guard()
            answer = response_for_parse_error(error, to_tag=self._token())
            log.info(
                "malformed", source=str(source), reason=error.reason, answered=answer is not None
            )
            if answer is not None:
                self._wire.send(answer, source, lambda: None)
            return
        now = self._mono()
        if isinstance(message, Request) and (
            self._scanner(message, source) or self._muted(message, source)
        ):
            return
        try:
            if isinstance(message, Request):
                self._metrics.requests.labels(message.method).inc()
                effects = self._layer.receive_request(stamp_via(message, source), source, now)
            else:
                effects = self._layer.receive_response(message, source, now)
        except (ParseError, TransactionError) as error:
            log.info("dropped", source=str(source), reason=str(error))
            return
        self._run(effects)

    # -- effects --------------------------------------------------------------------------------

    def _run(self, effects: list[Effect]) -> None:
        for effect in effects:
            if isinstance(effect, Transmit):
                key = effect.transaction
                if isinstance(effect.message, Response):
                    self._metrics.responses.labels(str(effect.message.status)).inc()
                on_error = functools.partial(self._transport_error, key) if key else ignore
                self._wire.send(effect.message, effect.target, on_error)
            elif isinstance(effect, DeliverRequest):
                self._on_request(effect.request, effect.source, effect.transaction)
            elif isinstance(effect, DeliverResponse):
                self._on_response(effect.response, effect.transaction)
            elif isinstance(effect, TransactionTimeout):
                self._on_branch_failed(effect.transaction, unreachable=False)
            elif isinstance(effect, TransportFailed):
                self._on_branch_failed(effect.transaction, unreachable=True)
            elif isinstance(effect, TransactionTerminated):
                self._by_client.pop(effect.transaction, None)
                self._by_server.pop(effect.transaction, None)
            elif isinstance(effect, AckTimeout):
                log.debug("ack_timeout", transaction=str(effect.transaction))
        self._on_deadline(self._layer.next_deadline())

    def _transport_error(self, key: TransactionKey) -> None:
        if key in self._layer:
            self._run(self._layer.transport_error(key, self._mono()))

    # -- requests ---------------------------------------------------------------------------------

    def _on_request(self, request: Request, source: Peer, key: TransactionKey | None) -> None:
        if key is None:
            if request.method == "ACK":
                self._forward_stateless(request)
            return
        if request.method == "CANCEL":
            self._on_cancel(request, key)
            return
        refusal = validate_request(request, self._identity)
        if refusal is not None:
            self._answer(key, request, refusal.status, refusal.code, extra=refusal.headers)
            return
        request = self._strip_own_routes(request)
        if request.to.tag is not None:
            self._in_dialog(request, source, key)
        elif request.method == "REGISTER":
            self._register(request, source, key)
        elif inspected := inspect_request(request, CAPABILITIES, check_require=False):
            # RFC 3261 §8.2: body types and Accept are checked before anything else is done.
            self._answer(key, request, inspected.status, inspected.code, extra=inspected.headers)
        elif request.method == "OPTIONS":
            # Answered alike for every user (nothing to enumerate); one user after another
            # from one address is a sweep, and the perimeter bans it.
            if isinstance(request.uri, SipUri) and request.uri.user:
                self.perimeter.options(source.host, request.uri.user[:64], self._wall())
                self._report_guard()
            # RFC 3261 §16.3 step 3 lets the proxy answer an OPTIONS itself; with Max-Forwards
            # at zero it must not go further (RFC 4475 §3.3.11).
            if request.max_forwards == 0 and not addressed_to_server(request):
                self._answer(key, request, StatusCode.TOO_MANY_HOPS, "too_many_hops")
            else:
                self._answer(
                    key,
                    request,
                    StatusCode.OK,
                    "options",
                    extra=(("Allow", ALLOW), ("Accept", "application/sdp")),
                )
        elif request.method in ("INVITE", "MESSAGE"):
            self._route_new(request, source, key)
        elif request.method in DIALOG_METHODS:
            # These only exist inside a dialog; without a To tag there is none to find.
            self._answer(key, request, StatusCode.CALL_DOES_NOT_EXIST, "no_dialog")
        else:
            self._answer(
                key,
                request,
                StatusCode.METHOD_NOT_ALLOWED,
                "method_not_allowed",
                extra=(("Allow", ALLOW),),
            )

    def _register(self, request: Request, source: Peer, key: TransactionKey) -> None:
        if not isinstance(request.to.uri, SipUri):
            # RFC 4475 §3.3.4: the address-of-record must be a SIP or SIPS URI.
            self._answer(key, request, StatusCode.BAD_REQUEST, "aor_not_sip_uri")
            return
        auth = self._router.authenticate(request, self._wall(), source.host)
        self.auth_seen(request, source, auth)
        if isinstance(auth, Refused):
            claimed = _claimed_user(request)
            # Only the tenant's own extensions: a guesser's made-up names would otherwise fill
            # the detector's memory, one entry each.
            if (
                auth.status == StatusCode.FORBIDDEN
                and auth.tenant is not None
                and claimed is not None
                and self._router.directory().extension(auth.tenant.id, claimed) is not None
            ):
                self._router.detector.auth_failed(
                    AuthFailure(
                        tenant_id=auth.tenant.id,
                        ext=claimed,
                        source=source.host,
                        at=self._wall(),
                    )
                )
            self._refuse(key, request, auth)
            return
        if request.expires != 0:
            assessment = self._router.detector.registered(
                Registered(
                    tenant_id=auth.tenant.id,
                    ext=auth.extension.ext,
                    source=source.host,
                    at=self._wall(),
                ),
                timezone=auth.tenant.timezone,
            )
            if assessment.response is not FraudResponse.NONE:
                self._router.on_fraud(assessment)
        outcome = self._registrar.register(
            request,
            source=source,
            tenant=auth.tenant,
            extension=auth.extension,
            now=self._wall(),
            to_tag=self._token(),
        )
        tenant, ext = auth.tenant, auth.extension.ext
        log.info(
            "register",
            call_id=request.call_id,
            tenant=tenant.name,
            ext=ext,
            reason=outcome.reason,
            source=str(source),
        )
        if outcome.registrations is None:
            self._send_response(key, outcome.response)
            return
        registrations = outcome.registrations
        stored = tuple(to_stored(tenant, ext, r) for r in registrations)

        async def commit() -> None:
            try:
                await self._persistence.replace_bindings(tenant, ext, stored)
            except Exception as error:
                log.error("binding_commit_failed", tenant=tenant.name, ext=ext, error=str(error))
                self._send_response(key, make_response(request, 500, to_tag=self._token()))
                return
            self._location.replace(tenant.id, ext, registrations)
            # The gauge is refreshed by the pruning loop: counting every binding here would
            # make each REGISTER cost more as the service grows.
            self._send_response(key, outcome.response)

        self._spawn(commit())

    def _route_new(self, request: Request, source: Peer, key: TransactionKey) -> None:
        decision = self._router.route(request, source)
        if decision.alert is not None:
            self._alert(request, decision)
        if isinstance(decision, Refused):
            if decision.silence and request.method == "INVITE":
                self._hold_silent(key, request, decision)
            else:
                self._refuse(key, request, decision)
            if decision.call is not None:
                self._record(
                    self.calls.end(
                        decision.call,
                        status=decision.status,
                        reason=decision.reason,
                        now=self._wall(),
                    )
                )
            return
        log.info(
            "route",
            call_id=request.call_id,
            tenant=decision.tenant.name,
            method=request.method,
            targets=len(decision.targets),
            reason="outbound" if decision.trunk else "routed",
        )
        if decision.call is not None:
            self.calls.start(decision.call)
            self._metrics.calls.set(len(self.calls))
        headers = without_own_credentials(request, decision.tenant.domain)
        for name, value in decision.set_headers:
            headers = headers.without(name) if value is None else headers.with_value(name, value)
        proxied = self._proxy(
            key,
            replace(request, headers=headers),
            decision.targets,
            decision.tenant,
            decision.call,
            record_route=request.method == "INVITE",
            trunk=decision.trunk,
        )
        if proxied is not None:
            proxied.origin, proxied.source = request, source

    def _in_dialog(self, request: Request, source: Peer, key: TransactionKey) -> None:
        call = self.calls.get(request.call_id, request.from_.tag, request.to.tag)
        if call is None:
            # Only dialogs that were set up through us are relayed: no open relay.
            self._answer(key, request, StatusCode.CALL_DOES_NOT_EXIST, "unknown_dialog")
            return
        target = self._next_hop(request)
        if target is None:
            self._answer(key, request, StatusCode.NOT_FOUND, "unroutable_target")
            return
        original_cseq = None
        from_caller = request.from_.tag == call.from_tag
        if call.cseq_offset and from_caller:
            original_cseq = request.headers.get("CSeq")
            request = shift_cseq(request, call.cseq_offset)
        dialog = self._dialogs.get((call.call_id, call.from_tag))
        if dialog is not None:
            # The next CSeq of each direction, for a BYE the proxy may have to send itself.
            leg = dialog.callee if from_caller else dialog.caller
            leg.sent = max(leg.sent, request.cseq.number)
        proxied = self._proxy(
            key, request, (target,), None, None, record_route=False, original_cseq=original_cseq
        )
        if request.method == "BYE" and proxied is not None:
            proxied.ending_call = call

    def _on_cancel(self, cancel: Request, key: TransactionKey) -> None:
        invite_key = self._layer.find_cancelled_invite(cancel)
        if invite_key is None:
            self._answer(key, cancel, StatusCode.CALL_DOES_NOT_EXIST, "unknown_transaction")
            return
        # RFC 3261 §16.10: answer the CANCEL with 200, then cancel every pending branch.
        self._answer(key, cancel, StatusCode.OK, "cancelled")
        silenced = self._silenced.pop(invite_key, None)
        if silenced is not None:
            self._answer(invite_key, silenced[0], StatusCode.REQUEST_TERMINATED, "cancelled")
            return
        proxied = self._by_server.get(invite_key)
        if proxied is None:
            return
        for branch in proxied.context.pending():
            if isinstance(branch, TransactionKey):
                self._cancel_branch(proxied, branch)

    # -- proxying -------------------------------------------------------------------------------

    def _proxy(
        self,
        key: TransactionKey,
        request: Request,
        targets: tuple[Target, ...],
        tenant: Tenant | None,
        call: CallState | None,
        *,
        record_route: bool,
        trunk: Trunk | None = None,
        original_cseq: str | None = None,
    ) -> _Proxied | None:
        proxied = _Proxied(
            server=key,
            request=request,
            context=ResponseContext(request=request),
            trunk=trunk,
            original_cseq=original_cseq,
            tenant=tenant,
            call=call,
        )
        self._by_server[key] = proxied
        now = self._mono()
        for planned in targets:
            target = self._reachable(planned)
            host, port = self._advertised.get(
                target.peer.transport.upper(), self._advertised["UDP"]
            )
            via = Via(
                transport=target.peer.transport.upper(),
                host=host,
                port=port,
                params=(("rport", None),),
            )
            copy = forward_request(
                request,
                target=target.uri,
                via=via,
                branch=make_branch(self._token(), request),
                identity=self._identity,
                record_route=False,
            ).request
            if record_route:
                copy = self._record_route(copy, request, target.peer)
            try:
                branch_key, effects = self._layer.send_request(copy, target.peer, now)
            except TransactionError as error:
                log.error("branch_failed", call_id=request.call_id, error=str(error))
                continue
            proxied.context.add_branch(branch_key)
            proxied.branches[branch_key] = (copy, target.peer)
            self._by_client[branch_key] = proxied
            self._run(effects)
        if not proxied.branches:
            self._answer(key, request, StatusCode.SERVICE_UNAVAILABLE, "no_branch")
            return None
        return proxied

    def _reachable(self, target: Target) -> Target:
        """A phone registered over TCP or TLS is reached on its connection; when that is gone
        (it closed, or we restarted), at the address in its Contact (RFC 5626 §4.2.1 aside)."""
        if self._wire.has_flow(target.peer) or not isinstance(target.uri, SipUri):
            return target
        uri = target.uri
        if not is_ip(uri.host):
            return target
        transport = (uri.transport or target.peer.transport).upper()
        port = uri.port or (5061 if transport == "TLS" else 5060)
        return Target(uri=uri, peer=Peer(transport=transport, host=uri.host.strip("[]"), port=port))

    def _record_route(self, copy: Request, original: Request, out_peer: Peer) -> Request:
        """RFC 3261 §16.6 step 4, doubled (RFC 5658) when the two sides use different transports,
        so each side's in-dialog requests come back on its own transport."""
        in_transport = original.top_via.transport
        values = [self._rr_uri(out_peer.transport)]
        if in_transport != out_peer.transport.upper():
            values.append(self._rr_uri(in_transport))
        headers = copy.headers
        for value in reversed(values):
            headers = headers.with_added("Record-Route", f"<{value}>", first=True)
        return replace(copy, headers=headers)

    def _rr_uri(self, transport: str) -> SipUri:
        name = transport.upper()
        host, port = self._advertised.get(name, self._advertised["UDP"])
        params: tuple[tuple[str, str | None], ...] = (("lr", None),)
        if name != "UDP":
            params = (("transport", name.lower()), ("lr", None))
        return SipUri(host=host, port=port, params=params)

    def _cancel_branch(self, proxied: _Proxied, branch: TransactionKey) -> None:
        if branch not in proxied.provisional:
            # RFC 3261 §9.1: no CANCEL before a provisional response; send it when one comes.
            proxied.cancel_wanted.add(branch)
            return
        invite, peer = proxied.branches[branch]
        cancel = cancel_for(invite)
        try:
            _, effects = self._layer.send_request(cancel, peer, self._mono())
        except TransactionError:
            return  # already cancelled
        self._run(effects)

    def _on_response(self, response: Response, key: TransactionKey | None) -> None:
        if key is None:
            self._forward_stray(response)
            return
        proxied = self._by_client.get(key)
        if proxied is None:
            return
        if response.status in (401, 407) and self._answer_trunk_challenge(proxied, key, response):
            return
        if response.status < 200:
            proxied.provisional.add(key)
            if key in proxied.cancel_wanted:
                proxied.cancel_wanted.discard(key)
                self._cancel_branch(proxied, key)
        elif (
            200 <= response.status < 300
            and proxied.call is not None
            and proxied.request.method == "INVITE"
        ):
            self.calls.answered(proxied.call.call_id, proxied.call.from_tag, self._wall())
            self._keep_dialog(proxied, key, response)
        decision = proxied.context.on_response(key, response)
        for branch in decision.cancel:
            if isinstance(branch, TransactionKey):
                self._cancel_branch(proxied, branch)
        if decision.forward is not None:
            self._upstream(proxied, decision.forward)

    def _answer_trunk_challenge(
        self, proxied: _Proxied, key: TransactionKey, response: Response
    ) -> bool:
        """A trunk's gateway challenged our copy: send it again with the trunk's credentials
        (RFC 3261 §22.2), once. The retry takes the next CSeq (§8.1.3.5), so the dialog's CSeq
        on the gateway side runs one ahead from then on."""
        trunk = proxied.trunk
        if trunk is None or not trunk.username or key in proxied.authenticated:
            return False
        try:
            offered = (
                response.www_authenticate if response.status == 401 else response.proxy_authenticate
            )
        except ParseError:
            return False
        usable = [c for c in offered if c.algorithm in (Algorithm.MD5, Algorithm.SHA_256)]
        if not usable:
            return False
        challenge = usable[0]
        invite, peer = proxied.branches[key]
        ha1 = compute_ha1(
            username=trunk.username,
            realm=challenge.realm,
            password=trunk.password or "",
            algorithm=challenge.algorithm,
        )
        credentials = build_credentials(
            challenge=challenge,
            method=invite.method,
            uri=invite.request_uri,
            username=trunk.username,
            ha1=ha1,
            cnonce=self._token(),
            nc=1,
        )
        header = "Authorization" if response.status == 401 else "Proxy-Authorization"
        via = invite.top_via.with_params(branch=make_branch(self._token(), proxied.request))
        headers = (
            invite.headers.without_first_element("Via")
            .with_added("Via", str(via), first=True)
            .with_value("CSeq", f"{invite.cseq.number + 1} {invite.method}")
            .with_added(header, credentials.to_header_value())
        )
        retry = replace(invite, headers=headers)
        proxied.context.retire(key)
        log.info("trunk_auth", call_id=invite.call_id, trunk=trunk.name, realm=challenge.realm)

        async def send_retry() -> None:
            # After this turn of the loop, so that the transaction's ACK for the challenge
            # leaves before the new INVITE (gateways expect that order).
            try:
                new_key, effects = self._layer.send_request(retry, peer, self._mono())
            except TransactionError as error:
                log.error("trunk_auth_failed", call_id=invite.call_id, error=str(error))
                self._upstream(proxied, make_response(proxied.request, 503, to_tag=self._token()))
                return
            proxied.context.add_branch(new_key)
            proxied.branches[new_key] = (retry, peer)
            proxied.authenticated.add(new_key)
            self._by_client[new_key] = proxied
            if proxied.call is not None:
                self.calls.shift_cseq(proxied.call.call_id, proxied.call.from_tag, 1)
            self._run(effects)

        self._spawn(send_retry())
        return True

    def _on_branch_failed(self, key: TransactionKey, *, unreachable: bool) -> None:
        """Timer B/F (no answer) or a transport error (nobody there) on one branch."""
        proxied = self._by_client.get(key)
        if proxied is None:
            return
        if unreachable:
            proxied.unreachable.add(key)
        decision = proxied.context.on_timeout(key)
        forward = decision.forward
        if (
            forward is not None
            and forward.status == 408
            and proxied.unreachable >= set(proxied.branches)
        ):
            # Every branch failed at the transport: the phone is gone, not silent. RFC 3261
            # §8.1.3.1 treats a transport error as a 503, which a proxy turns into a 5xx; the
            # caller learns more from 480 Temporarily Unavailable, as for an unregistered phone.
            forward = make_response(proxied.request, 480, to_tag=self._token())
        if forward is not None:
            self._upstream(proxied, forward)

    def _upstream(self, proxied: _Proxied, response: Response) -> None:
        if proxied.original_cseq is not None:
            response = replace(
                response, headers=response.headers.with_value("CSeq", proxied.original_cseq)
            )
        final = response.status >= 200
        if final and proxied.ending_call is not None:
            call, proxied.ending_call = proxied.ending_call, None
            self._dialogs.pop((call.call_id, call.from_tag), None)
            record = self.calls.end(call, status=StatusCode.OK, reason=None, now=self._wall())
            self._metrics.calls.set(len(self.calls))

            async def commit_then_answer() -> None:
                await self._commit_record(record)
                self._send_response(proxied.server, response)

            self._spawn(commit_then_answer())
            return
        if final and proxied.call is not None and not 200 <= response.status < 300:
            record = self.calls.end(
                proxied.call,
                status=response.status,
                reason=reason_for(response.status),
                now=self._wall(),
            )
            self._metrics.calls.set(len(self.calls))
            self._record(record)
        self._send_response(proxied.server, response)

    # -- calls the proxy ends itself ----------------------------------------------------------

    def _keep_dialog(self, proxied: _Proxied, key: TransactionKey, answer: Response) -> None:
        call = proxied.call
        if call is None or proxied.origin is None or proxied.source is None:
            return
        ident = (call.call_id, call.from_tag)
        if ident in self._dialogs or key not in proxied.branches:
            return  # a retransmitted 2xx, or a second branch answering (the first one won)
        copy, peer = proxied.branches[key]
        dialog = dialog_from_answer(
            original=proxied.origin,
            source=proxied.source,
            copy=copy,
            copy_peer=peer,
            answer=answer,
            is_us=self._identity.indicates_us,
        )
        if dialog is not None:
            self._dialogs[ident] = dialog

    def end_call(self, call_id: str, from_tag: str, reason: str) -> bool:
        """End a call in progress from the proxy: BYE on both legs of an answered call,
        CANCEL toward the callee of one still ringing. The call record gets ``reason``.
        Returns whether there was such a call."""
        state = self.calls.get(call_id, from_tag, None)
        if state is None:
            return False
        dialog = self._dialogs.pop((state.call_id, state.from_tag), None)
        now = self._mono()
        if dialog is None:
            for proxied in list(self._by_server.values()):
                if proxied.call is not None and proxied.call.call_id == call_id:
                    for branch in proxied.context.pending():
                        if isinstance(branch, TransactionKey):
                            self._cancel_branch(proxied, branch)
            log.warning("call_cancelled", call_id=call_id, reason=reason)
            return True
        for leg in (dialog.caller, dialog.callee):
            transport = leg.peer.transport.upper()
            host, port = self._advertised.get(transport, self._advertised["UDP"])
            via = Via(
                transport=transport,
                host=host,
                port=port,
                params=(("branch", make_branch(self._token())), ("rport", None)),
            )
            bye = bye_for(dialog, leg, via=via, reason=reason)
            try:
                _, effects = self._layer.send_request(bye, leg.peer, now)
            except TransactionError as error:
                log.error("bye_failed", call_id=call_id, error=str(error))
                continue
            self._run(effects)
        record = self.calls.end(state, status=StatusCode.OK, reason=reason, now=self._wall())
        self._metrics.calls.set(len(self.calls))
        self._record(record)
        log.warning(
            "call_ended",
            call_id=call_id,
            tenant_id=state.tenant_id,
            caller=state.caller,
            callee=state.callee,
            reason=reason,
            cost=str(record.cost) if record.cost is not None else None,
        )
        return True

    def police_calls(self, lookahead: float = BUDGET_LOOKAHEAD) -> int:
        """Called every second: end the answered calls that would take their tenant or
        extension across a spend budget before the next look. Returns how many it ended."""
        router = self._router
        directory = router.directory()
        breaches = budget_breaches(
            self.calls.priced(self._wall()),
            spent=self.calls.ledger.spend,
            limits=lambda tenant_id, ext: directory.usage_limits(TenantId(tenant_id), ext),
            lookahead=lookahead,
        )
        for call, why in breaches:
            log.warning("budget_watch", call_id=call.key[0], reason="budget_exceeded", detail=why)
            self.end_call(call.key[0], call.key[1], "budget_exceeded")
        return len(breaches)

    # -- stateless forwarding ---------------------------------------------------------------------

    def _forward_stateless(self, request: Request) -> None:
        """An ACK to a 2xx travels end to end, outside any transaction (RFC 3261 §16.11)."""
        call = self.calls.get(request.call_id, request.from_.tag, request.to.tag)
        if call is None:
            return
        if call.cseq_offset and request.from_.tag == call.from_tag:
            request = shift_cseq(request, call.cseq_offset)
        request = self._strip_own_routes(request)
        target = self._next_hop(request)
        if target is None:
            return
        host, port = self._advertised.get(target.peer.transport.upper(), self._advertised["UDP"])
        branch = make_branch("s" + str(abs(hash((request.top_via.branch, request.call_id)))))
        via = Via(transport=target.peer.transport.upper(), host=host, port=port)
        copy = forward_request(
            request,
            target=request.uri,
            via=via,
            branch=branch,
            identity=self._identity,
            record_route=False,
        ).request
        self._wire.send(copy, target.peer, lambda: None)

    def _forward_stray(self, response: Response) -> None:
        """A 2xx retransmission whose client transaction is gone is forwarded by its Via."""
        if not 200 <= response.status < 300 or response.cseq.method != "INVITE":
            return
        upstream = strip_top_via(response)
        if upstream is None or not response_destination_is_safe(upstream):
            return  # RFC 4475 §3.3.10: never towards a broadcast or multicast address
        via = upstream.top_via
        host = via.received or via.host
        port = via.rport or via.port or 5060
        self._wire.send(upstream, Peer(transport=via.transport, host=host, port=port), lambda: None)

    # -- helpers ----------------------------------------------------------------------------------

    def _strip_own_routes(self, request: Request) -> Request:
        routes = request.routes
        while routes and self._identity.indicates_us(routes[0].uri):
            request = replace(request, headers=request.headers.without_first_element("Route"))
            routes = request.routes
        return request

    def _next_hop(self, request: Request) -> Target | None:
        """Where an in-dialog request goes: the first Route, else the Request-URI, sent to the
        registered flow of the phone that owns that contact when there is one (NAT)."""
        routes = request.routes
        uri = routes[0].uri if routes else request.uri
        if not isinstance(uri, SipUri):
            return None
        registered = self._location.find_contact(request.uri, self._wall()) if not routes else None
        if registered is not None:
            return self._reachable(Target(uri=request.uri, peer=registered))
        if not is_ip(uri.host):
            return None
        transport = (uri.transport or ("tls" if uri.secure else "udp")).upper()
        port = uri.port or (5061 if transport == "TLS" else 5060)
        return Target(
            uri=request.uri, peer=Peer(transport=transport, host=uri.host.strip("[]"), port=port)
        )

    def _answer(
        self,
        key: TransactionKey,
        request: Request,
        status: int,
        reason: str,
        *,
        extra: tuple[tuple[str, str], ...] = (),
        public: bool = True,
        logged: bool = False,
    ) -> None:
        headers = list(extra)
        if status >= 300 and public:
            host = self._advertised["UDP"][0]
            headers.append(("Warning", f'399 {host} "{reason}"'))
        response = make_response(request, status, to_tag=self._token(), extra=headers)
        if not logged:
            log.info(
                "answer",
                call_id=request.call_id,
                method=request.method,
                status=int(status),
                reason=reason,
            )
        self._send_response(key, response)

    def _refuse(
        self, key: TransactionKey, request: Request, refusal: Refused, *, logged: bool = False
    ) -> None:
        if not logged:
            self._log_refusal(request, refusal)
        shown = f"{refusal.reason}: {refusal.detail}" if refusal.detail else refusal.reason
        self._answer(
            key,
            request,
            refusal.status,
            shown.replace('"', "'").replace("\\", "/"),
            extra=refusal.headers,
            public=refusal.public,
            logged=True,
        )

    def _log_refusal(self, request: Request, refusal: Refused) -> None:
        log.info(
            "refused",
            call_id=request.call_id,
            tenant=refusal.tenant.name if refusal.tenant else None,
            method=request.method,
            status=int(refusal.status),
            reason=refusal.reason,
            detail=refusal.detail or None,
        )

    def _hold_silent(self, key: TransactionKey, request: Request, refusal: Refused) -> None:
        """A blocked caller's "silence": nothing but the transaction's 100 Trying, then a 480
        after a while, unless the caller cancels first (487)."""
        self._log_refusal(request, refusal)
        self._silenced[key] = (request, refusal)

        async def later() -> None:
            await asyncio.sleep(self._silence_seconds)
            if self._silenced.pop(key, None) is not None:
                self._refuse(key, request, refusal, logged=True)

        self._spawn(later())

    def _alert(self, request: Request, decision: Routed | Refused) -> None:
        """An event an operator must hear of, such as an emergency call; the notification
        channels of the fraud issue pick these log events up."""
        call = decision.call
        log.warning(
            "alert",
            alert=decision.alert,
            call_id=request.call_id,
            tenant=decision.tenant.name if decision.tenant else None,
            caller=call.caller if call else None,
            callee=call.callee if call else None,
            routed=isinstance(decision, Routed),
        )

    def _send_response(self, key: TransactionKey, response: Response) -> None:
        try:
            effects = self._layer.send_response(key, response, self._mono())
        except TransactionError as error:
            log.debug("late_response", transaction=str(key), error=str(error))
            return
        self._run(effects)

    def _record(self, record: CallRecord) -> None:
        self._spawn(self._commit_record(record))

    async def _commit_record(self, record: CallRecord) -> None:
        try:
            await self._persistence.add_call_record(record)
        except Exception as error:
            log.error("call_record_failed", call_id=record.call_id, error=str(error))


_AUTHENTICATED_METHODS = frozenset({"REGISTER", "INVITE", "MESSAGE"})


def _claimed_user(request: Request) -> str | None:
    """The username a request's credentials claim (Authorization for a REGISTER,
    Proxy-Authorization for the rest)."""
    try:
        credentials = (
            request.authorization if request.method == "REGISTER" else request.proxy_authorization
        )
    except ParseError:
        return None
    for creds in credentials:
        username = creds.param("username")
        if username:
            return username[:64]
    return None


def _named_user(request: Request) -> str | None:
    """The user a request without credentials is about: the address-of-record of a REGISTER,
    the caller (From) of anything else."""
    try:
        uri = request.to.uri if request.method == "REGISTER" else request.from_.uri
    except ParseError:
        return None
    user = uri.user if isinstance(uri, SipUri) else None
    return user[:64] if user else None
