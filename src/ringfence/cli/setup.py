"""``init`` prepares a data directory (and the demo tenant); ``serve`` runs the service."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import typer

from ringfence.accounts import IssuedCredentials
from ringfence.admin import initialise, open_admin
from ringfence.cli.common import (
    DEFAULT_DIR,
    AsJson,
    DataDir,
    DbUrl,
    app,
    emit_json,
    failures,
    load_settings,
)
from ringfence.config import Settings, check_ready

__all__ = ["init", "serve"]


def _demo_settings(settings: Settings, credentials: IssuedCredentials) -> list[tuple[str, str]]:
    tenant, ext = credentials.tenant, credentials.extension.ext
    tls = f", TLS on {settings.sips_port}" if settings.sips_port is not None else ""
    return [
        ("server", tenant.domain),
        ("port", str(settings.sip_port)),
        ("transport", f"UDP (TCP on {settings.sip_port}{tls} work too)"),
        ("username", ext),
        (
            "password",
            credentials.password
            or f"(shown when it was made; ringfence ext passwd {tenant.name} {ext} sets a new one)",
        ),
        ("domain", tenant.domain),
    ]


@app.command(rich_help_panel="Service")
def init(
    *,
    data_dir: DataDir = DEFAULT_DIR,
    db: DbUrl = None,
    demo: Annotated[
        bool, typer.Option("--demo", help="also create tenant 'demo' with extensions 1001, 1002")
    ] = False,
    domain: Annotated[
        str, typer.Option("--domain", help="the demo tenant's SIP domain: this host's address")
    ] = "127.0.0.1",
    tls_hosts: Annotated[
        list[str] | None,
        typer.Option("--tls-host", help="another name or address for the TLS certificate"),
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Create the data directory, secret, TLS certificate and database schema (idempotent)."""
    settings = load_settings(data_dir=data_dir, db_url=db)
    with failures():
        hosts = [domain, *(tls_hosts or [])] if demo or tls_hosts else []
        report = initialise(settings, tls_hosts=hosts)
        demo_accounts = None
        if demo:
            with open_admin(settings, actor="cli") as admin:
                demo_accounts = admin.accounts.ensure_demo(domain=domain)
    result: dict[str, Any] = {
        "data_dir": str(settings.data_dir),
        "database": report.database,
        "schema": report.schema_after,
        "tls_certificate": str(settings.tls_cert_path),
        "tls_hosts": list(report.certificate_hosts),
    }
    if demo_accounts is not None:
        result["demo"] = {
            "tenant": demo_accounts.tenant.name,
            "created": demo_accounts.created,
            "phones": [
                dict(_demo_settings(settings, c)) | {"password": c.password}
                for c in demo_accounts.credentials
            ],
        }
    if as_json:
        emit_json(result)
        return
    made = {True: "created", False: "kept"}
    typer.echo(f"data directory: {settings.data_dir} ({made[report.data_dir_created]})")
    typer.echo(f"nonce secret:   {settings.secret_path} ({made[report.secret_created]})")
    typer.echo(
        f"TLS:            {settings.tls_cert_path} ({made[report.certificate_created]};"
        f" valid for {', '.join(report.certificate_hosts)})"
    )
    schema = (
        "up to date"
        if report.schema_before == report.schema_after
        else f"migrated from {report.schema_before or 'empty'}"
    )
    typer.echo(f"database:       {report.database} (schema {report.schema_after}, {schema})")
    if demo_accounts is None:
        typer.echo("next: ringfence tenant add NAME --domain DOMAIN, then ringfence serve")
        return
    if domain.lower() not in report.certificate_hosts:
        typer.echo(f"note: the TLS certificate does not name {domain}; TLS phones will warn")
    if demo_accounts.tenant.domain != domain.lower():
        typer.echo(f"note: the demo tenant exists with domain {demo_accounts.tenant.domain}")
    typer.echo("")
    typer.echo(f"Demo tenant '{demo_accounts.tenant.name}': softphone settings")
    for credentials in demo_accounts.credentials:
        typer.echo(f"  extension {credentials.extension.ext}:")
        for key, value in _demo_settings(settings, credentials):
            typer.echo(f"    {key + ':':<11}{value}")
    if any(c.password for c in demo_accounts.credentials):
        typer.echo("Passwords are shown once and stored only as digests: note them now.")
    typer.echo("Start the service with: ringfence serve")


@app.command(rich_help_panel="Service")
def serve(
    *,
    data_dir: DataDir = DEFAULT_DIR,
    db: DbUrl = None,
    sip: Annotated[
        str, typer.Option("--sip", metavar="HOST:PORT", help="SIP over UDP and TCP")
    ] = "0.0.0.0:5060",
    sips: Annotated[
        str, typer.Option("--sips", metavar="HOST:PORT", help="SIP over TLS, or 'off'")
    ] = "0.0.0.0:5061",
    metrics: Annotated[
        str, typer.Option("--metrics", metavar="HOST:PORT", help="Prometheus metrics, or 'off'")
    ] = "127.0.0.1:9060",
    log_format: Annotated[
        Literal["console", "json"], typer.Option("--log-format", help="console or json")
    ] = "console",
    silence_seconds: Annotated[
        float,
        typer.Option(
            "--silence-seconds",
            help="how long a blocked caller with the silence treatment waits before a 480",
        ),
    ] = 20.0,
    smtp: Annotated[
        str,
        typer.Option(
            "--smtp",
            metavar="HOST:PORT",
            help="SMTP relay for fraud-incident e-mail to security contacts, or 'off'",
        ),
    ] = "off",
    smtp_from: Annotated[
        str, typer.Option("--smtp-from", help="the sender address of fraud-incident e-mail")
    ] = "ringfence@localhost",
    guard_allow: Annotated[
        str,
        typer.Option(
            "--guard-allow",
            metavar="CIDR,...",
            help="addresses or networks the perimeter never bans nor rate-limits",
        ),
    ] = "",
) -> None:
    """Run the phone service until SIGTERM or SIGINT, then stop cleanly."""
    settings = load_settings(
        data_dir=data_dir,
        db_url=db,
        sip=sip,
        sips=sips,
        metrics=metrics,
        log_format=log_format,
        silence_seconds=silence_seconds,
        smtp=smtp,
        smtp_from=smtp_from,
        guard_allow=guard_allow,
    )
    with failures():
        check_ready(settings)
    try:
        # Imported here, so that the other commands work whatever the service needs to import.
        from ringfence.app import run_service  # type: ignore[attr-defined,unused-ignore]  # noqa: PLC0415
    except ImportError:
        typer.echo(
            "error: this build of ringfence cannot serve yet (no ringfence.app.run_service)",
            err=True,
        )
        raise typer.Exit(1) from None
    with failures():
        run_service(settings)
