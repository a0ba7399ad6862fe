"""What the proxy keeps of an answered call so that it can end the call itself.

A proxy normally never sends BYE: the phones do. The toll-fraud guard needs it to: a call in
progress that is about to cross its budget, or the international calls of a contained
extension, are hung up by the proxy on both legs. To do that it acts as the user agent of each
side toward the other (as a B2BUA would), so it keeps, from the answer, what RFC 3261 §12.2.1.1
puts in an in-dialog request: the remote target (the Contact), the route set, the From and To
with their tags, and the next CSeq of each direction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ringfence.errors import ParseError
from ringfence.sip.effects import Peer
from ringfence.sip.fields import Headers
from ringfence.sip.headers import Via
from ringfence.sip.message import Request, Response
from ringfence.sip.uri import Uri

__all__ = ["Dialog", "Leg", "bye_for", "dialog_from_answer"]


@dataclass(slots=True, kw_only=True)
class Leg:
    """One side of a proxied dialog, addressed as the other side would address it.

    ``peer`` is the next hop (where that side's requests came from, or where its copy went),
    ``target`` its Contact, ``routes`` the Route values toward it, ``local`` the From to use
    (the other side, with its tag) and ``remote`` the To (this side, with its tag). ``sent``
    is the highest CSeq the other side has used toward it."""

    peer: Peer
    target: str
    routes: tuple[str, ...]
    local: str
    remote: str
    sent: int


@dataclass(slots=True, kw_only=True)
class Dialog:
    call_id: str
    caller: Leg  # the phone that called: reached as the callee would reach it
    callee: Leg  # the answering side: reached as the caller would reach it


def dialog_from_answer(
    *,
    original: Request,
    source: Peer,
    copy: Request,
    copy_peer: Peer,
    answer: Response,
    is_us: Callable[[Uri], bool],
) -> Dialog | None:
    """The dialog a 2xx to a proxied INVITE set up, or ``None`` when the answer lacks what a
    dialog needs (a To tag, a Contact).

    ``original`` is the INVITE as the caller sent it and ``source`` where it came from; ``copy``
    is the INVITE as forwarded on the answering branch and ``copy_peer`` where it went."""
    try:
        callee_tag = answer.to.tag
        callee_contacts = answer.contacts
        caller_contacts = original.contacts
        record_routes = answer.record_routes
        caller_from, caller_to = original.from_, original.to
        sent_from = copy.from_
        caller_tag = caller_from.tag
    except ParseError:
        return None
    if not callee_tag or not caller_tag or not callee_contacts or not caller_contacts:
        return None
    # Record-Route lists the proxies from the callee's side down to the caller's (each one
    # adds itself on top). Ours split it: those above are toward the callee, those below
    # toward the caller.
    ours = [i for i, rr in enumerate(record_routes) if is_us(rr.uri)]
    if ours:
        toward_callee = [str(rr) for rr in record_routes[: ours[0]]][::-1]
        toward_caller = [str(rr) for rr in record_routes[ours[-1] + 1 :]]
    else:
        toward_callee, toward_caller = [], []
    caller = Leg(
        peer=source,
        target=str(caller_contacts[0].uri),
        routes=tuple(toward_caller),
        local=str(caller_to.with_tag(callee_tag)),
        remote=str(caller_from),
        sent=0,
    )
    callee = Leg(
        peer=copy_peer,
        target=str(callee_contacts[0].uri),
        routes=tuple(toward_callee),
        local=str(sent_from),
        remote=str(answer.to),
        sent=copy.cseq.number,
    )
    return Dialog(call_id=original.call_id, caller=caller, callee=callee)


def bye_for(dialog: Dialog, leg: Leg, *, via: Via, reason: str) -> Request:
    """The BYE that ends ``leg``'s side of the dialog, with an RFC 3326 Reason header that
    names the reason code (Q.850 cause 21, call rejected)."""
    fields: list[tuple[str, str]] = [("Via", str(via))]
    fields.extend(("Route", route) for route in leg.routes)
    fields += [
        ("Max-Forwards", "70"),
        ("From", leg.local),
        ("To", leg.remote),
        ("Call-ID", dialog.call_id),
        ("CSeq", f"{leg.sent + 1} BYE"),
        ("Reason", f'Q.850;cause=21;text="{reason}"'),
        ("Content-Length", "0"),
    ]
    return Request(method="BYE", request_uri=leg.target, headers=Headers(tuple(fields)))
