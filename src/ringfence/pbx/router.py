"""Where a new out-of-dialog request goes: the chain of steps of DESIGN.md §1.

tenant of request -> authenticate -> classify (internal / outbound / inbound) -> policy ->
locate. Each step either continues or answers with a :class:`Refused` that carries a reason
code. Every call to a trunk goes through :meth:`Router.leave`, which asks the call policy
first; inbound calls from a trunk pass the tenant's blocked-caller rules before any phone
rings. The fraud and identity steps join the chain with their issues. REGISTER is answered by
:mod:`ringfence.pbx.registrar` after the same tenant and authentication steps.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from ipaddress import ip_address

from ringfence.accounts import Directory, Extension, Tenant, TenantId, Trunk, caller_id_for
from ringfence.errors import ParseError
from ringfence.fraud import (
    BUDGET_LOOKAHEAD,
    Assessment,
    Detector,
    OutboundAttempt,
    Response,
    Usage,
    UsageVerdict,
    check_usage,
    periods,
)
from ringfence.pbx.auth import Authenticator, AuthVerdict
from ringfence.pbx.calls import CallState, CallTracker
from ringfence.pbx.location import LocationStore
from ringfence.policy import (
    BlockTreatment,
    Decision,
    Destination,
    DestinationKind,
    NumberType,
    check_inbound,
    check_outbound,
    normalise,
)
from ringfence.sip.effects import Peer
from ringfence.sip.message import Request
from ringfence.sip.sdp import parse_sdp
from ringfence.sip.status import StatusCode
from ringfence.sip.uri import SipUri, TelUri, Uri

__all__ = ["Authenticated", "Refused", "Routed", "Router", "Target"]

_DIALLED = re.compile(r"\+?[0-9]{3,15}")
_VISUAL = re.compile(r"[\-.() ]")


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """One branch: the Request-URI to put in the copy and the peer to send it to."""

    uri: Uri
    peer: Peer


@dataclass(frozen=True, slots=True, kw_only=True)
class Refused:
    """A final answer instead of routing. ``reason`` is the reason code for logs and records,
    ``detail`` a sentence for the log; ``public`` says whether the reason may be shown to the
    caller (in a Warning header): only to a phone of the tenant itself. ``silence`` holds the
    answer back (a blocked caller's "silence" treatment). ``alert`` names an event an operator
    must hear of (an emergency call that could not go out)."""

    status: StatusCode
    reason: str
    detail: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    public: bool = True
    tenant: Tenant | None = None
    call: CallState | None = None
    silence: bool = False
    alert: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Routed:
    """Fork to ``targets``; ``set_headers`` replace fields of the forwarded copies (outbound
    caller ID; ``None`` removes the field); ``call`` is the call attempt to record; ``alert``
    names an event an operator must hear of (``emergency_call``)."""

    tenant: Tenant
    targets: tuple[Target, ...]
    call: CallState | None
    set_headers: tuple[tuple[str, str | None], ...] = ()
    trunk: Trunk | None = None
    alert: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Authenticated:
    """The tenant and extension a request authenticated as (REGISTER goes on to the registrar)."""

    tenant: Tenant
    extension: Extension


@dataclass
class Router:
    """Decides, for each new request, who sent it and where it goes."""

    directory: Callable[[], Directory]
    location: LocationStore
    authenticator: Authenticator
    wall_clock: Callable[[], float]
    local_hosts: frozenset[str] = field(default_factory=frozenset)
    #: The live calls and the usage ledger, for the throttles (the engine shares them).
    calls: CallTracker = field(default_factory=CallTracker)
    #: The anomaly detector, and who acts on what it says (records the incident, notifies,
    #: ends calls); both shared with the engine.
    detector: Detector = field(default_factory=Detector)
    on_fraud: Callable[[Assessment], None] = field(default=lambda _: None)
    #: A correct PIN was given: the service lifts the PIN hold (tenant id, extension).
    on_pin: Callable[[int, str], None] = field(default=lambda _t, _e: None)
    #: What authentication made of a new INVITE or MESSAGE, for the perimeter.
    on_auth: Callable[[Request, Peer, Authenticated | Refused], None] = field(
        default=lambda _r, _s, _a: None
    )

    # -- the tenant and authentication steps -----------------------------------------------------

    def tenant_of(self, request: Request) -> Tenant | None:
        """The tenant a phone's request belongs to: the domain of its Request-URI (REGISTER) or
        of its From (every other request, since the Request-URI may name the callee anywhere)."""
        directory = self.directory()
        uri = request.uri if request.method == "REGISTER" else request.from_.uri
        if not isinstance(uri, SipUri):
            return None
        return directory.tenant_by_domain(uri.host)

    def authenticate(
        self, request: Request, now: float, source: str | None = None
    ) -> Authenticated | Refused:
        """Digest authentication in the tenant's realm; then, for a phone that got in from
        ``source``, its source ACL (``acl set``): from outside it, the right password is
        refused exactly as a wrong one is, and counts as a failed login."""
        tenant = self.tenant_of(request)
        directory = self.directory()
        if tenant is None:
            # A domain nobody hosts is challenged like any other, and any answer is a wrong
            # password (checked against nothing, at the same cost): which domains exist is not
            # told apart either.
            domain = _domain_of(request)
            if domain is None:
                return Refused(status=StatusCode.FORBIDDEN, reason="unknown_domain", public=False)
            stranger = Tenant(id=_NOBODY, name="", domain=domain, created_at=0.0)
            result = self.authenticator.check(request, stranger, directory, now)
            if result.verdict in (AuthVerdict.CHALLENGE, AuthVerdict.STALE):
                return Refused(
                    status=result.status,
                    reason="unknown_domain",
                    headers=result.headers,
                    public=False,
                )
            return Refused(status=StatusCode.FORBIDDEN, reason="unknown_domain", public=False)
        result = self.authenticator.check(request, tenant, directory, now)
        if result.verdict is AuthVerdict.ACCEPTED and result.extension is not None:
            if source is not None and not directory.may_connect_from(
                tenant.id, result.extension.ext, source
            ):
                return Refused(
                    status=StatusCode.FORBIDDEN,
                    reason="source_not_allowed",
                    public=False,
                    tenant=tenant,
                )
            return Authenticated(tenant=tenant, extension=result.extension)
        if result.verdict in (AuthVerdict.CHALLENGE, AuthVerdict.STALE):
            return Refused(
                status=result.status,
                reason=result.reason,
                headers=result.headers,
                public=False,
                tenant=tenant,
            )
        return Refused(
            status=StatusCode.FORBIDDEN, reason=result.reason, public=False, tenant=tenant
        )

    # -- new calls and messages ---------------------------------------------------------------

    def route(self, request: Request, source: Peer) -> Routed | Refused:
        """Route a new INVITE or MESSAGE."""
        directory = self.directory()
        trunk = directory.trunk_for_source(source.host)
        if trunk is not None:
            return self._inbound(request, trunk, directory)
        auth = self.authenticate(request, self.wall_clock(), source.host)
        self.on_auth(request, source, auth)
        if isinstance(auth, Refused):
            return auth
        tenant, caller = auth.tenant, auth.extension
        now = self.wall_clock()
        uri = request.uri
        user = _user_of(uri)
        rules = directory.policy.rules(
            tenant.id,
            country=tenant.country,
            ext=caller.ext,
            encryption_required=tenant.encryption_required,
            timezone=tenant.timezone,
        )

        def refuse(status: StatusCode, reason: str, detail: str = "") -> Refused:
            # Every attempt past authentication leaves a call record, refused ones included.
            call = self._call(
                request,
                tenant=tenant,
                caller=caller.ext,
                callee=user or "",
                direction="internal",
                now=now,
            )
            return Refused(status=status, reason=reason, detail=detail, tenant=tenant, call=call)

        from_uri = request.from_.uri
        if not isinstance(from_uri, SipUri) or from_uri.user_unescaped != caller.ext:
            # A phone may only call as itself (caller ID spoofing inside the tenant).
            return refuse(StatusCode.FORBIDDEN, "from_not_authenticated_user")
        if user is None:
            return refuse(StatusCode.NOT_FOUND, "no_user")
        destination = normalise(user, tenant.country)
        leaves = destination.kind in (DestinationKind.NUMBER, DestinationKind.EMERGENCY)
        host = uri.host.lower() if isinstance(uri, SipUri) else tenant.domain
        owner = directory.tenant_by_domain(host)
        if owner is not None and owner.id != tenant.id:
            return refuse(StatusCode.FORBIDDEN, "cross_tenant")
        if owner is None and host not in self.local_hosts and not leaves:
            return refuse(StatusCode.FORBIDDEN, "relay_denied")
        if rules.encryption_required and request.method == "INVITE" and not _offers_srtp(request):
            # The "encryption required" setting: media must be SRTP (RFC 4568), so an offer
            # without RTP/SAVP is refused as unacceptable here.
            return refuse(
                StatusCode.NOT_ACCEPTABLE_HERE, "encryption_required", "the offer has no SRTP"
            )
        # An emergency number goes out even where an extension has the same digits.
        callee = (
            None
            if destination.kind is DestinationKind.EMERGENCY
            else (directory.extension(tenant.id, user))
        )
        if callee is not None:
            call = self._call(
                request,
                tenant=tenant,
                caller=caller.ext,
                callee=callee.ext,
                direction="internal",
                now=now,
            )
            return self._to_extension(tenant, callee.ext, call, now)
        if leaves or (destination.kind is DestinationKind.INVALID and _is_dialled(user)):
            return self.leave(
                request,
                tenant=tenant,
                caller=caller,
                dialled=user,
                directory=directory,
                now=now,
                source=source.host,
            )
        return refuse(StatusCode.NOT_FOUND, "unknown_extension")

    def _to_extension(
        self, tenant: Tenant, ext: str, call: CallState | None, now: float
    ) -> Routed | Refused:
        registrations = self.location.lookup(tenant.id, ext, now)
        if not registrations:
            return Refused(
                status=StatusCode.TEMPORARILY_UNAVAILABLE,
                reason="not_registered",
                tenant=tenant,
                call=call,
            )
        targets = tuple(Target(uri=r.binding.contact.uri, peer=r.source) for r in registrations)
        return Routed(tenant=tenant, targets=targets, call=call)

    def leave(
        self,
        request: Request,
        *,
        tenant: Tenant,
        caller: Extension,
        dialled: str,
        directory: Directory,
        now: float,
        source: str = "",
    ) -> Routed | Refused:
        """The one way out to a trunk. Dialling uses it today; forwarding, transfer and
        voicemail call-back must call it too. No other code builds a trunk target: the call
        policy (:func:`ringfence.policy.check_outbound`) decides first, every time."""
        rules = directory.policy.rules(
            tenant.id,
            country=tenant.country,
            ext=caller.ext,
            encryption_required=tenant.encryption_required,
            timezone=tenant.timezone,
        )
        owned = directory.numbers_of(tenant.id)
        preferred = _preferred_identity(request, tenant.country)
        presented = preferred or caller_id_for(owned, caller.ext)
        destination, decision = check_outbound(
            dialled,
            rules,
            now,
            presented=presented,
            owned_numbers=frozenset(n.e164 for n in owned),
        )
        number = destination.e164 or destination.dialled
        call = self._call(
            request, tenant=tenant, caller=caller.ext, callee=number, direction="outbound", now=now
        )
        international = destination.country not in ("", tenant.country)
        if not decision.allowed:
            if destination.kind is DestinationKind.NUMBER and request.method == "INVITE":
                # An attempt the policy refused still tells the detector something: an
                # attacker probes for the destinations that are open.
                self._assess(
                    _attempt(
                        request,
                        tenant=tenant,
                        ext=caller.ext,
                        destination=destination,
                        decision=decision,
                        source=source,
                        now=now,
                        allowed=False,
                    )
                )
            return Refused(
                status=_status(decision.status),
                reason=decision.reason,
                detail=decision.detail,
                tenant=tenant,
                call=call,
            )
        trunks = directory.trunks(tenant.id)
        if not trunks:
            return Refused(
                status=StatusCode.SERVICE_UNAVAILABLE,
                reason="no_trunk",
                tenant=tenant,
                call=call,
                alert=decision.alert,
            )
        if presented is None:
            if decision.alert is None:
                return Refused(
                    status=StatusCode.FORBIDDEN, reason="no_caller_id", tenant=tenant, call=call
                )
            presented = caller.ext  # an emergency call goes out even without a number
        trunk = trunks[0]
        if call is not None:
            rate = decision.rate
            call = replace(
                call,
                trunk_id=trunk.id,
                international=international,
                price=rate.price if rate is not None else None,
                currency=rate.currency if rate is not None else None,
                timezone=tenant.timezone,
            )
        if decision.alert is None and request.method == "INVITE":
            # Throttles hold every call out except an emergency call.
            verdict = self._throttle(
                tenant=tenant,
                ext=caller.ext,
                destination=destination,
                decision=decision,
                trunk=trunk,
                now=now,
            )
            if not verdict.allowed:
                return Refused(
                    status=StatusCode.FORBIDDEN,
                    reason=verdict.reason,
                    detail=verdict.detail,
                    tenant=tenant,
                    call=call,
                )
            refusal = self._fraud_step(
                request,
                tenant=tenant,
                caller=caller,
                destination=destination,
                decision=decision,
                source=source,
                now=now,
                international=international,
                directory=directory,
            )
            if refusal is not None:
                return replace(refusal, call=call)
        target = SipUri(
            user=number,
            host=trunk.host,
            port=trunk.port,
            params=(("transport", trunk.transport),) if trunk.transport != "udp" else (),
        )
        peer = Peer(transport=trunk.transport.upper(), host=trunk.host, port=trunk.port)
        identity = f"<sip:{presented}@{tenant.domain};user=phone>"
        tag = request.from_.tag or ""
        display = caller.display_name
        shown = f'"{display}" ' if display else ""
        # Outbound From and P-Asserted-Identity carry a number the tenant owns (RFC 3325); the
        # phone's P-Preferred-Identity was checked against the tenant's numbers and goes no
        # further (RFC 3325 §9.2: a proxy removes it when it inserts P-Asserted-Identity).
        if _withheld(request):
            # RFC 3323 §4.1.1.3: the caller asked for privacy, so From is anonymous; the
            # asserted identity travels with the Privacy header for the carrier to honour.
            shown, identity_from = '"Anonymous" ', "<sip:anonymous@anonymous.invalid>"
        else:
            identity_from = identity
        set_headers = (
            ("From", f"{shown}{identity_from};tag={tag}"),
            ("P-Asserted-Identity", identity),
            ("P-Preferred-Identity", None),
        )
        return Routed(
            tenant=tenant,
            targets=(Target(uri=target, peer=peer),),
            call=call,
            set_headers=set_headers,
            trunk=trunk,
            alert=decision.alert,
        )

    def _assess(self, attempt: OutboundAttempt) -> Assessment:
        assessment = self.detector.assess(attempt)
        if assessment.response is not Response.NONE or assessment.end_calls:
            self.on_fraud(assessment)
        return assessment

    def _fraud_step(
        self,
        request: Request,
        *,
        tenant: Tenant,
        caller: Extension,
        destination: Destination,
        decision: Decision,
        source: str,
        now: float,
        international: bool,
        directory: Directory,
    ) -> Refused | None:
        """The anomaly detector's say on a call the policy and the throttles let through: it
        goes, it needs the extension's PIN first, or it is refused because the extension (or
        the tenant) is contained. Holds recorded in the store (by another node, or before a
        restart) count as well as the detector's own."""
        held = directory.hold(tenant.id, caller.ext) if international else Response.NONE
        if held is Response.CONTAIN or (
            international and self.detector.level(tenant.id, caller.ext) is Response.CONTAIN
        ):
            return _contained(tenant)  # a PIN does not lift a containment: an admin does
        attempt = _attempt(
            request,
            tenant=tenant,
            ext=caller.ext,
            destination=destination,
            decision=decision,
            source=source,
            now=now,
            allowed=True,
        )
        pin_due = held is Response.PIN or self.detector.level(tenant.id, caller.ext) is Response.PIN
        if international and pin_due and self.authenticator.carries_pin(request, tenant):
            # The INVITE answers the PIN challenge: the PIN decides, and a call let out on it
            # is tracked (its cost counts, a containment ends it) but not scored again.
            refusal = self._pin_step(request, tenant=tenant, caller=caller, attempt=attempt)
            if refusal is None:
                self.detector.admit(attempt)
            return refusal
        assessment = self._assess(attempt)
        if assessment.blocked:
            return Refused(
                status=StatusCode.FORBIDDEN,
                reason="fraud_blocked_range",
                detail="the number rang in a wave of one-ring calls; calling it back is refused",
                tenant=tenant,
            )
        if assessment.refuse and not assessment.pin:
            return _contained(tenant)
        if international and (assessment.pin or held is Response.PIN):
            return self._pin_step(request, tenant=tenant, caller=caller, attempt=attempt)
        return None

    def _pin_step(
        self, request: Request, *, tenant: Tenant, caller: Extension, attempt: OutboundAttempt
    ) -> Refused | None:
        """The extension's PIN, asked for by a digest challenge in its own realm (with a fresh
        challenge of the tenant's realm beside it, since that nonce was just used). A wrong
        PIN is the detector's to count: the PIN is not there to be guessed."""
        now = attempt.at
        if not caller.pin_ha1_md5:
            return Refused(
                status=StatusCode.FORBIDDEN,
                reason="pin_required",
                detail="international calls need the extension's PIN, and it has none",
                tenant=tenant,
            )
        result = self.authenticator.check_pin(request, tenant, caller, now)
        if result.verdict is AuthVerdict.ACCEPTED:
            self.detector.pin_given(tenant.id, caller.ext, now)
            self.on_pin(tenant.id, caller.ext)
            return None
        if result.verdict in (AuthVerdict.CHALLENGE, AuthVerdict.STALE):
            return Refused(
                status=result.status,
                reason="pin_required",
                detail="give the extension's PIN",
                headers=result.headers,
                tenant=tenant,
            )
        found = self.detector.pin_wrong(attempt)
        if found.response is not Response.NONE or found.end_calls:
            self.on_fraud(found)
        return Refused(
            status=StatusCode.FORBIDDEN,
            reason="pin_wrong",
            detail="the PIN was not accepted",
            tenant=tenant,
            public=False,
        )

    def _throttle(
        self,
        *,
        tenant: Tenant,
        ext: str,
        destination: Destination,
        decision: Decision,
        trunk: Trunk,
        now: float,
    ) -> UsageVerdict:
        directory = self.directory()
        calls = self.calls
        international = destination.country != tenant.country
        minute, hour, intl_minute = calls.ledger.rates(tenant.id, ext, now)
        spent = calls.ledger.spend(tenant.id, ext, periods(now, tenant.timezone))
        running_tenant, running_ext = calls.running_cost(tenant.id, ext, now)
        usage = Usage(
            concurrent_extension=calls.outbound("ext", tenant.id, ext),
            concurrent_tenant=calls.outbound("tenant", tenant.id),
            concurrent_trunk=calls.outbound("trunk", trunk.id),
            intl_concurrent_extension=calls.outbound("intl-ext", tenant.id, ext),
            intl_concurrent_tenant=calls.outbound("intl-tenant", tenant.id),
            calls_last_minute=minute,
            calls_last_hour=hour,
            intl_calls_last_minute=intl_minute,
            spent_today_tenant=spent[0] + running_tenant,
            spent_month_tenant=spent[1] + running_tenant,
            spent_today_extension=spent[2] + running_ext,
            spent_month_extension=spent[3] + running_ext,
        )
        rate = decision.rate
        paid = rate is not None and rate.price > 0
        return check_usage(
            usage=usage,
            tenant=directory.usage_limits(tenant.id),
            extension=directory.usage_limits(tenant.id, ext),
            international=international,
            paid=paid,
            reserve=(
                rate.price / 60 * Decimal(str(BUDGET_LOOKAHEAD))
                if rate is not None and paid
                else Decimal(0)
            ),
        )

    def _inbound(self, request: Request, trunk: Trunk, directory: Directory) -> Routed | Refused:
        tenant = directory.tenant(trunk.tenant_id)
        if tenant is None:
            return Refused(status=StatusCode.NOT_FOUND, reason="unknown_number", public=False)
        user = _user_of(request.uri)
        destination = normalise(user, tenant.country) if user else None
        e164 = destination.e164 if destination is not None else ""
        number = directory.number(e164) if e164 else None
        now = self.wall_clock()
        shown = _caller_id(request)
        caller = shown or "anonymous"
        if number is None or number.tenant_id != tenant.id:
            return Refused(
                status=StatusCode.NOT_FOUND,
                reason="unknown_number",
                public=False,
                tenant=tenant,
                call=self._call(
                    request,
                    tenant=tenant,
                    caller=caller,
                    callee=user or "",
                    direction="inbound",
                    now=now,
                ),
            )
        call = self._call(
            request, tenant=tenant, caller=caller, callee=number.ext, direction="inbound", now=now
        )
        rules = directory.policy.rules(
            tenant.id, country=tenant.country, ext=number.ext, timezone=tenant.timezone
        )
        if rules.blocks:
            decision = check_inbound(shown, number.ext, rules)
            if not decision.allowed:
                # The callee is never rung; what the caller gets is the block's treatment, and
                # never the reason (it is another network's caller).
                return Refused(
                    status=_status(decision.status),
                    reason=decision.reason,
                    detail=decision.detail,
                    public=False,
                    tenant=tenant,
                    call=call,
                    silence=decision.treatment is BlockTreatment.SILENCE,
                )
        return self._to_extension(tenant, number.ext, call, now)

    def _call(
        self,
        request: Request,
        *,
        tenant: Tenant,
        caller: str,
        callee: str,
        direction: str,
        now: float,
    ) -> CallState | None:
        if request.method != "INVITE":
            return None
        return CallState(
            tenant_id=tenant.id,
            call_id=request.call_id,
            from_tag=request.from_.tag or "",
            caller=caller,
            callee=callee,
            direction=direction,
            started_at=now,
            country=tenant.country,
        )


def _attempt(
    request: Request,
    *,
    tenant: Tenant,
    ext: str,
    destination: Destination,
    decision: Decision,
    source: str,
    now: float,
    allowed: bool,
) -> OutboundAttempt:
    """What the detector is told of an outbound attempt."""
    rate = decision.rate
    return OutboundAttempt(
        tenant_id=tenant.id,
        ext=ext,
        call_key=f"{request.call_id};{request.from_.tag or ''}",
        at=now,
        number=destination.e164,
        country=destination.country,
        home_country=tenant.country,
        timezone=tenant.timezone,
        international=destination.country not in ("", tenant.country),
        price=rate.price if rate is not None else None,
        country_price=decision.country_rate.price if decision.country_rate is not None else None,
        high_risk=destination.number_type in _HIGH_RISK_TYPES
        or decision.reason in _HIGH_RISK_REASONS,
        source=source,
        allowed=allowed,
    )


def _contained(tenant: Tenant) -> Refused:
    return Refused(
        status=StatusCode.FORBIDDEN,
        reason="fraud_contained",
        detail="international calls are suspended after suspected fraud",
        tenant=tenant,
    )


_HIGH_RISK_TYPES = frozenset(
    {
        NumberType.PREMIUM,
        NumberType.SHARED_COST,
        NumberType.UAN,
        NumberType.PERSONAL,
        NumberType.INTERNATIONAL_NETWORK,
    }
)
_HIGH_RISK_REASONS = frozenset({"high_risk_range", "premium_rate", "international_network"})


def _status(code: int) -> StatusCode:
    """The policy's status code as a :class:`StatusCode` (403 for one it does not know)."""
    member = StatusCode._value2member_map_.get(code)
    return member if isinstance(member, StatusCode) else StatusCode.FORBIDDEN


def _offers_srtp(request: Request) -> bool:
    """True when the INVITE carries an SDP offer whose every active stream is SRTP. An INVITE
    without an offer (the offer comes in the 200) cannot be checked here and passes."""
    content_type = request.content_type
    if not request.body or content_type is None or content_type.essence != "application/sdp":
        return not request.body
    try:
        offer = parse_sdp(request.body)
    except ParseError:
        return False
    active = [m for m in offer.media if not m.is_rejected]
    return bool(active) and all(m.is_srtp for m in active)


def _user_of(uri: Uri) -> str | None:
    if isinstance(uri, SipUri):
        return uri.user_unescaped
    if isinstance(uri, TelUri):
        return uri.digits
    return None


def _is_dialled(user: str | None) -> bool:
    return user is not None and _DIALLED.fullmatch(_VISUAL.sub("", user)) is not None


_ANONYMOUS_USERS = frozenset({"anonymous", "unknown", "unavailable", "restricted", "private"})


def _withheld(request: Request) -> bool:
    """The request asks for its caller ID to be withheld (``Privacy: id`` or ``user``)."""
    privacy = request.headers.get("Privacy")
    return privacy is not None and any(
        p.strip().lower() in ("id", "user") for p in privacy.replace(",", ";").split(";")
    )


def _caller_id(request: Request) -> str | None:
    """The caller ID a callee would see, or ``None`` when it is withheld: ``Privacy: id``
    (RFC 3323), an anonymous From (RFC 3261 §8.1.1.3 suggests ``anonymous@anonymous.invalid``)
    or a From whose user is not a number."""
    if _withheld(request):
        return None
    uri = request.from_.uri
    user = _user_of(uri)
    if user is None or user.lower() in _ANONYMOUS_USERS:
        return None
    if isinstance(uri, SipUri) and uri.host.lower() == "anonymous.invalid":
        return None
    return user if _is_dialled(user) else None


def _preferred_identity(request: Request, country: str) -> str | None:
    """The number the phone asked to present (P-Preferred-Identity, RFC 3325 §9.2), in E.164;
    ``None`` when it asked for none. A value that is no number is kept as written, so that the
    policy refuses it rather than presenting something else."""
    value = request.headers.get("P-Preferred-Identity")
    if value is None:
        return None
    text = value.strip()
    inner = text[text.find("<") + 1 : text.find(">")] if "<" in text and ">" in text else text
    user = inner.split(":", 1)[-1].split("@", 1)[0].split(";", 1)[0]
    destination = normalise(user, country)
    return destination.e164 or user or text


#: The id of no tenant: an unknown domain is challenged as if it were one, with no extensions.
_NOBODY = TenantId(-1)


def _domain_of(request: Request) -> str | None:
    """The domain a phone's request names (see :meth:`Router.tenant_of`), if it is a SIP URI."""
    uri = request.uri if request.method == "REGISTER" else request.from_.uri
    return uri.host.lower() if isinstance(uri, SipUri) else None


def is_ip(host: str) -> bool:
    try:
        ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True
