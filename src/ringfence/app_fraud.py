"""The fraud guard's hands, part of the composition root: what happens when the detector asks
for a response.

:class:`FraudResponder` ends the calls a containment names (the proxy's own BYE), records the
response in the store (the incident, its hold, and, the first time, its notices in the
outbox) off the event loop, and delivers the outbox: e-mail to the tenant's security contacts
and its signed webhook, each with retries and backoff. A notice that could not be delivered
stays in the outbox and is tried again after a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

import httpx
import structlog

from ringfence.accounts import Directory, TenantId
from ringfence.fraud import Assessment, Baseline, Detector, PastCall, Response, Scope
from ringfence.guard import GuardEvent
from ringfence.notify import (
    Deliverer,
    DeliveryError,
    EmailChannel,
    EmailTarget,
    Notice,
    RetryPolicy,
    WebhookChannel,
    WebhookTarget,
)
from ringfence.store import CallRecord, OutboxEntry, Store
from ringfence.store import Notice as StoredNotice

__all__ = ["FraudResponder", "seed_baselines"]

log = structlog.get_logger("ringfence.fraud")

T = TypeVar("T")

#: A tenant hears of password guessing on one extension at most this often (seconds).
TARGETED_NOTICE_EVERY = 86400.0
BASELINE_WEEKS = 4  # of call records each baseline learns from
BASELINE_RELEARN_EVERY = 86400.0  # seconds between the baselines' fresh lessons
#: Reasons of calls the service itself ended: not a tenant's normal calling.
_NOT_NORMAL = frozenset({"fraud_contained", "budget_exceeded"})

_WORDS = {
    Response.NOTIFY: "under watch",
    Response.PIN: "its next international call needs the extension's PIN",
    Response.CONTAIN: "international calling suspended and international calls ended",
}


class _Offload(Protocol):
    def call(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> Awaitable[T]: ...


def learn_baselines(
    directory: Directory, records: list[CallRecord], *, now: float
) -> tuple[dict[int, Baseline], int]:
    """Each tenant's baseline, from its outbound calls that were answered in the call records
    of the last four weeks; and how many calls were learned. A call the service ended for
    fraud or for the budget is not the tenant's normal calling."""
    from ringfence.policy import normalise  # noqa: PLC0415 - at start, and once a day

    since = now - BASELINE_WEEKS * 7 * 86400
    by_tenant: dict[int, list[PastCall]] = {}
    for record in records:
        tenant = directory.tenant(record.tenant_id)
        if tenant is None or record.answered_at is None or record.started_at < since:
            continue
        if record.reason in _NOT_NORMAL:
            continue
        destination = normalise(record.callee, tenant.country)
        by_tenant.setdefault(tenant.id, []).append(
            PastCall(
                at=record.started_at,
                number=destination.e164,
                country=destination.country,
                cost=record.cost,
                duration=record.duration,
            )
        )
    baselines: dict[int, Baseline] = {}
    for tenant in directory.tenants():
        calls = by_tenant.get(tenant.id, [])
        first = min((c.at for c in calls), default=now)
        baselines[tenant.id] = Baseline.learn(
            calls, timezone=tenant.timezone, since=min(first, now), now=now
        )
    return baselines, sum(len(c) for c in by_tenant.values())


def seed_baselines(
    detector: Detector, directory: Directory, records: list[CallRecord], *, now: float
) -> int:
    """Teach each tenant's baseline its own calls from the records (see
    :func:`learn_baselines`). Returns how many calls were learned."""
    baselines, learned = learn_baselines(directory, records, now=now)
    for tenant_id, baseline in baselines.items():
        detector.learn(tenant_id, baseline)
    return learned


class FraudResponder:
    """Acts on the detector's assessments; every method is called on the event loop."""

    def __init__(
        self,
        *,
        store: Store,
        offload: _Offload,
        directory: Callable[[], Directory],
        end_call: Callable[[str, str, str], bool],
        clock: Callable[[], float],
        spawn: Callable[[Coroutine[Any, Any, None]], None],
        smtp: tuple[str, int] | None,
        smtp_from: str,
        retry: RetryPolicy | None = None,
        new_ha1s: Callable[[str, str], tuple[str, str]] | None = None,
        forget_bindings: Callable[[int, str], None] | None = None,
    ) -> None:
        self._store = store
        self._offload = offload
        self._directory = directory
        self._end_call = end_call
        self._clock = clock
        self._spawn = spawn
        self._smtp = smtp
        self._smtp_from = smtp_from
        self._retry = retry or RetryPolicy()
        self._new_ha1s = new_ha1s
        self._forget_bindings = forget_bindings
        self._wake = asyncio.Event()
        self._sending: set[int] = set()
        #: (tenant, extension) -> when its tenant was last told of password guessing.
        self._targeted: dict[tuple[int, str], float] = {}

    # -- responses ----------------------------------------------------------------------------

    def on_fraud(self, assessment: Assessment) -> None:
        for key in assessment.end_calls:
            call_id, _, tag = key.rpartition(";")
            self._end_call(call_id, tag, "fraud_contained")
        if assessment.response is Response.NONE:
            return
        tenant = self._directory().tenant(TenantId(assessment.tenant_id))
        name = tenant.name if tenant is not None else str(assessment.tenant_id)
        ext = assessment.ext if assessment.scope is Scope.EXTENSION else None
        level = assessment.response
        stamp = datetime.fromtimestamp(assessment.at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        action = f"{stamp} {level.name.lower()}: {assessment.explain()}"
        if assessment.end_calls:
            action += f"; {len(assessment.end_calls)} international call(s) ended"
        log.warning(
            "fraud_response",
            tenant=name,
            ext=ext,
            response=level.name.lower(),
            score=assessment.score,
            explanation=assessment.explain(),
            ended=len(assessment.end_calls),
        )
        notice = self._notice(name, ext, assessment, stamp)
        self._spawn(self._record(assessment, ext, level, action, notice))

    def on_pin(self, tenant_id: int, ext: str) -> None:
        now = self._clock()
        stamp = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        log.info("fraud_pin_given", tenant_id=tenant_id, ext=ext)

        async def lift() -> None:
            try:
                await self._offload.call(
                    self._store.lift_pin_hold,
                    tenant_id=tenant_id,
                    ext=ext,
                    action=f"{stamp} the extension's PIN was given",
                    at=now,
                )
            except Exception as error:
                log.error("fraud_pin_lift_failed", error=str(error))

        self._spawn(lift())

    def on_quiet(self, tenant_id: int, ext: str | None) -> None:
        """The detector closed a notified incident that stayed quiet for a day."""
        now = self._clock()
        stamp = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        log.info("fraud_incident_quiet", tenant_id=tenant_id, ext=ext)

        async def close() -> None:
            try:
                await self._offload.call(
                    self._store.close_quiet_incident,
                    tenant_id=tenant_id,
                    ext=ext,
                    action=f"{stamp} closed: no further signal for a day",
                    at=now,
                )
            except Exception as error:
                log.error("fraud_close_failed", error=str(error))

        self._spawn(close())

    def on_guard_event(self, event: GuardEvent) -> None:
        """The perimeter saw an extension targeted (password guessing from anywhere): its
        tenant hears of it through the fraud guard's channels, once a day per extension."""
        if event.kind != "extension_targeted" or event.tenant_id is None or not event.ext:
            return
        key = (event.tenant_id, event.ext)
        last = self._targeted.get(key)
        if last is not None and event.at - last < TARGETED_NOTICE_EVERY:
            return
        self._targeted[key] = event.at
        if len(self._targeted) > 10_000:
            self._targeted.pop(next(iter(self._targeted)))
        tenant = self._directory().tenant(TenantId(event.tenant_id))
        name = tenant.name if tenant is not None else str(event.tenant_id)
        stamp = datetime.fromtimestamp(event.at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        who = f"extension {event.ext} of {name}"
        body = "\n".join(
            [
                f"ringfence saw someone trying to guess the SIP password of {who}.",
                "",
                f"When:      {stamp}",
                f"What:      {event.detail}",
                f"Last from: {event.address} (each address that keeps guessing is banned)",
                "",
                "The extension's own phones keep working. If its password may be weak or known,",
                f"give it a new one: ringfence ext passwd {name} {event.ext}",
                "Further attempts on this extension are not reported again for a day.",
            ]
        )
        payload = {
            "event": "security.extension_targeted",
            "ext": event.ext,
            "address": event.address,
            "detail": event.detail,
        }
        notice = StoredNotice(
            subject=f"[ringfence] password guessing on {who}",
            body=body,
            payload=json.dumps(payload, sort_keys=True),
        )
        log.warning("security_notice", tenant=name, ext=event.ext, address=event.address)

        async def queue() -> None:
            try:
                queued = await self._offload.call(
                    self._store.queue_notice, tenant_id=event.tenant_id, notice=notice, at=event.at
                )
            except Exception as error:
                log.error("security_notice_failed", error=str(error))
                return
            if queued:
                self._wake.set()

        self._spawn(queue())

    def _notice(
        self, tenant: str, ext: str | None, assessment: Assessment, stamp: str
    ) -> StoredNotice:
        who = f"extension {ext} of {tenant}" if ext else f"tenant {tenant}"
        release = f"ringfence fraud release {tenant}" + (f" --ext {ext}" if ext else "")
        level = assessment.response
        body = "\n".join(
            [
                f"ringfence suspects toll fraud on {who}.",
                "",
                f"When:      {stamp}",
                f"Response:  {_WORDS.get(level, level.name.lower())}",
                f"Why:       {assessment.explain()}",
                "",
                "Further responses to this incident are recorded but not sent again.",
                f"If the calls were legitimate, an administrator can lift the hold with: {release}",
            ]
        )
        payload = {
            "event": "fraud.incident",
            "ext": ext,
            "response": level.name.lower(),
            "score": assessment.score,
            "extension_score": assessment.extension_score,
            "tenant_score": assessment.tenant_score,
            "signals": [
                {"signal": h.signal.value, "points": h.points, "detail": h.detail}
                for h in assessment.hits
            ],
            "explanation": assessment.explain(),
            "calls_ended": len(assessment.end_calls),
        }
        return StoredNotice(
            subject=f"[ringfence] suspected toll fraud: {who}",
            body=body,
            payload=json.dumps(payload, sort_keys=True),
        )

    async def _record(
        self,
        assessment: Assessment,
        ext: str | None,
        level: Response,
        action: str,
        notice: StoredNotice,
    ) -> None:
        reset = self._new_ha1s if ext is not None and level is Response.CONTAIN else None
        try:
            incident, opened, password_reset = await self._offload.call(
                self._store.record_response,
                tenant_id=assessment.tenant_id,
                ext=ext,
                level=level,
                score=assessment.extension_score if ext else assessment.tenant_score,
                summary=assessment.explain(),
                action=action,
                at=assessment.at,
                notice=notice,
                new_ha1s=reset,
            )
        except Exception as error:
            log.error("fraud_record_failed", error=str(error))
            return
        log.info("fraud_incident", incident=incident, opened=opened)
        if password_reset and ext is not None:
            # The phone that registered with the stolen password is reached no more, here at
            # once; the other nodes drop it from the store's bindings on their next load.
            if self._forget_bindings is not None:
                self._forget_bindings(assessment.tenant_id, ext)
            log.warning("fraud_password_reset", tenant_id=assessment.tenant_id, ext=ext)
        if opened:
            self._wake.set()

    # -- the outbox ---------------------------------------------------------------------------

    async def deliver_forever(self, stop: asyncio.Event, *, every: float = 5.0) -> None:
        """Send what waits in the outbox: when woken by a new incident, and every few seconds
        (a notice that failed, or one left from before a restart)."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=every)
            self._wake.clear()
            try:
                entries = await self._offload.call(self._store.pending_notifications)
            except Exception as error:
                log.error("notify_outbox_failed", error=str(error))
                continue
            for entry in entries:
                if entry.id not in self._sending:
                    self._sending.add(entry.id)
                    self._spawn(self._deliver(entry))

    async def _deliver(self, entry: OutboxEntry) -> None:
        try:
            await self._deliver_one(entry)
        finally:
            self._sending.discard(entry.id)

    async def _deliver_one(self, entry: OutboxEntry) -> None:
        tenant = self._directory().tenant(TenantId(entry.tenant_id))
        notice = Notice(
            # A perimeter notice belongs to no incident: its own row is its identity.
            key=f"incident-{entry.incident_id}" if entry.incident_id else f"notice-{entry.id}",
            tenant=tenant.name if tenant is not None else str(entry.tenant_id),
            subject=entry.subject,
            text=entry.body,
            payload=json.loads(entry.payload),
            created_at=entry.created_at,
        )
        send: Callable[[], Awaitable[None]]
        client: httpx.AsyncClient | None = None
        if entry.channel == "email":
            if self._smtp is None or not entry.emails:
                return  # waits for an SMTP relay (serve --smtp) or a contact
            channel = EmailChannel(host=self._smtp[0], port=self._smtp[1], sender=self._smtp_from)
            target = EmailTarget(addresses=entry.emails)

            async def send_email() -> None:
                await channel.send(notice, target)

            send = send_email
        else:
            if entry.url is None or entry.secret is None:
                return
            client = httpx.AsyncClient(follow_redirects=False)
            hook = WebhookChannel(client=client, clock=self._clock)
            webhook = WebhookTarget(url=entry.url, secret=entry.secret)

            async def send_webhook() -> None:
                await hook.send(notice, webhook)

            send = send_webhook
        deliverer = Deliverer(policy=self._retry, sleep=asyncio.sleep, rand=random.random)
        try:
            outcome = await deliverer.deliver(send, key=notice.key, channel=entry.channel)
        except DeliveryError as error:  # pragma: no cover - the deliverer catches these
            outcome_error: str | None = str(error)
            delivered = False
            attempts = 1
        else:
            outcome_error, delivered, attempts = outcome.error, outcome.delivered, outcome.attempts
        finally:
            if client is not None:
                await client.aclose()
        try:
            await self._offload.call(
                self._store.finish_notification,
                entry.id,
                attempts=entry.attempts + attempts,
                delivered_at=self._clock() if delivered else None,
                error=outcome_error,
                gave_up=not delivered,
            )
        except Exception as error:
            log.error("notify_finish_failed", error=str(error))
