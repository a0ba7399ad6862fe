"""The measurements of ``fraud_live.py``: from SIPp's message traces, the call records
(``calls --json``), the incidents (``fraud incidents --json``) and the service's JSON log, the
figures of each scenario. Times in the output are seconds from the scenario's start (``*_s``)
or between two events; every clock read here is the one machine's wall clock."""

from __future__ import annotations

import contextlib
import re
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from fraud_live_rig import SippRun, Traced, event_time

#: Refusals by the fraud guard itself (``fraud_contained``, ``pin_required``, ...); the
#: throttles and the policy have reasons of their own.
FRAUD_REASON_PREFIXES = ("fraud_", "pin_")
LEVELS = ("notify", "pin", "contain")
RECORD_TIMEOUT = 20.0


# -- inputs ---------------------------------------------------------------------------------------


def tenant_clock(now: float, timezone: str, country: str) -> dict[str, Any]:
    """The tenant's local time and whether the detector counts it as off hours."""
    from ringfence.fraud.baseline import is_off_hours, local_time  # noqa: PLC0415

    off, words = is_off_hours(now, timezone, country)
    return {
        "local_time": local_time(now, timezone).isoformat(timespec="seconds"),
        "timezone": timezone,
        "off_hours": off,
        "as_the_detector_says": words,
    }


def wait_for_records(
    fetch: Callable[[], list[dict[str, Any]]], call_ids: set[str]
) -> dict[str, dict[str, Any]]:
    """The call records of ``call_ids`` by Call-ID, once all are written (a worker writes each
    when its call ends) or RECORD_TIMEOUT has passed."""
    deadline = time.monotonic() + RECORD_TIMEOUT
    while True:
        found = {r["call_id"]: r for r in fetch() if r.get("call_id") in call_ids}
        if set(found) >= call_ids or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


@dataclass(frozen=True, slots=True)
class FraudResponse:
    at: float
    response: str
    ext: str | None
    score: int | None
    explanation: str
    ended: int


def responses(events: list[dict[str, Any]], tenant: str) -> list[FraudResponse]:
    """The tenant's ``fraud_response`` log events, in order."""
    out = []
    for event in events:
        at = event_time(event)
        if event.get("tenant") != tenant or at is None:
            continue
        out.append(
            FraudResponse(
                at=at,
                response=str(event.get("response")),
                ext=event.get("ext"),
                score=event.get("score"),
                explanation=str(event.get("explanation", "")),
                ended=int(event.get("ended") or 0),
            )
        )
    return sorted(out, key=lambda r: r.at)


def service_log(events: list[dict[str, Any]]) -> dict[str, Any]:
    """What the service said at start, and how many errors it logged."""
    listening = next((e for e in events if e.get("event") == "listening"), {})
    errors = [e for e in events if str(e.get("level", "")).lower() in ("error", "critical")]
    return {
        "baseline_calls_learned_at_start": listening.get("baseline_calls"),
        "log_errors": len(errors),
        "first_log_errors": [
            {k: e.get(k) for k in ("event", "error", "call_id") if k in e} for e in errors[:5]
        ],
    }


# -- one call -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CallView:
    """One call as the caller saw it, as the gateway saw it, and as the service recorded it."""

    kind: str
    ext: str
    number: str
    fraud: bool
    status: int | None  # the final answer to the authenticated INVITE
    warning: str | None  # the reason code of its Warning header
    bye_reason: str | None  # the text of the Reason of a BYE the caller received
    caller_hung_up: bool
    reached_gateway_at: float | None
    record: dict[str, Any] | None

    @property
    def started(self) -> float | None:
        return _number(self.record, "started_at")

    @property
    def reason(self) -> str | None:
        return self.record.get("reason") if self.record else None

    @property
    def refused_by_fraud_guard(self) -> bool:
        """Refused (not ended) by the fraud guard: contained, or its PIN asked for."""
        status = self.record.get("final_status") if self.record else None
        fraud = (self.reason or "").startswith(FRAUD_REASON_PREFIXES)
        return fraud and status is not None and int(status) >= 300

    @property
    def answered(self) -> bool:
        return bool(self.record and self.record.get("answered_at") is not None)

    def cost_after(self, at: float | None) -> Decimal:
        """The part of its cost run up after ``at`` (pro rata of its answered time)."""
        answered, ended = _number(self.record, "answered_at"), _number(self.record, "ended_at")
        if at is None or answered is None or ended is None or ended <= answered:
            return Decimal(0)
        share = max(0.0, ended - max(answered, at)) / (ended - answered)
        return (self.cost * Decimal(str(round(share, 6)))).quantize(Decimal("0.0001"))

    @property
    def cost(self) -> Decimal:
        value = self.record.get("cost") if self.record else None
        return Decimal(str(value)) if value is not None else Decimal(0)


def _number(record: dict[str, Any] | None, key: str) -> float | None:
    value = record.get(key) if record else None
    return float(value) if value is not None else None


def final_of(messages: list[Traced], cseq: str) -> Traced | None:
    """The last final response received to the request with this CSeq ("2 INVITE")."""
    finals = [
        m
        for m in messages
        if m.direction == "received"
        and (m.status or 0) >= 200
        and " ".join((m.header("CSeq") or "").split()) == cseq
    ]
    return finals[-1] if finals else None


def _quoted_reason(value: str | None) -> str | None:
    match = re.search(r'"(\w+)', value or "")
    return match.group(1) if match else None


def view(call: Any, record: dict[str, Any] | None, arrivals: dict[str, float]) -> CallView:
    messages = call.run.messages()
    final = final_of(messages, "2 INVITE")
    byes = [m for m in messages if m.direction == "received" and m.first_line.startswith("BYE ")]
    return CallView(
        kind=call.kind,
        ext=call.ext,
        number=call.number,
        fraud=call.fraud,
        status=final.status if final else None,
        warning=_quoted_reason(final.header("Warning")) if final else None,
        bye_reason=_quoted_reason(byes[0].header("Reason")) if byes else None,
        caller_hung_up=any(
            m.direction == "sent" and m.first_line.startswith("BYE ") for m in messages
        ),
        reached_gateway_at=arrivals.get(call.call_id),
        record=record,
    )


def gateway_arrivals(gateway: SippRun | None) -> dict[str, float]:
    """When each call's INVITE first reached the trunk gateway, by Call-ID."""
    out: dict[str, float] = {}
    for message in gateway.messages() if gateway is not None else []:
        if message.direction == "received" and message.first_line.startswith("INVITE "):
            out.setdefault(message.call_id, message.at)
    return out


# -- one scenario ---------------------------------------------------------------------------------


def scenario_result(
    *,
    scenario: Any,
    tenant: Any,
    played: Any,
    records: dict[str, dict[str, Any]],
    responses: list[FraudResponse],
    incidents: list[dict[str, Any]],
    clock: dict[str, Any],
    currency: str,
) -> dict[str, Any]:
    arrivals = gateway_arrivals(played.gateway)
    views = [view(c, records.get(c.call_id), arrivals) for c in played.calls]
    t0 = played.started_at
    result: dict[str, Any] = {
        "story": scenario.story,
        "tenant": tenant.name,
        "tenant_clock_at_start": clock,
        "seconds": round(played.ended_at - t0, 1),
        "phones_registered": _finals(played.phones, "2 REGISTER").get("200", 0),
        "currency": currency,
    }
    if scenario.attack:
        result.update(attack_figures(views, responses, incidents))
    else:
        result.update(benign_figures(views, responses, incidents))
    if played.baits:
        result["wangiri_baits"] = bait_figures(played.baits, records)
    if played.logins:
        result["logins_from_attacker"] = {
            name: {"final_status": _finals(run, "2 REGISTER")}
            for name, run in played.logins.items()
        }
    result["responses"] = [
        {
            "at_s": _rel(r.at, t0),
            "response": r.response,
            "ext": r.ext,
            "score": r.score,
            "calls_ended": r.ended,
            "explanation": r.explanation,
        }
        for r in responses
    ]
    result["incidents"] = [_incident(i, t0) for i in incidents]
    result["calls"] = [_call_row(v, t0) for v in views]
    return result


def attack_figures(
    views: list[CallView], fired: list[FraudResponse], incidents: list[dict[str, Any]]
) -> dict[str, Any]:
    """The attack's figures. As in ``fraud_sim.py``, the attack is contained once its tenant,
    or every extension it used, is contained; the first containment of any of them is apart."""
    fraud = [v for v in views if v.fraud]
    first = min((v.started for v in fraud if v.started is not None), default=None)
    contains = containments(fired, incidents)
    exts = {v.ext for v in fraud}
    contained_at = _contained_at(contains, exts)
    refusals = [v.started for v in fraud if v.refused_by_fraud_guard and v.started is not None]
    reached = [v for v in fraud if v.reached_gateway_at is not None]
    before = [v for v in reached if _before(v.reached_gateway_at, contained_at)]
    loss = sum((v.cost for v in fraud), Decimal(0))
    loss_by_kind: dict[str, Decimal] = {}
    for v in fraud:
        loss_by_kind[v.kind] = loss_by_kind.get(v.kind, Decimal(0)) + v.cost
    after = sum((v.cost_after(contained_at) for v in fraud), Decimal(0))
    return {
        "fraudulent_calls": {
            "placed": len(fraud),
            "answered": sum(1 for v in fraud if v.answered),
            "reached_gateway": len(reached),
            "reached_gateway_before_containment": len(before),
            "refused_by_fraud_guard": len(refusals),
            "ended_by_the_proxy": sum(1 for v in fraud if v.bye_reason),
        },
        "loss": {
            "total": _money(loss),
            "after_containment": _money(after),
            "by_kind": {k: _money(x) for k, x in loss_by_kind.items()},
        },
        "contained": contained_at is not None,
        "containment_scopes": {
            ("tenant" if ext is None else f"ext {ext}"): _between(first, at)
            for ext, at in sorted(contains.items(), key=lambda item: item[1])
        },
        "seconds_first_fraud_call_to_containment": _between(first, contained_at),
        "seconds_first_fraud_call_to_first_containment": _between(
            first, min(contains.values(), default=None)
        ),
        "seconds_first_fraud_call_to_first_fraud_refusal": _between(
            first, min(refusals, default=None)
        ),
        "responses_fired": _levels(fired, incidents),
        "attacker_saw": {
            "final_status": _count(v.status for v in fraud),
            "warning_reasons": _count(v.warning for v in fraud if v.warning),
            "bye_reasons": _count(v.bye_reason for v in fraud if v.bye_reason),
        },
        "record_reasons": _count(v.reason or "none" for v in fraud),
    }


def containments(
    fired: list[FraudResponse], incidents: list[dict[str, Any]]
) -> dict[str | None, float]:
    """When each extension (``None``: the tenant) was first contained: from the log events, or
    (a second's precision) from the incidents' actions."""
    out: dict[str | None, float] = {}
    for r in fired:
        if r.response == "contain":
            out.setdefault(r.ext, r.at)
    for incident in incidents:
        ext = incident.get("ext")
        at = _contained_from_actions(incident.get("actions") or [])
        if at is not None and ext not in out:
            out[ext] = at
    return out


def _contained_at(contains: dict[str | None, float], exts: set[str]) -> float | None:
    """When the tenant, or the last of ``exts``, was contained (None: it never was)."""
    whole = contains.get(None)
    if exts and all(e in contains for e in exts):
        each = max(contains[e] for e in exts)
        return each if whole is None else min(each, whole)
    return whole


def benign_figures(
    views: list[CallView], fired: list[FraudResponse], incidents: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "benign_calls": {
            "placed": len(views),
            "answered": sum(1 for v in views if v.answered),
            "final_status": _count(v.status for v in views),
            "record_reasons": _count(v.reason or "none" for v in views),
            "spent": _money(sum((v.cost for v in views), Decimal(0))),
        },
        "notifications": sum(1 for r in fired if r.response == "notify"),
        "responses_fired": _levels(fired, incidents),
        "incidents_raised": len(incidents),
    }


def bait_figures(baits: list[Any], records: dict[str, dict[str, Any]]) -> dict[str, Any]:
    rang = []
    for bait in baits:
        record = records.get(bait.call_id)
        if record is not None and record.get("ended_at") is not None:
            rang.append(round(float(record["ended_at"]) - float(record["started_at"]), 2))
    finals: Counter[str] = Counter()
    for bait in baits:
        final = final_of(bait.run.messages(), "1 INVITE")
        finals[str(final.status if final else None)] += 1
    return {
        "placed": len(baits),
        "caller_ranges": sorted({b.number[:7] for b in baits}),
        "final_status_seen_by_gateway": dict(finals),
        "rang_seconds_in_records": rang,
        "record_reasons": _count(
            (records.get(b.call_id) or {}).get("reason") or "none" for b in baits
        ),
    }


def summary(result: dict[str, Any]) -> dict[str, Any]:
    """The few figures of a scenario worth a glance."""
    if "fraudulent_calls" not in result:
        return {
            "responses_fired": result["responses_fired"],
            "incidents_raised": result["incidents_raised"],
            "calls_answered": result["benign_calls"]["answered"],
        }
    calls = result["fraudulent_calls"]
    return {
        "contained": result["contained"],
        "seconds_to_containment": result["seconds_first_fraud_call_to_containment"],
        "seconds_to_first_fraud_refusal": result["seconds_first_fraud_call_to_first_fraud_refusal"],
        "fraud_calls_placed": calls["placed"],
        "reached_gateway_before_containment": calls["reached_gateway_before_containment"],
        "loss": result["loss"]["total"],
        "responses_fired": result["responses_fired"],
        "attacker_final_status": result["attacker_saw"]["final_status"],
    }


# -- small helpers --------------------------------------------------------------------------------


def _finals(run: SippRun | None, cseq: str) -> dict[str, int]:
    """The final statuses received for each SIPp call of ``run`` to the request ``cseq``."""
    if run is None:
        return {}
    last: dict[str, int] = {}
    for message in run.messages():
        if message.direction != "received" or (message.status or 0) < 200:
            continue
        if " ".join((message.header("CSeq") or "").split()) == cseq:
            last[message.call_id] = message.status or 0
    return _count(last.values())


def _count(values: Iterable[Any]) -> dict[str, int]:
    return dict(Counter(str(v) for v in values))


def _levels(fired: list[FraudResponse], incidents: list[dict[str, Any]]) -> list[str]:
    seen = {r.response for r in fired} | {str(i.get("level")) for i in incidents}
    return [level for level in LEVELS if level in seen]


def _contained_from_actions(actions: list[str]) -> float | None:
    """When an incident's actions first say ``contain`` (a second's precision)."""
    for action in actions:
        match = re.match(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC contain:", action)
        if match:
            at = datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
            return at.timestamp()
    return None


def _before(at: float | None, limit: float | None) -> bool:
    """Whether ``at`` came before ``limit`` (everything does when there is no limit)."""
    return at is not None and (limit is None or at < limit)


def _between(start: float | None, end: float | None) -> float | None:
    if start is None or end is None:
        return None
    return round(end - start, 2)


def _rel(at: float | None, t0: float) -> float | None:
    return round(at - t0, 2) if at is not None else None


def _money(value: Decimal) -> float:
    return float(value.quantize(Decimal("0.0001")))


def _incident(incident: dict[str, Any], t0: float) -> dict[str, Any]:
    return {
        "ext": incident.get("ext"),
        "status": incident.get("status"),
        "level": incident.get("level"),
        "score": incident.get("score"),
        "opened_at_s": _rel(incident.get("opened_at"), t0),
        "summary": incident.get("summary"),
        "actions": incident.get("actions"),
    }


def _call_row(v: CallView, t0: float) -> dict[str, Any]:
    record = v.record or {}
    return {
        "kind": v.kind,
        "ext": v.ext,
        "number": v.number,
        "at_s": _rel(v.started, t0),
        "caller_saw": v.status,
        "warning": v.warning,
        "bye_reason": v.bye_reason,
        "caller_hung_up": v.caller_hung_up,
        "reached_gateway_at_s": _rel(v.reached_gateway_at, t0),
        "record_status": record.get("final_status"),
        "record_reason": record.get("reason"),
        "duration": record.get("duration"),
        "cost": float(v.cost) if v.record and v.record.get("cost") is not None else None,
    }


def version(command: list[str]) -> str:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        done = subprocess.run(  # noqa: S603
            command, capture_output=True, text=True, timeout=10, check=False
        )
        for line in (done.stdout + done.stderr).splitlines():
            if line.strip():
                return line.strip()
    return ""
