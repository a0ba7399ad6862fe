"""The values a notification is made of: what to say (:class:`Notice`) and where to say it
(:class:`EmailTarget`, :class:`WebhookTarget`).

A notice is built once per fraud incident by its caller; the channels only deliver it. Its
``key`` makes repeated deliveries recognisable: the webhook sends it as the ``Idempotency-Key``
header and as ``"id"`` in the body, and the e-mail uses it as the local part of its Message-ID.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["EmailTarget", "Notice", "WebhookTarget"]

# Letters, digits, "_" and "-" in dot-separated runs: a valid Message-ID local part (RFC 5322
# §3.6.4, dot-atom-text) and a header value that cannot smuggle in another header.
_KEY = re.compile(r"[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*")
_KEY_MAX = 200
_LINE_BREAKS = ("\r", "\n")


@dataclass(frozen=True, slots=True, kw_only=True)
class Notice:
    """One notification about one incident, ready to be sent through any channel.

    ``payload`` holds the JSON-able details for the webhook body; the webhook adds ``id``,
    ``tenant``, ``subject`` and ``created_at`` to it. ``text`` is the plain-text body of the
    e-mail. ``created_at`` is in epoch seconds and becomes the e-mail's Date.
    """

    key: str
    tenant: str
    subject: str
    text: str
    payload: Mapping[str, object] = field(hash=False)
    created_at: float

    def __post_init__(self) -> None:
        if len(self.key) > _KEY_MAX or not _KEY.fullmatch(self.key):
            raise ValueError(
                f"notice key {self.key!r} must be up to {_KEY_MAX} letters, digits, '_' or '-',"
                " in runs joined by single dots"
            )
        if not self.tenant or any(c in self.tenant for c in _LINE_BREAKS):
            raise ValueError("a notice needs a tenant name on one line")
        if not self.subject or any(c in self.subject for c in _LINE_BREAKS):
            raise ValueError("a notice subject must be one non-empty line")


@dataclass(frozen=True, slots=True, kw_only=True)
class EmailTarget:
    """The security contacts of a tenant: one e-mail goes to all of them at once."""

    addresses: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.addresses:
            raise ValueError("an e-mail target needs at least one address")
        for address in self.addresses:
            if "@" not in address or any(c.isspace() or c in ",;<>" for c in address):
                raise ValueError(f"not a bare e-mail address: {address!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class WebhookTarget:
    """An HTTP endpoint of a tenant and the secret its deliveries are signed with.

    The secret is left out of ``repr`` so that it cannot reach a log line by accident.
    """

    url: str
    secret: str = field(repr=False)

    def __post_init__(self) -> None:
        if not self.url.startswith(("https://", "http://")):
            raise ValueError("a webhook URL must start with https:// or http://")
        if not self.secret:
            raise ValueError("a webhook needs a signing secret")
