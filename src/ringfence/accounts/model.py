"""The values of the accounts side: tenants, extensions, trunks, numbers and audit entries.

All are frozen, slotted, keyword-only dataclasses, built by the store from its rows and by the
services from validated input (see :mod:`ringfence.accounts.rules`). Timestamps are wall-clock
epoch seconds (UTC), like the ``now`` of the SIP core. Secrets (HA1 values, the trunk
password) are kept out of ``repr`` so that they never reach a log line by accident.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NewType

__all__ = [
    "TRUNK_TRANSPORTS",
    "AuditEntry",
    "Extension",
    "PhoneNumber",
    "Tenant",
    "TenantId",
    "Trunk",
    "caller_id_for",
]

TenantId = NewType("TenantId", int)
"""The store's id of a tenant. Every repository method that touches tenant data takes one."""

TRUNK_TRANSPORTS = ("udp", "tcp", "tls")
"""The transports a trunk may use toward its gateway (lower case, as in a ``transport`` URI
parameter)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Tenant:
    """A customer. Its SIP domain is also its digest realm, and it is unique.

    ``encryption_required`` refuses calls whose offer has no SRTP (RTP/SAVP) with 488.
    ``country`` (ISO 3166 alpha-2) decides which calls are domestic and how national numbers
    are read; ``timezone`` (IANA name) is the clock of its time-of-day rules.
    """

    id: TenantId
    name: str
    domain: str
    created_at: float
    encryption_required: bool = False
    country: str = "US"
    timezone: str = "UTC"
    #: Networks (CIDR, canonical) its phones may register and call from; empty: anywhere.
    allow_from: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Extension:
    """A phone account of one tenant. ``ext`` is the digest username and the SIP user part.

    Digest credentials are kept only as HA1 = H(ext ":" domain ":" password) for MD5 and for
    SHA-256, with the tenant's domain as realm (:func:`ringfence.sip.digest.compute_ha1`). The
    password itself is never stored. Changing a tenant's domain would invalidate every HA1, so
    the domain of a tenant is fixed once it has extensions.
    """

    id: int
    tenant_id: TenantId
    ext: str
    display_name: str | None
    ha1_md5: str = field(repr=False)
    ha1_sha256: str = field(repr=False)
    #: The PIN, as HA1 values for the realm ``pin.<domain>`` (empty when none is set).
    pin_ha1_md5: str = field(default="", repr=False)
    pin_ha1_sha256: str = field(default="", repr=False)
    #: Networks this extension's phones may register and call from; empty: the tenant's.
    allow_from: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Trunk:
    """A SIP gateway of one tenant: where its outbound calls go and its inbound calls come from.

    A request whose source address equals ``host`` belongs to this trunk's tenant, so a host is
    the trunk of one tenant only; give an IP literal for inbound calls to be recognised (names
    are compared as written, never resolved).

    ``password`` answers the gateway's digest challenges, so it must be kept in a usable form.
    It is stored as given for now: encryption at rest of trunk credentials arrives with the
    privacy issue. It is never printed, logged or written to the audit log.
    """

    id: int
    tenant_id: TenantId
    name: str
    host: str
    port: int
    transport: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    #: Networks its requests are accepted from (a carrier's signalling ranges); empty: ``host``.
    allow_from: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class PhoneNumber:
    """A number (DID) in E.164 form (``+`` and 8 to 15 digits) that rings one extension.

    A number belongs to one tenant across the whole service.
    """

    id: int
    tenant_id: TenantId
    e164: str
    ext: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditEntry:
    """One admin action: who did what, to which tenant and target, and when.

    It never holds a secret: no password, HA1 or trunk credential goes into ``detail``.
    A change of settings also keeps the ``old_value`` and ``new_value`` (JSON text).
    """

    id: int | None
    at: float
    actor: str
    action: str
    tenant_id: TenantId | None
    target: str
    detail: str = ""
    old_value: str | None = None
    new_value: str | None = None


def caller_id_for(numbers: Sequence[PhoneNumber], ext: str) -> str | None:
    """The number an extension's outbound calls present: the first of its own numbers, else
    the tenant's first (``numbers`` are the tenant's, in E.164 order), else none."""
    for number in numbers:
        if number.ext == ext:
            return number.e164
    return numbers[0].e164 if numbers else None
