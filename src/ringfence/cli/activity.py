"""What happened: ``calls``, ``registrations`` and ``audit``."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from ringfence.admin import StoredBinding
from ringfence.cli.common import (
    DEFAULT_DIR,
    AsJson,
    DataDir,
    DbUrl,
    app,
    emit_json,
    opened_admin,
    show_table,
    when,
)

__all__ = ["audit", "calls", "registrations"]

OptionalTenant = Annotated[
    str | None, typer.Argument(help="one tenant; all when left out", show_default=False)
]
Limit = Annotated[int, typer.Option("--limit", help="at most this many, newest first")]


def _source(binding: StoredBinding) -> str:
    return f"{binding.transport.lower()}:{binding.source_host}:{binding.source_port}"


@app.command(rich_help_panel="Activity")
def calls(
    tenant: OptionalTenant = None,
    *,
    limit: Limit = 50,
    data_dir: DataDir = DEFAULT_DIR,
    db: DbUrl = None,
    as_json: AsJson = False,
) -> None:
    """Call records, the most recently ended first."""
    with opened_admin(data_dir, db) as admin:
        found = admin.calls(tenant, limit=limit)
    if as_json:
        emit_json(
            [
                {
                    "tenant": c.tenant.name,
                    "call_id": c.record.call_id,
                    "caller": c.record.caller,
                    "callee": c.record.callee,
                    "direction": c.record.direction,
                    "started_at": c.record.started_at,
                    "answered_at": c.record.answered_at,
                    "ended_at": c.record.ended_at,
                    "duration": c.record.duration,
                    "final_status": c.record.final_status,
                    "reason": c.record.reason,
                    "cost": str(c.record.cost) if c.record.cost is not None else None,
                    "currency": c.record.currency,
                }
                for c in found
            ]
        )
        return
    rows = [
        [
            when(c.record.started_at),
            c.tenant.name,
            c.record.direction,
            c.record.caller,
            c.record.callee,
            str(c.record.final_status),
            f"{c.record.duration:.0f}s" if c.record.answered_at is not None else "-",
            c.record.reason or "",
        ]
        for c in found
    ]
    columns = ["started (UTC)", "tenant", "direction", "from", "to", "status", "talked", "reason"]
    show_table("Calls", columns, rows)


@app.command(rich_help_panel="Activity")
def registrations(
    tenant: OptionalTenant = None,
    *,
    data_dir: DataDir = DEFAULT_DIR,
    db: DbUrl = None,
    as_json: AsJson = False,
) -> None:
    """Live registrations: extension, contact, where it registered from, expires in."""
    with opened_admin(data_dir, db) as admin:
        found = admin.registrations(tenant)
        now = admin.now()
    items = [
        {
            "tenant": r.tenant.name,
            "ext": r.binding.ext,
            "contact": r.binding.contact,
            "source": _source(r.binding),
            "expires_in": max(0, round(r.binding.expires_at - now)),
            "user_agent": r.binding.user_agent,
        }
        for r in found
    ]
    if as_json:
        emit_json(items)
        return
    rows = [
        [
            r.tenant.name,
            r.binding.ext,
            r.binding.contact,
            _source(r.binding),
            f"{max(0, round(r.binding.expires_at - now))}s",
            r.binding.user_agent or "",
        ]
        for r in found
    ]
    columns = ["tenant", "ext", "contact", "source", "expires in", "user agent"]
    show_table("Registrations", columns, rows)


@app.command(rich_help_panel="Activity")
def audit(
    tenant: OptionalTenant = None,
    *,
    limit: Limit = 50,
    data_dir: DataDir = DEFAULT_DIR,
    db: DbUrl = None,
    as_json: AsJson = False,
) -> None:
    """The audit log of admin actions, newest first."""
    with opened_admin(data_dir, db) as admin:
        entries = admin.accounts.audit_log(tenant, limit=limit)
        names = {t.id: t.name for t in admin.accounts.tenants()}
    items = [
        {
            "at": e.at,
            "actor": e.actor,
            "action": e.action,
            "tenant": names.get(e.tenant_id) if e.tenant_id is not None else None,
            "target": e.target,
            "detail": e.detail,
            "old": e.old_value,
            "new": e.new_value,
        }
        for e in entries
    ]
    if as_json:
        emit_json(items)
        return
    rows = [
        [
            when(e.at),
            e.actor,
            e.action,
            names.get(e.tenant_id, "") if e.tenant_id is not None else "",
            e.target,
            "; ".join(p for p in (e.detail, _change(e.old_value, e.new_value)) if p),
        ]
        for e in entries
    ]
    show_table("Audit log", ["at (UTC)", "who", "what", "tenant", "target", "detail"], rows)


def _change(old: str | None, new: str | None) -> str:
    """Old and new values, short: for settings (JSON objects) only the keys that changed."""
    if old is None and new is None:
        return ""
    try:
        before, after = json.loads(old or "{}"), json.loads(new or "{}")
    except ValueError:
        before = after = None
    if not isinstance(before, dict) or not isinstance(after, dict):
        return f"{old or '-'} -> {new or '-'}"

    def shown(value: object) -> str:
        if value is None:
            return "inherited"
        return ",".join(map(str, value)) if isinstance(value, list) else str(value)

    keys = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    return "; ".join(f"{k}: {shown(before.get(k))} -> {shown(after.get(k))}" for k in keys)
