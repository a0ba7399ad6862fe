"""Where a new out-of-dialog request goes: the chain of steps of DESIGN.md §1.

tenant of request -> authenticate -> classify (internal / outbound / inbound) -> locate.
Each step either continues or answers with a :class:`Refused` that carries a reason code. The
policy, fraud and identity steps join the chain with their issues. REGISTER is answered by
:mod:`ringfence.pbx.registrar` after the same tenant and authentication steps.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from ipaddress import ip_address

from ringfence.accounts import Directory, Extension, Tenant, Trunk
from ringfence.errors import ParseError
from ringfence.pbx.auth import Authenticator, AuthVerdict
from ringfence.pbx.calls import CallState
from ringfence.pbx.location import LocationStore
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
    """A final answer instead of routing. ``reason`` is the reason code for logs and records;
    ``public`` says whether it may be shown to the caller (in a Warning header)."""

    status: StatusCode
    reason: str
    headers: tuple[tuple[str, str], ...] = ()
    public: bool = True
    tenant: Tenant | None = None
    call: CallState | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Routed:
    """Fork to ``targets``; ``headers`` replace fields of the forwarded copies (outbound caller
    ID); ``call`` is the call attempt to record."""

    tenant: Tenant
    targets: tuple[Target, ...]
    call: CallState | None
    set_headers: tuple[tuple[str, str], ...] = ()
    trunk: Trunk | None = None


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

    # -- the tenant and authentication steps -----------------------------------------------------

    def tenant_of(self, request: Request) -> Tenant | None:
        """The tenant a phone's request belongs to: the domain of its Request-URI (REGISTER) or
        of its From (every other request, since the Request-URI may name the callee anywhere)."""
        directory = self.directory()
        uri = request.uri if request.method == "REGISTER" else request.from_.uri
        if not isinstance(uri, SipUri):
            return None
        return directory.tenant_by_domain(uri.host)

    def authenticate(self, request: Request, now: float) -> Authenticated | Refused:
        tenant = self.tenant_of(request)
        directory = self.directory()
        if tenant is None:
            # Answered as an authentication failure would be: it reveals no domain list.
            return Refused(status=StatusCode.FORBIDDEN, reason="unknown_domain", public=False)
        result = self.authenticator.check(request, tenant, directory, now)
        if result.verdict is AuthVerdict.ACCEPTED and result.extension is not None:
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
        auth = self.authenticate(request, self.wall_clock())
        if isinstance(auth, Refused):
            return auth
        tenant, caller = auth.tenant, auth.extension
        now = self.wall_clock()
        uri = request.uri
        user = _user_of(uri)

        def refuse(status: StatusCode, reason: str) -> Refused:
            # Every attempt past authentication leaves a call record, refused ones included.
            call = self._call(
                request,
                tenant=tenant,
                caller=caller.ext,
                callee=user or "",
                direction="internal",
                now=now,
            )
            return Refused(status=status, reason=reason, tenant=tenant, call=call)

        from_uri = request.from_.uri
        if not isinstance(from_uri, SipUri) or from_uri.user_unescaped != caller.ext:
            # A phone may only call as itself (caller ID spoofing inside the tenant).
            return refuse(StatusCode.FORBIDDEN, "from_not_authenticated_user")
        host = uri.host.lower() if isinstance(uri, SipUri) else tenant.domain
        owner = directory.tenant_by_domain(host)
        if owner is not None and owner.id != tenant.id:
            return refuse(StatusCode.FORBIDDEN, "cross_tenant")
        if owner is None and host not in self.local_hosts and not _is_external(user):
            return refuse(StatusCode.FORBIDDEN, "relay_denied")
        if user is None:
            return refuse(StatusCode.NOT_FOUND, "no_user")
        if tenant.encryption_required and request.method == "INVITE" and not _offers_srtp(request):
            # The tenant's "encryption required" setting: media must be SRTP (RFC 4568), so an
            # offer without RTP/SAVP is refused as unacceptable here.
            return refuse(StatusCode.NOT_ACCEPTABLE_HERE, "encryption_required")
        callee = directory.extension(tenant.id, user)
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
        if _is_external(user):
            return self._outbound(
                request,
                tenant=tenant,
                caller=caller,
                number=_normalise(user),
                directory=directory,
                now=now,
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

    def _outbound(
        self,
        request: Request,
        *,
        tenant: Tenant,
        caller: Extension,
        number: str,
        directory: Directory,
        now: float,
    ) -> Routed | Refused:
        call = self._call(
            request, tenant=tenant, caller=caller.ext, callee=number, direction="outbound", now=now
        )
        trunks = directory.trunks(tenant.id)
        if not trunks:
            return Refused(
                status=StatusCode.SERVICE_UNAVAILABLE, reason="no_trunk", tenant=tenant, call=call
            )
        presented = _presented_number(directory, tenant, caller)
        if presented is None:
            return Refused(
                status=StatusCode.FORBIDDEN, reason="no_caller_id", tenant=tenant, call=call
            )
        trunk = trunks[0]
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
        # Outbound From and P-Asserted-Identity carry a number the tenant owns (RFC 3325).
        set_headers = (("From", f"{shown}{identity};tag={tag}"), ("P-Asserted-Identity", identity))
        return Routed(
            tenant=tenant,
            targets=(Target(uri=target, peer=peer),),
            call=call,
            set_headers=set_headers,
            trunk=trunk,
        )

    def _inbound(self, request: Request, trunk: Trunk, directory: Directory) -> Routed | Refused:
        tenant = directory.tenant(trunk.tenant_id)
        if tenant is None:
            return Refused(status=StatusCode.NOT_FOUND, reason="unknown_number", public=False)
        user = _user_of(request.uri)
        number = directory.number(_normalise(user)) if user and _is_dialled(user) else None
        now = self.wall_clock()
        caller = _user_of(request.from_.uri) or "anonymous"
        if number is None or number.tenant_id != tenant.id:
            return Refused(
                status=StatusCode.NOT_FOUND,
                reason="unknown_number",
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
        )


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


#: Shorter digit strings are extensions: a mistyped extension must not become a carrier call.
#: The call-policy issue replaces this with the tenant's numbering plan (phonenumbers).
_MIN_NATIONAL_DIGITS = 7


def _is_external(user: str | None) -> bool:
    """A number that leaves through a trunk: E.164 (+...), 00..., or at least 7 digits."""
    if not _is_dialled(user) or user is None:
        return False
    digits = _VISUAL.sub("", user)
    return digits.startswith(("+", "00")) or len(digits) >= _MIN_NATIONAL_DIGITS


def _normalise(user: str) -> str:
    """A dialled number in the form the dial plan keys on. The call-policy issue replaces this
    with full national and international normalisation (phonenumbers)."""
    digits = _VISUAL.sub("", user)
    if digits.startswith("00"):
        return "+" + digits[2:]
    return digits


def _presented_number(directory: Directory, tenant: Tenant, caller: Extension) -> str | None:
    owned = directory.numbers_of(tenant.id)
    for number in owned:
        if number.ext == caller.ext:
            return number.e164
    return owned[0].e164 if owned else None


def is_ip(host: str) -> bool:
    try:
        ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True
