"""Small message-level steps of the phone service, free of state: stamping where a request came
from, building a CANCEL, consuming our own credentials, shifting a CSeq."""

from __future__ import annotations

from dataclasses import replace

from ringfence.errors import ParseError
from ringfence.sip.effects import Peer
from ringfence.sip.fields import Headers
from ringfence.sip.inspect import Capabilities
from ringfence.sip.message import Request
from ringfence.sip.uri import SipUri

__all__ = [
    "ALLOW",
    "CAPABILITIES",
    "DIALOG_METHODS",
    "addressed_to_server",
    "cancel_for",
    "ignore",
    "reason_for",
    "shift_cseq",
    "stamp_via",
    "without_own_credentials",
]


def ignore() -> None:
    return None


#: What the service handles: every method it routes or answers, SDP and the bodies phones
#: exchange in MESSAGE and INFO.
CAPABILITIES = Capabilities()

DIALOG_METHODS = frozenset({"BYE", "PRACK", "UPDATE", "INFO", "REFER", "NOTIFY"})

ALLOW = "INVITE, ACK, BYE, CANCEL, OPTIONS, REGISTER, MESSAGE, INFO, UPDATE, PRACK, NOTIFY, REFER"

REASONS = {
    486: "busy",
    487: "cancelled",
    480: "unavailable",
    408: "no_answer",
    404: "not_found",
    603: "declined",
    600: "busy_everywhere",
    488: "not_acceptable",
}


def reason_for(status: int) -> str:
    return REASONS.get(status, f"status_{status}")


def without_own_credentials(request: Request, realm: str) -> Headers:
    """RFC 3261 §22.3: the proxy consumes the credentials of its own realm. They must never
    reach the callee or a carrier, who could attack the extension's password offline."""
    headers = request.headers
    if "Proxy-Authorization" not in headers:
        return headers
    kept = [
        value
        for value, credentials in zip(
            headers.get_all("Proxy-Authorization"), request.proxy_authorization, strict=True
        )
        if (credentials.param("realm") or "").lower() != realm.lower()
    ]
    headers = headers.without("Proxy-Authorization")
    for value in kept:
        headers = headers.with_added("Proxy-Authorization", value)
    return headers


def addressed_to_server(request: Request) -> bool:
    uri = request.uri
    return isinstance(uri, SipUri) and uri.user is None


def stamp_via(request: Request, source: Peer) -> Request:
    """RFC 3261 §18.2.1 and RFC 3581 §4: record where the request really came from."""
    try:
        via = request.top_via
    except ParseError:
        return request
    params: dict[str, str | None] = {}
    if via.host.strip("[]") != source.host:
        params["received"] = source.host
    if via.rport_requested:
        params["rport"] = str(source.port)
        params["received"] = source.host
    if not params:
        return request
    return request.with_top_via(via.with_params(**params))


def shift_cseq(request: Request, by: int) -> Request:
    cseq = request.cseq
    return replace(
        request, headers=request.headers.with_value("CSeq", f"{cseq.number + by} {cseq.method}")
    )


def cancel_for(invite: Request) -> Request:
    """RFC 3261 §9.1: the CANCEL for a request we forwarded."""
    fields: list[tuple[str, str]] = [("Via", str(invite.top_via))]
    for name in ("Route", "From", "To", "Call-ID"):
        fields.extend((name, v) for v in invite.headers.get_all(name))
    fields.append(("CSeq", f"{invite.cseq.number} CANCEL"))
    fields.append(("Max-Forwards", "70"))
    fields.append(("Content-Length", "0"))
    return Request(method="CANCEL", request_uri=invite.request_uri, headers=Headers(tuple(fields)))
