"""Tenants, extensions, trunks and numbers: ``tenant``, ``ext``, ``trunk``, ``number``."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import typer

from ringfence.accounts import (
    Extension,
    IssuedCredentials,
    PhoneNumber,
    Tenant,
    Trunk,
    limits_from_text,
)
from ringfence.cli.common import (
    DEFAULT_DIR,
    AsJson,
    DataDir,
    DbUrl,
    ExtArg,
    TenantName,
    emit_json,
    ext_app,
    number_app,
    opened_admin,
    read_password,
    show_table,
    tenant_app,
    trunk_app,
    when,
)

__all__ = [
    "ext_add",
    "ext_list",
    "ext_passwd",
    "ext_remove",
    "number_add",
    "number_list",
    "number_remove",
    "tenant_add",
    "tenant_list",
    "trunk_add",
    "trunk_list",
]


def _tenant_json(tenant: Tenant) -> dict[str, Any]:
    return {
        "id": tenant.id,
        "name": tenant.name,
        "domain": tenant.domain,
        "encryption_required": tenant.encryption_required,
        "country": tenant.country,
        "timezone": tenant.timezone,
        "created_at": tenant.created_at,
    }


@tenant_app.command("add")
def tenant_add(
    name: TenantName,
    *,
    domain: Annotated[
        str, typer.Option("--domain", help="its SIP domain and digest realm", show_default=False)
    ],
    encryption_required: Annotated[
        bool, typer.Option("--encryption-required", help="refuse calls without SRTP (488)")
    ] = False,
    country: Annotated[
        str, typer.Option("--country", help="ISO country code: its calls there are domestic")
    ] = "US",
    timezone: Annotated[
        str, typer.Option("--timezone", help="IANA time zone of its time-of-day rules")
    ] = "UTC",
    daily_budget: Annotated[
        str | None,
        typer.Option("--daily-budget", help="most its calls may cost a day (else 50)"),
    ] = None,
    monthly_budget: Annotated[
        str | None,
        typer.Option("--monthly-budget", help="most its calls may cost a month (else 500)"),
    ] = None,
    data_dir: DataDir = DEFAULT_DIR,
    db: DbUrl = None,
    as_json: AsJson = False,
) -> None:
    """Add a tenant with its own SIP domain, and (optionally) its spend budgets."""
    budgets = {
        name: text
        for name, text in (("daily_budget", daily_budget), ("monthly_budget", monthly_budget))
        if text is not None
    }
    with opened_admin(data_dir, db) as admin:
        tenant = admin.accounts.add_tenant(
            name,
            domain=domain,
            encryption_required=encryption_required,
            country=country,
            timezone=timezone,
            limits=limits_from_text(budgets) if budgets else None,
        )
    if as_json:
        emit_json(_tenant_json(tenant))
    else:
        typer.echo(
            f"tenant {tenant.name} added with domain {tenant.domain}"
            f" (country {tenant.country}, time zone {tenant.timezone})"
        )


@tenant_app.command("list")
def tenant_list(
    *, data_dir: DataDir = DEFAULT_DIR, db: DbUrl = None, as_json: AsJson = False
) -> None:
    """List the tenants."""
    with opened_admin(data_dir, db) as admin:
        tenants = admin.accounts.tenants()
    if as_json:
        emit_json([_tenant_json(t) for t in tenants])
        return
    rows = [
        [
            t.name,
            t.domain,
            t.country,
            t.timezone,
            "required" if t.encryption_required else "optional",
            when(t.created_at),
        ]
        for t in tenants
    ]
    show_table("Tenants", ["name", "domain", "country", "time zone", "SRTP", "created (UTC)"], rows)


# -- extensions -----------------------------------------------------------------------------


def _ext_json(tenant: str, extension: Extension) -> dict[str, Any]:
    return {"tenant": tenant, "ext": extension.ext, "display_name": extension.display_name}


def _show_credentials(credentials: IssuedCredentials, verb: str, as_json: bool) -> None:
    extension, tenant = credentials.extension, credentials.tenant
    if as_json:
        emit_json(_ext_json(tenant.name, extension) | {"password": credentials.password})
        return
    typer.echo(f"extension {extension.ext} of {tenant.name} {verb} (domain {tenant.domain})")
    if credentials.password is not None:
        typer.echo(f"password: {credentials.password}")
        typer.echo("It is shown once and stored only as digests: note it now.")


Password = Annotated[
    str | None,
    typer.Option(
        "--password",
        help="the password to set ('-' reads it from stdin); a strong one is generated if left out",
        show_default=False,
    ),
]


@ext_app.command("add")
def ext_add(
    tenant: TenantName,
    ext: ExtArg,
    *,
    name: Annotated[str | None, typer.Option("--name", help="display name")] = None,
    password: Password = None,
    data_dir: DataDir = DEFAULT_DIR,
    db: DbUrl = None,
    as_json: AsJson = False,
) -> None:
    """Add an extension; prints its password when it generated one."""
    with opened_admin(data_dir, db) as admin:
        credentials = admin.accounts.add_extension(
            tenant, ext, display_name=name, password=read_password(password)
        )
    _show_credentials(credentials, "added", as_json)


@ext_app.command("list")
def ext_list(
    tenant: TenantName,
    *,
    data_dir: DataDir = DEFAULT_DIR,
    db: DbUrl = None,
    as_json: AsJson = False,
) -> None:
    """List a tenant's extensions (never their credentials)."""
    with opened_admin(data_dir, db) as admin:
        extensions = admin.accounts.extensions(tenant)
        numbers = admin.accounts.numbers(tenant)
    if as_json:
        emit_json([_ext_json(tenant, e) for e in extensions])
        return
    rows = [
        [e.ext, e.display_name or "", ", ".join(n.e164 for n in numbers if n.ext == e.ext)]
        for e in extensions
    ]
    show_table(f"Extensions of {tenant}", ["ext", "name", "numbers"], rows)


@ext_app.command("remove")
def ext_remove(
    tenant: TenantName, ext: ExtArg, *, data_dir: DataDir = DEFAULT_DIR, db: DbUrl = None
) -> None:
    """Remove an extension and its registrations."""
    with opened_admin(data_dir, db) as admin:
        admin.accounts.remove_extension(tenant, ext)
    typer.echo(f"extension {ext} of {tenant} removed")


@ext_app.command("passwd")
def ext_passwd(
    tenant: TenantName,
    ext: ExtArg,
    *,
    password: Password = None,
    data_dir: DataDir = DEFAULT_DIR,
    db: DbUrl = None,
    as_json: AsJson = False,
) -> None:
    """Give an extension a new password (generated and printed unless --password is given)."""
    with opened_admin(data_dir, db) as admin:
        credentials = admin.accounts.set_password(tenant, ext, password=read_password(password))
    _show_credentials(credentials, "has a new password", as_json)


# -- trunks and numbers ---------------------------------------------------------------------


def _trunk_json(tenant: str, trunk: Trunk) -> dict[str, Any]:
    return {
        "tenant": tenant,
        "name": trunk.name,
        "host": trunk.host,
        "port": trunk.port,
        "transport": trunk.transport,
        "username": trunk.username,
        "has_password": trunk.password is not None,
    }


@trunk_app.command("add")
def trunk_add(
    tenant: TenantName,
    name: Annotated[str, typer.Argument(help="the trunk's name", show_default=False)],
    *,
    host: Annotated[
        str,
        typer.Option(
            "--host", metavar="HOST:PORT", help="the gateway's address", show_default=False
        ),
    ],
    transport: Annotated[
        Literal["udp", "tcp", "tls"], typer.Option("--transport", help="udp, tcp or tls")
    ] = "udp",
    username: Annotated[
        str | None, typer.Option("--username", help="digest username toward the gateway")
    ] = None,
    password: Annotated[
        str | None, typer.Option("--password", help="digest password toward the gateway")
    ] = None,
    data_dir: DataDir = DEFAULT_DIR,
    db: DbUrl = None,
    as_json: AsJson = False,
) -> None:
    """Add a SIP gateway for the tenant's outbound calls; calls from its address come in."""
    with opened_admin(data_dir, db) as admin:
        trunk = admin.accounts.add_trunk(
            tenant,
            name,
            host=host,
            transport=transport,
            username=username,
            password=read_password(password),
        )
    if as_json:
        emit_json(_trunk_json(tenant, trunk))
    else:
        where = f"{trunk.host}:{trunk.port} over {trunk.transport}"
        typer.echo(f"trunk {trunk.name} of {tenant} added: {where}")


@trunk_app.command("list")
def trunk_list(
    tenant: TenantName,
    *,
    data_dir: DataDir = DEFAULT_DIR,
    db: DbUrl = None,
    as_json: AsJson = False,
) -> None:
    """List a tenant's trunks (never their passwords)."""
    with opened_admin(data_dir, db) as admin:
        trunks = admin.accounts.trunks(tenant)
    if as_json:
        emit_json([_trunk_json(tenant, t) for t in trunks])
        return
    rows = [
        [t.name, f"{t.host}:{t.port}", t.transport, t.username or "", "yes" if t.password else "no"]
        for t in trunks
    ]
    show_table(
        f"Trunks of {tenant}", ["name", "gateway", "transport", "username", "password"], rows
    )


def _number_json(tenant: str, number: PhoneNumber) -> dict[str, Any]:
    return {"tenant": tenant, "e164": number.e164, "ext": number.ext}


E164Arg = Annotated[
    str, typer.Argument(metavar="+E164", help="e.g. +442079460000", show_default=False)
]


@number_app.command("add")
def number_add(
    tenant: TenantName,
    e164: E164Arg,
    *,
    ext: Annotated[str, typer.Option("--ext", help="the extension it rings", show_default=False)],
    data_dir: DataDir = DEFAULT_DIR,
    db: DbUrl = None,
    as_json: AsJson = False,
) -> None:
    """Give a tenant a number (DID) that rings one of its extensions."""
    with opened_admin(data_dir, db) as admin:
        number = admin.accounts.add_number(tenant, e164, ext=ext)
    if as_json:
        emit_json(_number_json(tenant, number))
    else:
        typer.echo(f"{number.e164} of {tenant} rings extension {number.ext}")


@number_app.command("list")
def number_list(
    tenant: TenantName,
    *,
    data_dir: DataDir = DEFAULT_DIR,
    db: DbUrl = None,
    as_json: AsJson = False,
) -> None:
    """List a tenant's numbers."""
    with opened_admin(data_dir, db) as admin:
        numbers = admin.accounts.numbers(tenant)
    if as_json:
        emit_json([_number_json(tenant, n) for n in numbers])
        return
    show_table(f"Numbers of {tenant}", ["number", "ext"], [[n.e164, n.ext] for n in numbers])


@number_app.command("remove")
def number_remove(
    tenant: TenantName, e164: E164Arg, *, data_dir: DataDir = DEFAULT_DIR, db: DbUrl = None
) -> None:
    """Take a number away from a tenant."""
    with opened_admin(data_dir, db) as admin:
        admin.accounts.remove_number(tenant, e164)
    typer.echo(f"number {e164} of {tenant} removed")
