"""The toll-fraud tables: incidents, holds, security contacts, webhooks and the outbox.

:class:`SqlFraudRepo` is mixed into the accounts unit of work (an admin's release, a contact,
a webhook, a PIN: each with its audit entry and the revision bump in one transaction). The
call path's writes (:func:`record_response`, the outbox) run on the store's worker thread.
:func:`load_holds` reads the holds into the directory snapshot, so that every node refuses a
contained extension within a second.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from ringfence.errors import NotFound
from ringfence.fraud.events import Response
from ringfence.fraud.incidents import Hold, Incident, IncidentStatus, response_name
from ringfence.store.schema import (
    AuditRow,
    BindingRow,
    ExtensionRow,
    FraudHoldRow,
    FraudIncidentRow,
    MetaRow,
    NotificationRow,
    SecurityContactRow,
    TenantRow,
    WebhookRow,
)

__all__ = [
    "Notice",
    "OutboxEntry",
    "Recorded",
    "SqlFraudRepo",
    "close_quiet_incident",
    "finish_notification",
    "lift_pin_hold",
    "load_holds",
    "pending_notifications",
    "queue_notice",
    "record_response",
]

_LEVELS = {response_name(r): r for r in Response}
_MAX_ACTIONS = 200  # lines kept in one incident


def _incident(row: FraudIncidentRow) -> Incident:
    return Incident(
        id=row.id,
        tenant_id=row.tenant_id,
        ext=row.ext or None,
        opened_at=row.opened_at,
        updated_at=row.updated_at,
        level=_LEVELS.get(row.level, Response.NOTIFY),
        score=row.score,
        summary=row.summary,
        actions=tuple(json.loads(row.actions)),
        status=IncidentStatus(row.status),
        released_at=row.released_at,
        released_by=row.released_by,
    )


def load_holds(session: Session) -> dict[tuple[int, str], Hold]:
    return {
        (row.tenant_id, row.ext): Hold(
            tenant_id=row.tenant_id,
            ext=row.ext or None,
            level=_LEVELS[row.level],
            since=row.since,
            incident_id=row.incident_id,
        )
        for row in session.scalars(select(FraudHoldRow))
    }


def _bump(session: Session) -> None:
    session.execute(update(MetaRow).where(MetaRow.id == 1).values(revision=MetaRow.revision + 1))


@dataclass(frozen=True, slots=True, kw_only=True)
class Notice:
    """What the outbox sends of a newly opened incident (built by the caller)."""

    subject: str
    body: str
    payload: str  # JSON


class Recorded(NamedTuple):
    """What :func:`record_response` did: the incident, whether it opened now, and whether
    the extension's SIP password was reset."""

    incident: int
    opened: bool
    password_reset: bool = False


def queue_notice(
    session: Session, *, tenant_id: int, incident_id: int, notice: Notice, at: float
) -> int:
    """Put a notice in the outbox, once per channel the tenant has (security contacts for
    e-mail, a webhook). ``incident_id`` 0: a security notice of no fraud incident (the
    perimeter's). How many were queued."""
    channels = []
    if session.scalars(
        select(SecurityContactRow.id).where(SecurityContactRow.tenant_id == tenant_id)
    ).first():
        channels.append("email")
    if session.scalars(select(WebhookRow.id).where(WebhookRow.tenant_id == tenant_id)).first():
        channels.append("webhook")
    for channel in channels:
        session.add(
            NotificationRow(
                tenant_id=tenant_id,
                incident_id=incident_id,
                channel=channel,
                created_at=at,
                subject=notice.subject,
                body=notice.body,
                payload=notice.payload,
                attempts=0,
                gave_up=False,
            )
        )
    session.flush()
    return len(channels)


def record_response(
    session: Session,
    *,
    tenant_id: int,
    ext: str | None,
    level: Response,
    score: int,
    summary: str,
    action: str,
    at: float,
    notice: Notice | None,
    new_ha1s: Callable[[str, str], tuple[str, str]] | None = None,
) -> Recorded:
    """Record a graded response: open the scope's incident or escalate the open one, and put
    on the hold it calls for (PIN or containment). A newly opened incident queues its notice
    in the outbox, once per channel the tenant has.

    When an extension is newly contained and its tenant asked for it, its SIP password is
    reset as well: ``new_ha1s(ext, realm)`` gives the HA1s of a password nobody is told, its
    registrations are dropped, and the reset is audited. Whoever registered with the stolen
    password is out; the admin gives the phone a new one (``ringfence ext passwd``)."""
    scope = ext or ""
    row = session.scalars(
        select(FraudIncidentRow).where(
            FraudIncidentRow.tenant_id == tenant_id,
            FraudIncidentRow.ext == scope,
            FraudIncidentRow.status == IncidentStatus.OPEN.value,
        )
    ).first()
    opened = row is None
    if row is None:
        row = FraudIncidentRow(
            tenant_id=tenant_id,
            ext=scope,
            opened_at=at,
            updated_at=at,
            level=response_name(level),
            score=score,
            summary=summary,
            actions=json.dumps([action]),
            status=IncidentStatus.OPEN.value,
        )
        session.add(row)
    else:
        actions = json.loads(row.actions)[-(_MAX_ACTIONS - 1) :]
        actions.append(action)
        row.actions = json.dumps(actions)
        row.updated_at = at
        row.score = max(row.score, score)
        if _LEVELS.get(row.level, Response.NONE) < level:
            row.level = response_name(level)
            row.summary = summary
    session.flush()
    newly_contained = False
    if level >= Response.PIN:
        hold = session.scalars(
            select(FraudHoldRow).where(
                FraudHoldRow.tenant_id == tenant_id, FraudHoldRow.ext == scope
            )
        ).first()
        newly_contained = level is Response.CONTAIN and (
            hold is None or _LEVELS[hold.level] < Response.CONTAIN
        )
        if hold is None:
            session.add(
                FraudHoldRow(
                    tenant_id=tenant_id,
                    ext=scope,
                    level=response_name(level),
                    since=at,
                    incident_id=row.id,
                )
            )
        elif _LEVELS[hold.level] < level:
            hold.level = response_name(level)
            hold.incident_id = row.id
        _bump(session)
    if opened and notice is not None:
        queue_notice(session, tenant_id=tenant_id, incident_id=row.id, notice=notice, at=at)
    reset = False
    if ext and new_ha1s is not None and level >= Response.PIN and newly_contained:
        reset = _reset_password(session, tenant_id, ext, row, new_ha1s, at)
    return Recorded(row.id, opened, reset)


def _reset_password(  # noqa: PLR0917 - the facts of one reset
    session: Session,
    tenant_id: int,
    ext: str,
    incident: FraudIncidentRow,
    new_ha1s: Callable[[str, str], tuple[str, str]],
    at: float,
) -> bool:
    tenant = session.get(TenantRow, tenant_id)
    if tenant is None or not tenant.reset_password_on_contain:
        return False
    md5, sha256 = new_ha1s(ext, tenant.domain)
    result = session.execute(
        update(ExtensionRow)
        .where(ExtensionRow.tenant_id == tenant_id, ExtensionRow.ext == ext)
        .values(ha1_md5=md5, ha1_sha256=sha256)
    )
    if not getattr(result, "rowcount", 0):
        return False
    session.execute(
        delete(BindingRow).where(BindingRow.tenant_id == tenant_id, BindingRow.ext == ext)
    )
    incident.actions = json.dumps(
        [*json.loads(incident.actions), f"{at:.0f} SIP password reset, registrations dropped"]
    )
    session.add(
        AuditRow(
            at=at,
            actor="ringfence",
            action="extension.password",
            tenant_id=tenant_id,
            target=f"ext {ext}",
            detail=f"reset on containment (incident {incident.id}); registrations dropped",
        )
    )
    return True


def lift_pin_hold(session: Session, *, tenant_id: int, ext: str, action: str, at: float) -> None:
    """The extension's user gave the right PIN: the PIN hold goes (a containment stays)."""
    result = session.execute(
        delete(FraudHoldRow).where(
            FraudHoldRow.tenant_id == tenant_id,
            FraudHoldRow.ext == ext,
            FraudHoldRow.level == "pin",
        )
    )
    if getattr(result, "rowcount", 0):
        _bump(session)
    row = session.scalars(
        select(FraudIncidentRow).where(
            FraudIncidentRow.tenant_id == tenant_id,
            FraudIncidentRow.ext == ext,
            FraudIncidentRow.status == IncidentStatus.OPEN.value,
        )
    ).first()
    if row is not None:
        row.actions = json.dumps([*json.loads(row.actions), action])
        row.updated_at = at


#: Who released an incident that closed because it stayed quiet.
QUIET = "ringfence (quiet for a day)"


def close_quiet_incident(
    session: Session, *, tenant_id: int, ext: str | None, action: str, at: float
) -> bool:
    """The detector closed a notified incident that stayed quiet: the open incident of the
    scope closes too, unless a hold (PIN or containment) is on it, which only a PIN or an
    admin lifts. It reads as released by ringfence itself. Whether one closed."""
    scope = ext or ""
    held = session.scalars(
        select(FraudHoldRow.id).where(
            FraudHoldRow.tenant_id == tenant_id, FraudHoldRow.ext == scope
        )
    ).first()
    row = session.scalars(
        select(FraudIncidentRow).where(
            FraudIncidentRow.tenant_id == tenant_id,
            FraudIncidentRow.ext == scope,
            FraudIncidentRow.status == IncidentStatus.OPEN.value,
        )
    ).first()
    if held is not None or row is None:
        return False
    row.status = IncidentStatus.RELEASED.value
    row.released_at, row.released_by = at, QUIET
    row.actions = json.dumps([*json.loads(row.actions), action])
    row.updated_at = at
    return True


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboxEntry:
    """A notice to deliver, with the tenant's current targets for its channel."""

    id: int
    tenant_id: int
    incident_id: int
    channel: str
    created_at: float
    subject: str
    body: str
    payload: str
    attempts: int
    emails: tuple[str, ...] = ()
    url: str | None = None
    secret: str | None = None


def pending_notifications(session: Session, *, limit: int = 50) -> list[OutboxEntry]:
    rows = session.scalars(
        select(NotificationRow)
        .where(NotificationRow.delivered_at.is_(None), NotificationRow.gave_up.is_(False))
        .order_by(NotificationRow.id)
        .limit(limit)
    )
    out = []
    for row in rows:
        emails: tuple[str, ...] = ()
        url = secret = None
        if row.channel == "email":
            emails = tuple(
                session.scalars(
                    select(SecurityContactRow.email)
                    .where(SecurityContactRow.tenant_id == row.tenant_id)
                    .order_by(SecurityContactRow.email)
                )
            )
        else:
            hook = session.scalars(
                select(WebhookRow).where(WebhookRow.tenant_id == row.tenant_id)
            ).first()
            if hook is not None:
                url, secret = hook.url, hook.secret
        out.append(
            OutboxEntry(
                id=row.id,
                tenant_id=row.tenant_id,
                incident_id=row.incident_id,
                channel=row.channel,
                created_at=row.created_at,
                subject=row.subject,
                body=row.body,
                payload=row.payload,
                attempts=row.attempts,
                emails=emails,
                url=url,
                secret=secret,
            )
        )
    return out


def finish_notification(
    session: Session,
    notification_id: int,
    *,
    attempts: int,
    delivered_at: float | None,
    error: str | None,
    gave_up: bool,
) -> None:
    session.execute(
        update(NotificationRow)
        .where(NotificationRow.id == notification_id)
        .values(
            attempts=attempts,
            delivered_at=delivered_at,
            last_error=error[:500] if error else None,
            gave_up=gave_up,
        )
    )


class SqlFraudRepo:
    """The admin side of the fraud tables, inside the accounts unit of work."""

    _session: Session

    def _write(self) -> Session:
        raise NotImplementedError

    # -- incidents ------------------------------------------------------------------------

    def incidents(
        self, tenant_id: int | None, *, open_only: bool = False, limit: int = 100
    ) -> list[Incident]:
        query = select(FraudIncidentRow)
        if tenant_id is not None:
            query = query.where(FraudIncidentRow.tenant_id == tenant_id)
        if open_only:
            query = query.where(FraudIncidentRow.status == IncidentStatus.OPEN.value)
        query = query.order_by(FraudIncidentRow.opened_at.desc()).limit(limit)
        return [_incident(r) for r in self._session.scalars(query)]

    def release(self, tenant_id: int, ext: str | None, *, by: str, at: float) -> list[Incident]:
        """Close the open incidents of the extension (or of the whole tenant, every extension
        included) and lift their holds. Returns the incidents released."""
        session = self._write()
        query = select(FraudIncidentRow).where(
            FraudIncidentRow.tenant_id == tenant_id,
            FraudIncidentRow.status == IncidentStatus.OPEN.value,
        )
        holds = delete(FraudHoldRow).where(FraudHoldRow.tenant_id == tenant_id)
        if ext is not None:
            query = query.where(FraudIncidentRow.ext == ext)
            holds = holds.where(FraudHoldRow.ext == ext)
        released = []
        for row in session.scalars(query):
            row.status = IncidentStatus.RELEASED.value
            row.released_at, row.released_by = at, by
            row.actions = json.dumps([*json.loads(row.actions), f"{at:.0f} released by {by}"])
            released.append(_incident(row))
        session.execute(holds)
        return released

    # -- contacts, webhook, PIN -----------------------------------------------------------

    def contacts(self, tenant_id: int) -> list[str]:
        return list(
            self._session.scalars(
                select(SecurityContactRow.email)
                .where(SecurityContactRow.tenant_id == tenant_id)
                .order_by(SecurityContactRow.email)
            )
        )

    def add_contact(self, tenant_id: int, email: str) -> None:
        session = self._write()
        session.add(SecurityContactRow(tenant_id=tenant_id, email=email))
        session.flush()

    def remove_contact(self, tenant_id: int, email: str) -> None:
        result = self._write().execute(
            delete(SecurityContactRow).where(
                SecurityContactRow.tenant_id == tenant_id, SecurityContactRow.email == email
            )
        )
        if getattr(result, "rowcount", 0) == 0:
            raise NotFound(f"no security contact {email!r}")

    def webhook(self, tenant_id: int) -> tuple[str, str] | None:
        row = self._session.scalars(
            select(WebhookRow).where(WebhookRow.tenant_id == tenant_id)
        ).first()
        return (row.url, row.secret) if row is not None else None

    def set_webhook(self, tenant_id: int, url: str | None, secret: str | None) -> None:
        """Set the tenant's webhook, or remove it (``url`` None)."""
        session = self._write()
        session.execute(delete(WebhookRow).where(WebhookRow.tenant_id == tenant_id))
        if url is not None and secret is not None:
            session.add(WebhookRow(tenant_id=tenant_id, url=url, secret=secret))
        session.flush()

    def reset_password_on_contain(self, tenant_id: int) -> bool:
        row = self._session.get(TenantRow, tenant_id)
        return bool(row is not None and row.reset_password_on_contain)

    def set_reset_password_on_contain(self, tenant_id: int, on: bool) -> None:
        self._write().execute(
            update(TenantRow).where(TenantRow.id == tenant_id).values(reset_password_on_contain=on)
        )

    def set_pin(
        self, tenant_id: int, ext: str, *, ha1_md5: str | None, ha1_sha256: str | None
    ) -> None:
        result = self._write().execute(
            update(ExtensionRow)
            .where(ExtensionRow.tenant_id == tenant_id, ExtensionRow.ext == ext)
            .values(pin_ha1_md5=ha1_md5, pin_ha1_sha256=ha1_sha256)
        )
        if getattr(result, "rowcount", 0) == 0:
            raise NotFound(f"no extension {ext!r}")
