"""Request inspection by a UAS (RFC 3261 §8.2.1 to §8.2.3), as a pure function.

Before the application looks at a request, it checks that it can handle it at all: the method,
the Request-URI scheme, the extensions in Require, the body type and what the client accepts
back. :func:`inspect_request` runs those checks in the order of RFC 3261 §8.2 and returns the
:class:`Refusal` to send, or ``None`` when the request may proceed.
"""

from __future__ import annotations

from dataclasses import dataclass

from ringfence.sip.headers import MediaType, parse_media_type
from ringfence.sip.message import Request
from ringfence.sip.status import StatusCode
from ringfence.sip.uri import TelUri

__all__ = ["Capabilities", "Refusal", "inspect_request"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Refusal:
    """A final response to send instead of processing the request.

    ``code`` is a short reason code for logs and call records; ``headers`` are the extra header
    fields the RFC requires with this status (Allow, Unsupported, Accept).
    """

    status: StatusCode
    code: str
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Capabilities:
    """What this element supports. The defaults describe the ringfence phone service."""

    methods: frozenset[str] = frozenset(
        {
            "INVITE",
            "ACK",
            "BYE",
            "CANCEL",
            "OPTIONS",
            "REGISTER",
            "INFO",
            "UPDATE",
            "PRACK",
            "MESSAGE",
            "NOTIFY",
            "SUBSCRIBE",
            "REFER",
        }
    )
    uri_schemes: frozenset[str] = frozenset({"sip", "sips", "tel"})
    extensions: frozenset[str] = frozenset({"path", "outbound", "replaces", "timer", "100rel"})
    body_types: frozenset[str] = frozenset(
        {
            "application/sdp",
            "multipart/mixed",
            "multipart/alternative",
            "application/dtmf-relay",
            "text/plain",
        }
    )
    response_types: frozenset[str] = frozenset({"application/sdp"})


def inspect_request(
    request: Request, capabilities: Capabilities, *, check_require: bool = True
) -> Refusal | None:
    """Check a request the way RFC 3261 §8.2 orders it; the first failing check answers.

    The request must already have passed :meth:`Request.validate` (a full parse). A proxy
    passes ``check_require=False``: Require names extensions of the UAS, not of the proxy
    (RFC 3261 §16.3 step 5 checks Proxy-Require instead).
    """
    caps = capabilities
    # RFC 3261 §8.2.1: "If a UAS receives a request that it does not support, it MUST respond
    # with a 405 (Method Not Allowed)" and "MUST add an Allow header field".
    if request.method not in caps.methods:
        allow = ", ".join(sorted(caps.methods))
        return Refusal(
            status=StatusCode.METHOD_NOT_ALLOWED,
            code="method_not_allowed",
            headers=(("Allow", allow),),
        )
    # RFC 3261 §8.2.2.1: "If the Request-URI uses a scheme not supported by the UAS, it SHOULD
    # reject the request with a 416 (Unsupported URI Scheme) response."
    uri = request.uri
    scheme = "tel" if isinstance(uri, TelUri) else uri.scheme.lower()
    if scheme not in caps.uri_schemes:
        return Refusal(status=StatusCode.UNSUPPORTED_URI_SCHEME, code="unsupported_uri_scheme")
    # RFC 3261 §8.2.2.3: "If a UAS does not understand an option-tag listed in a Require header
    # field, it MUST respond by generating a response with status code 420 (Bad Extension). The
    # UAS MUST add an Unsupported header field". Not for CANCEL or ACK (§8.2.2.3).
    if check_require and request.method not in ("CANCEL", "ACK"):
        unknown = [
            tag for tag in request.option_tags("Require") if tag.lower() not in caps.extensions
        ]
        if unknown:
            return Refusal(
                status=StatusCode.BAD_EXTENSION,
                code="bad_extension",
                headers=(("Unsupported", ", ".join(unknown)),),
            )
    # RFC 3261 §8.2.3: "If a UAS does not understand the body of a request it MUST respond with
    # a 415 (Unsupported Media Type)" and list what it does understand in Accept.
    content_type = request.content_type
    if request.body and content_type is not None and content_type.essence not in caps.body_types:
        return Refusal(
            status=StatusCode.UNSUPPORTED_MEDIA_TYPE,
            code="unsupported_media_type",
            headers=(("Accept", ", ".join(sorted(caps.body_types))),),
        )
    # RFC 3261 §21.4.7 (406) and RFC 4475 §3.3.15: when the client accepts none of the body
    # types this element would answer with, refuse instead of sending a body it cannot read.
    if request.method in ("OPTIONS", "INVITE") and "Accept" in request.headers:
        accepted = request.accept
        ours = [parse_media_type(t) for t in caps.response_types]
        if accepted and not any(_accepts(a, o) for a in accepted for o in ours):
            return Refusal(status=StatusCode.NOT_ACCEPTABLE, code="not_acceptable")
    return None


def _accepts(accepted: MediaType, offered: MediaType) -> bool:
    return accepted.matches(offered)
