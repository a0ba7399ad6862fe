"""The registrar service: RFC 3261 §10.3 over the location store, with write-through.

The pure steps are :func:`ringfence.sip.registrar.process_register`; this module adds what the
service knows: which tenant and extension authenticated, where the REGISTER came from (the flow
to reach the phone by) and the stored form of each binding.
"""

from __future__ import annotations

from dataclasses import dataclass

from ringfence.accounts import Extension, Tenant
from ringfence.pbx.location import LocationStore, Registration
from ringfence.sip.effects import Peer
from ringfence.sip.headers import parse_name_addr
from ringfence.sip.message import Request, Response, make_response
from ringfence.sip.registrar import (
    Binding,
    RegisterAccepted,
    RegistrarSettings,
    process_register,
    register_response,
)
from ringfence.sip.uri import SipUri
from ringfence.store import StoredBinding

__all__ = ["RegisterOutcome", "RegistrarService", "from_stored", "to_stored"]


@dataclass(frozen=True, slots=True, kw_only=True)
class RegisterOutcome:
    """The response to send and, when bindings changed, the new set to commit first."""

    response: Response
    reason: str
    registrations: tuple[Registration, ...] | None = None


class RegistrarService:
    def __init__(self, location: LocationStore, settings: RegistrarSettings) -> None:
        self._location = location
        self._settings = settings

    def register(
        self,
        request: Request,
        *,
        source: Peer,
        tenant: Tenant,
        extension: Extension,
        now: float,
        to_tag: str,
    ) -> RegisterOutcome:
        to_uri = request.to.uri
        # RFC 3261 §10.3 step 5 with tenancy: the AOR must be the extension that authenticated,
        # in its own tenant's domain. Nobody registers for somebody else.
        if (
            not isinstance(to_uri, SipUri)
            or to_uri.user_unescaped != extension.ext
            or to_uri.host.lower() != tenant.domain.lower()
        ):
            response = _refuse(request, 403, to_tag)
            return RegisterOutcome(response=response, reason="aor_not_authenticated_user")
        existing = self._location.lookup(tenant.id, extension.ext, now)
        outcome = process_register(
            request, [r.binding for r in existing], now=now, settings=self._settings
        )
        response = register_response(request, outcome, now=now, to_tag=to_tag)
        if not isinstance(outcome, RegisterAccepted):
            return RegisterOutcome(response=response, reason=outcome.code)
        changed = {id(b) for b in (*outcome.added, *outcome.refreshed)}
        user_agent = request.headers.get("User-Agent")
        by_binding = {id(r.binding): r for r in existing}
        registrations = tuple(
            Registration(binding=b, source=source, user_agent=user_agent)
            if id(b) in changed
            else by_binding[id(b)]
            for b in outcome.bindings
        )
        reason = "registered" if registrations else "unregistered"
        return RegisterOutcome(response=response, reason=reason, registrations=registrations)


def _refuse(request: Request, status: int, to_tag: str) -> Response:
    return make_response(request, status, to_tag=to_tag)


def to_stored(tenant: Tenant, ext: str, registration: Registration) -> StoredBinding:
    b = registration.binding
    return StoredBinding(
        tenant_id=tenant.id,
        ext=ext,
        contact=str(b.contact),
        expires_at=b.expires_at,
        call_id=b.call_id,
        cseq=b.cseq,
        q=b.q,
        instance=b.instance,
        reg_id=b.reg_id,
        transport=registration.source.transport,
        source_host=registration.source.host,
        source_port=registration.source.port,
        user_agent=registration.user_agent,
    )


def from_stored(stored: StoredBinding) -> Registration:
    contact = parse_name_addr(stored.contact)
    binding = Binding(
        contact=contact,
        expires_at=stored.expires_at,
        call_id=stored.call_id,
        cseq=stored.cseq,
        q=stored.q,
        instance=stored.instance,
        reg_id=stored.reg_id,
    )
    source = Peer(transport=stored.transport, host=stored.source_host, port=stored.source_port)
    return Registration(binding=binding, source=source, user_agent=stored.user_agent)
