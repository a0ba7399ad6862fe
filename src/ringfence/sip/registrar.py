"""REGISTER processing (RFC 3261 §10.3) over a snapshot of bindings, as a pure function.

The registrar service loads the bindings of one address-of-record, calls
:func:`process_register` with the request and ``now``, and writes back what it returns. Steps 1
to 4 of §10.3 (domain, Require, authentication, authorisation) belong to the caller; this module
does steps 5 to 8.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ringfence.sip.headers import NameAddr
from ringfence.sip.message import Request, Response, make_response
from ringfence.sip.status import StatusCode
from ringfence.sip.uri import SipUri

__all__ = [
    "Binding",
    "RegisterAccepted",
    "RegisterRefused",
    "RegistrarSettings",
    "by_priority",
    "process_register",
    "register_response",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class RegistrarSettings:
    """Expiry bounds and the number of contacts one address-of-record may hold."""

    min_expires: int = 60
    max_expires: int = 3600
    default_expires: int = 3600
    max_contacts: int = 10


@dataclass(frozen=True, slots=True, kw_only=True)
class Binding:
    """One contact bound to an address-of-record (RFC 3261 §10.3 step 7).

    ``instance`` and ``reg_id`` come from the RFC 5626 ``+sip.instance`` and ``reg-id`` Contact
    parameters: a phone that re-registers from a new address replaces its old binding instead of
    leaving a stale one behind.
    """

    contact: NameAddr
    expires_at: float
    call_id: str
    cseq: int
    q: float | None = None
    instance: str | None = None
    reg_id: str | None = None

    def remaining(self, now: float) -> int:
        return max(0, int(self.expires_at - now + 0.5))

    def same_binding(self, other: NameAddr) -> bool:
        """RFC 5626 §6: same (instance, reg-id) pair; else RFC 3261 §19.1.4 URI equality."""
        instance = other.param("+sip.instance")
        reg_id = other.param("reg-id")
        if instance and reg_id and self.instance and self.reg_id:
            return (instance, reg_id) == (self.instance, self.reg_id)
        return self.contact.uri == other.uri


@dataclass(frozen=True, slots=True, kw_only=True)
class RegisterAccepted:
    """The bindings after the request, and what changed, for the store to write through."""

    bindings: tuple[Binding, ...]
    added: tuple[Binding, ...] = ()
    refreshed: tuple[Binding, ...] = ()
    removed: tuple[Binding, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class RegisterRefused:
    """A refusal with its status, reason code and the header fields the RFC asks for."""

    status: StatusCode
    code: str
    headers: tuple[tuple[str, str], ...] = ()


def process_register(
    request: Request,
    existing: Sequence[Binding],
    *,
    now: float,
    settings: RegistrarSettings = RegistrarSettings(),
) -> RegisterAccepted | RegisterRefused:
    """Apply a REGISTER to the bindings of its address-of-record (RFC 3261 §10.3 steps 5-8)."""
    # Step 5: "The registrar extracts the address-of-record from the To header field." It must
    # be a SIP or SIPS URI (RFC 4475 §3.3.4: a registrar rejects an AOR of another scheme).
    if not isinstance(request.to.uri, SipUri):
        return RegisterRefused(status=StatusCode.BAD_REQUEST, code="aor_not_sip_uri")
    live = [b for b in existing if b.expires_at > now]
    expired = tuple(b for b in existing if b.expires_at <= now)
    call_id = request.call_id
    cseq = request.cseq.number
    # Step 6: the wildcard. "If the request has additional Contact fields or an expiration time
    # other than zero, the request is invalid, and the server MUST return a 400 (Invalid Request)".
    if request.contact_is_wildcard:
        if request.expires != 0:
            return RegisterRefused(status=StatusCode.BAD_REQUEST, code="wildcard_needs_expires_0")
        for binding in live:
            if binding.call_id == call_id and cseq <= binding.cseq:
                return _out_of_order()
        return RegisterAccepted(bindings=(), removed=tuple(live) + expired)
    contacts = request.contacts
    if not contacts:
        # RFC 3261 §10.2.3: a REGISTER without Contact is a query for the current bindings.
        return RegisterAccepted(bindings=tuple(live), removed=expired)
    header_expires = request.expires
    current = list(live)
    added: list[Binding] = []
    refreshed: list[Binding] = []
    removed: list[Binding] = list(expired)
    for contact in contacts:
        if not isinstance(contact.uri, SipUri):
            return RegisterRefused(status=StatusCode.BAD_REQUEST, code="contact_not_sip_uri")
        # Step 7: "If the field value has an 'expires' parameter, that value MUST be taken as the
        # requested expiration. If there is no such parameter, but the request has an Expires
        # header field, that value MUST be taken ... If there is neither, then a locally-configured
        # default value MUST be taken".
        expires = contact.expires
        if expires is None:
            expires = header_expires if header_expires is not None else settings.default_expires
        # "...if and only if the requested expiration interval is greater than zero AND smaller
        # than one hour AND less than a registrar-configured minimum, the registrar MAY reject the
        # registration with a response of 423 (Interval Too Brief)."
        if 0 < expires < settings.min_expires:
            return RegisterRefused(
                status=StatusCode.INTERVAL_TOO_BRIEF,
                code="interval_too_brief",
                headers=(("Min-Expires", str(settings.min_expires)),),
            )
        # "The registrar MAY choose an expiration less than the requested expiration interval."
        expires = min(expires, settings.max_expires)
        match = next((b for b in current if b.same_binding(contact)), None)
        if match is not None:
            # "If the binding does exist, the registrar checks the Call-ID value. If the Call-ID
            # value in the existing binding differs from the Call-ID value in the request, the
            # binding MUST be removed if the expiration time is zero and updated otherwise. If
            # they are the same, the registrar compares the CSeq value. If the value is higher
            # than that of the existing binding, it MUST update or remove the binding as above.
            # If not, the update MUST be aborted and the request fails."
            if match.call_id == call_id and cseq <= match.cseq:
                return _out_of_order()
            current.remove(match)
            if expires == 0:
                removed.append(match)
                continue
            binding = _binding(contact, now + expires, call_id, cseq)
            current.append(binding)
            refreshed.append(binding)
        elif expires > 0:
            binding = _binding(contact, now + expires, call_id, cseq)
            current.append(binding)
            added.append(binding)
    if len(current) > settings.max_contacts:
        return RegisterRefused(status=StatusCode.FORBIDDEN, code="too_many_contacts", headers=())
    # Step 8: all updates are committed together, or none is: the caller writes this result.
    return RegisterAccepted(
        bindings=tuple(current),
        added=tuple(added),
        refreshed=tuple(refreshed),
        removed=tuple(removed),
    )


def _out_of_order() -> RegisterRefused:
    # RFC 3261 §10.3 names no status for an aborted update; 500 tells the phone to retry later,
    # with a new CSeq, which is what a phone does.
    return RegisterRefused(status=StatusCode.SERVER_INTERNAL_ERROR, code="register_out_of_order")


def _binding(contact: NameAddr, expires_at: float, call_id: str, cseq: int) -> Binding:
    return Binding(
        contact=contact,
        expires_at=expires_at,
        call_id=call_id,
        cseq=cseq,
        q=contact.q,
        instance=contact.param("+sip.instance"),
        reg_id=contact.param("reg-id"),
    )


def register_response(
    request: Request,
    outcome: RegisterAccepted | RegisterRefused,
    *,
    now: float,
    to_tag: str,
) -> Response:
    """The response to a REGISTER (RFC 3261 §10.3 step 8).

    "The response SHOULD contain a Contact header field enumerating all current bindings. Each
    Contact value MUST feature an 'expires' parameter indicating its expiration interval".
    """
    if isinstance(outcome, RegisterRefused):
        return make_response(request, outcome.status, to_tag=to_tag, extra=outcome.headers)
    extra = []
    for binding in outcome.bindings:
        contact = binding.contact.with_params(expires=str(binding.remaining(now)))
        extra.append(("Contact", str(contact)))
    return make_response(request, StatusCode.OK, to_tag=to_tag, extra=extra)


def by_priority(bindings: Sequence[Binding]) -> tuple[tuple[Binding, ...], ...]:
    """Group bindings by q-value, highest first: each group is tried in parallel, the groups in
    turn (RFC 3261 §16.6 uses q to order targets). A contact without q counts as q=1.0."""
    groups: dict[float, list[Binding]] = {}
    for binding in bindings:
        groups.setdefault(1.0 if binding.q is None else binding.q, []).append(binding)
    return tuple(tuple(groups[q]) for q in sorted(groups, reverse=True))
