"""The fraud guard's incidents and who hears of them: ``fraud incidents|release``,
``fraud settings``, ``contact add|list|remove``, ``webhook set|show|remove`` and ``ext pin``."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from ringfence.cli.common import (
    DEFAULT_DIR,
    AsJson,
    DataDir,
    DbUrl,
    ExtArg,
    TenantName,
    app,
    emit_json,
    ext_app,
    opened_admin,
    read_password,
    show_table,
    when,
)
from ringfence.fraud.incidents import Incident

__all__ = [
    "contact_add",
    "contact_list",
    "contact_remove",
    "ext_pin",
    "fraud_incidents",
    "fraud_release",
    "fraud_settings",
    "webhook_remove",
    "webhook_set",
    "webhook_show",
]

fraud_app = typer.Typer(help="Fraud incidents and their release.", no_args_is_help=True)
contact_app = typer.Typer(
    help="Security contacts: who is e-mailed about fraud incidents.", no_args_is_help=True
)
webhook_app = typer.Typer(
    help="A tenant's signed webhook for fraud incidents.", no_args_is_help=True
)
app.add_typer(fraud_app, name="fraud", rich_help_panel="Fraud guard")
app.add_typer(contact_app, name="contact", rich_help_panel="Fraud guard")
app.add_typer(webhook_app, name="webhook", rich_help_panel="Fraud guard")

ExtOption = Annotated[
    str | None,
    typer.Option("--ext", help="one extension of the tenant (the whole tenant when left out)"),
]
Email = Annotated[str, typer.Option("--email", help="an e-mail address", show_default=False)]


def _incident_json(incident: Incident) -> dict[str, Any]:
    return {
        "id": incident.id,
        "tenant_id": incident.tenant_id,
        "ext": incident.ext,
        "status": incident.status.value,
        "level": incident.level.name.lower(),
        "score": incident.score,
        "opened_at": incident.opened_at,
        "updated_at": incident.updated_at,
        "summary": incident.summary,
        "actions": list(incident.actions),
        "released_at": incident.released_at,
        "released_by": incident.released_by,
    }


@fraud_app.command("incidents")
def fraud_incidents(
    tenant: Annotated[
        str | None, typer.Argument(help="one tenant (every tenant when left out)")
    ] = None,
    *,
    open_only: Annotated[bool, typer.Option("--open", help="open incidents only")] = False,
    data_dir: DataDir = DEFAULT_DIR,
    db: DbUrl = None,
    as_json: AsJson = False,
) -> None:
    """Fraud incidents, newest first: what was noticed, what was done, and whether it was
    released."""
    with opened_admin(data_dir, db) as admin:
        found = admin.fraud.incidents(tenant, open_only=open_only)
    if as_json:
        emit_json([_incident_json(i) for i in found])
        return
    if not found:
        typer.echo("no fraud incidents")
        return
    show_table(
        "Fraud incidents",
        ["id", "tenant", "ext", "opened", "status", "response", "score", "why"],
        [
            [
                str(i.id),
                str(i.tenant_id),
                i.ext or "(tenant)",
                when(i.opened_at),
                i.status.value,
                i.level.name.lower(),
                str(i.score),
                i.summary,
            ]
            for i in found
        ],
    )


@fraud_app.command("release")
def fraud_release(
    tenant: TenantName,
    *,
    ext: ExtOption = None,
    data_dir: DataDir = DEFAULT_DIR,
    db: DbUrl = None,
    as_json: AsJson = False,
) -> None:
    """Close the open incidents of an extension (or of the whole tenant) and lift their PIN
    and containment holds: international calls work again within a second."""
    with opened_admin(data_dir, db) as admin:
        released = admin.fraud.release(tenant, ext)
    if as_json:
        emit_json([_incident_json(i) for i in released])
        return
    who = f"extension {ext} of {tenant}" if ext else tenant
    if not released:
        typer.echo(f"{who}: no open incident; any hold is lifted")
        return
    ids = ", ".join(str(i.id) for i in released)
    typer.echo(f"{who}: released incident(s) {ids}")


@fraud_app.command("settings")
def fraud_settings(
    tenant: TenantName,
    *,
    reset_password: Annotated[
        bool | None,
        typer.Option(
            "--reset-password-on-contain/--keep-password-on-contain",
            help="also reset a contained extension's SIP password, dropping its registrations"
            " (left out: show the setting)",
            show_default=False,
        ),
    ] = None,
    data_dir: DataDir = DEFAULT_DIR,
    db: DbUrl = None,
    as_json: AsJson = False,
) -> None:
    """Show or change what a containment does besides suspending international calls."""
    with opened_admin(data_dir, db) as admin:
        if reset_password is not None:
            admin.fraud.set_reset_password_on_contain(tenant, reset_password)
        on = admin.fraud.resets_password_on_contain(tenant)
    if as_json:
        emit_json({"tenant": tenant, "reset_password_on_contain": on})
        return
    if on:
        typer.echo(
            f"{tenant}: a containment also resets the extension's SIP password (set a new one"
            f" with: ringfence ext passwd {tenant} EXT)"
        )
    else:
        typer.echo(f"{tenant}: a containment leaves SIP passwords as they are")


@contact_app.command("add")
def contact_add(
    tenant: TenantName, *, email: Email, data_dir: DataDir = DEFAULT_DIR, db: DbUrl = None
) -> None:
    """Add a security contact: it is e-mailed once for each new fraud incident."""
    with opened_admin(data_dir, db) as admin:
        admin.fraud.add_contact(tenant, email)
    typer.echo(f"{tenant}: {email.strip().lower()} is a security contact")


@contact_app.command("list")
def contact_list(
    tenant: TenantName,
    *,
    data_dir: DataDir = DEFAULT_DIR,
    db: DbUrl = None,
    as_json: AsJson = False,
) -> None:
    """The tenant's security contacts."""
    with opened_admin(data_dir, db) as admin:
        found = admin.fraud.contacts(tenant)
    if as_json:
        emit_json(found)
        return
    typer.echo("\n".join(found) if found else f"{tenant}: no security contact")


@contact_app.command("remove")
def contact_remove(
    tenant: TenantName, *, email: Email, data_dir: DataDir = DEFAULT_DIR, db: DbUrl = None
) -> None:
    """Remove a security contact."""
    with opened_admin(data_dir, db) as admin:
        admin.fraud.remove_contact(tenant, email)
    typer.echo(f"{tenant}: {email.strip().lower()} removed")


@webhook_app.command("set")
def webhook_set(
    tenant: TenantName,
    url: Annotated[str, typer.Argument(help="where to POST (https://...)", show_default=False)],
    *,
    secret: Annotated[
        str,
        typer.Option(
            "--secret",
            help="the HMAC-SHA256 key, 16 characters or more ('-' reads it from stdin)",
            show_default=False,
        ),
    ],
    data_dir: DataDir = DEFAULT_DIR,
    db: DbUrl = None,
) -> None:
    """Set the tenant's webhook: each new fraud incident is POSTed as JSON, signed in the
    X-Ringfence-Signature header (t=TIME,v1=HMAC-SHA256 of "TIME." + body)."""
    with opened_admin(data_dir, db) as admin:
        admin.fraud.set_webhook(tenant, url, read_password(secret))
    typer.echo(f"{tenant}: webhook set to {url}")


@webhook_app.command("show")
def webhook_show(tenant: TenantName, *, data_dir: DataDir = DEFAULT_DIR, db: DbUrl = None) -> None:
    """The tenant's webhook URL (its secret is never shown)."""
    with opened_admin(data_dir, db) as admin:
        url = admin.fraud.webhook(tenant)
    typer.echo(url or f"{tenant}: no webhook")


@webhook_app.command("remove")
def webhook_remove(
    tenant: TenantName, *, data_dir: DataDir = DEFAULT_DIR, db: DbUrl = None
) -> None:
    """Remove the tenant's webhook."""
    with opened_admin(data_dir, db) as admin:
        admin.fraud.set_webhook(tenant, None)
    typer.echo(f"{tenant}: webhook removed")


@ext_app.command("pin")
def ext_pin(
    tenant: TenantName,
    ext: ExtArg,
    *,
    pin: Annotated[
        str | None,
        typer.Option(
            "--pin",
            help="4 to 12 digits ('-' reads it from stdin); leave out to remove the PIN",
            show_default=False,
        ),
    ] = None,
    data_dir: DataDir = DEFAULT_DIR,
    db: DbUrl = None,
) -> None:
    """Set an extension's PIN: the fraud guard asks for it (a digest challenge in the realm
    pin.DOMAIN, username the extension) before an international call it doubts."""
    with opened_admin(data_dir, db) as admin:
        admin.fraud.set_pin(tenant, ext, read_password(pin))
    typer.echo(f"{tenant}: extension {ext} " + ("has a new PIN" if pin else "has no PIN"))
