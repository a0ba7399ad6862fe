"""Fraud incidents and the holds they put on an extension or a tenant: values only.

An incident opens when the detector's score first asks for a response; later responses for
the same extension (or tenant) escalate the same incident, which keeps every action with its
reasons. While it is open, a :class:`Hold` says what the call path must do: ask for the PIN
before an international call, or refuse international calls altogether. The store keeps both,
so every node and a restarted service honour them; an admin's release closes the incident and
lifts the hold.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from ringfence.fraud.events import Response

__all__ = ["Hold", "Incident", "IncidentStatus", "response_name"]


class IncidentStatus(StrEnum):
    OPEN = "open"
    RELEASED = "released"


def response_name(response: Response) -> str:
    return response.name.lower()


@dataclass(frozen=True, slots=True, kw_only=True)
class Incident:
    """``ext`` is ``None`` for an incident of the whole tenant. ``actions`` are one line each:
    when, what was done, and the detector's explanation."""

    id: int
    tenant_id: int
    ext: str | None
    opened_at: float
    updated_at: float
    level: Response
    score: int
    summary: str
    actions: tuple[str, ...] = ()
    status: IncidentStatus = IncidentStatus.OPEN
    released_at: float | None = None
    released_by: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Hold:
    """What an open incident imposes: ``Response.PIN`` or ``Response.CONTAIN``."""

    tenant_id: int
    ext: str | None
    level: Response
    since: float
    incident_id: int | None = None
