"""The perimeter: ``bans list|add|remove|export`` and ``acl set|show``."""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer

from ringfence.accounts import AclView, parse_duration
from ringfence.cli.common import (
    DEFAULT_DIR,
    AsJson,
    DataDir,
    DbUrl,
    TenantName,
    app,
    emit_json,
    failures,
    opened_admin,
    show_table,
    when,
)
from ringfence.errors import InvalidInput
from ringfence.guard import Ban
from ringfence.guard.export import nftables_ruleset

__all__ = ["acl_set", "acl_show", "bans_add", "bans_export", "bans_list", "bans_remove"]

bans_app = typer.Typer(
    help="Source addresses shut out on every node: list, add, remove, export.",
    no_args_is_help=True,
)
acl_app = typer.Typer(
    help="Networks a tenant's phones, an extension or a trunk may connect from.",
    no_args_is_help=True,
)
app.add_typer(bans_app, name="bans", rich_help_panel="Perimeter")
app.add_typer(acl_app, name="acl", rich_help_panel="Perimeter")

Target = Annotated[
    str,
    typer.Argument(help="an address or network: 203.0.113.5, 203.0.113.0/24, 2001:db8::/48"),
]


def _ban_json(ban: Ban) -> dict[str, Any]:
    return {
        "network": ban.network,
        "address": ban.address,
        "reason": ban.reason,
        "since": ban.since,
        "until": ban.until if math.isfinite(ban.until) else None,
        "offences": ban.offences,
    }


def _until(ban: Ban) -> str:
    return when(ban.until) if math.isfinite(ban.until) else "until lifted"


@bans_app.command("list")
def bans_list(
    *, data_dir: DataDir = DEFAULT_DIR, db: DbUrl = None, as_json: AsJson = False
) -> None:
    """The bans in force on every node, longest-lasting first: what, why, until when."""
    with opened_admin(data_dir, db) as admin:
        found = admin.guard.bans()
    if as_json:
        emit_json([_ban_json(b) for b in found])
        return
    if not found:
        typer.echo("no bans in force")
        return
    show_table(
        "Bans",
        ["address", "reason", "offences", "since", "until"],
        [[b.address, b.reason, str(b.offences), when(b.since), _until(b)] for b in found],
    )


@bans_app.command("add")
def bans_add(
    target: Target,
    *,
    for_: Annotated[
        str | None,
        typer.Option("--for", help="how long: 30m, 1h, 2d, 1w (until lifted when left out)"),
    ] = None,
    data_dir: DataDir = DEFAULT_DIR,
    db: DbUrl = None,
) -> None:
    """Ban an address or network on every node (within two seconds)."""
    with failures():
        duration = parse_duration(for_) if for_ is not None else None
    with opened_admin(data_dir, db) as admin:
        ban = admin.guard.ban(target, duration=duration)
    typer.echo(f"banned {ban.address} {_until(ban)}")


@bans_app.command("remove")
def bans_remove(target: Target, *, data_dir: DataDir = DEFAULT_DIR, db: DbUrl = None) -> None:
    """Lift a ban on every node, and forget the address's earlier offences."""
    with opened_admin(data_dir, db) as admin:
        ban = admin.guard.unban(target)
    typer.echo(f"lifted the ban on {ban.address} (it was {ban.reason})")


@bans_app.command("export")
def bans_export(
    *,
    nft: Annotated[
        Path | None,
        typer.Option("--nft", help="write an nftables ruleset here ('-': print it)"),
    ] = None,
    ports: Annotated[
        str, typer.Option("--ports", help="the SIP ports the firewall guards")
    ] = "5060,5061",
    data_dir: DataDir = DEFAULT_DIR,
    db: DbUrl = None,
) -> None:
    """The bans for the host firewall: an nftables set file (load it with ``nft -f``)."""
    with failures():
        port_list = _ports(ports)
    with opened_admin(data_dir, db) as admin:
        found = admin.guard.bans()
        now = admin.now()
    text = nftables_ruleset(found, now=now, ports=port_list)
    if nft is None or str(nft) == "-":
        typer.echo(text, nl=False)
        return
    # Written beside the target and renamed over it: a firewall reload never reads half.
    target = nft.resolve()
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    with os.fdopen(handle, "w") as out:
        out.write(text)
    Path(temporary).chmod(0o644)
    Path(temporary).replace(target)
    typer.echo(f"wrote {len(found)} ban(s) to {nft}")


@acl_app.command("set")
def acl_set(
    tenant: TenantName,
    networks: Annotated[
        str,
        typer.Argument(
            help="comma-separated networks, e.g. 192.0.2.0/24,2001:db8::/48 ('' lifts it)",
            show_default=False,
        ),
    ],
    *,
    ext: Annotated[
        str | None, typer.Option("--ext", help="one extension (else the whole tenant)")
    ] = None,
    trunk: Annotated[
        str | None, typer.Option("--trunk", help="one trunk, by name: where it calls from")
    ] = None,
    data_dir: DataDir = DEFAULT_DIR,
    db: DbUrl = None,
) -> None:
    """Where phones may register and call from (the tenant's, or one extension's, which
    then replaces the tenant's), or where a trunk's requests are accepted from. From outside,
    the right password is refused as a wrong one is."""
    with opened_admin(data_dir, db) as admin:
        checked = admin.guard.set_acl(tenant, networks.split(","), ext=ext, trunk=trunk)
    what = f"extension {ext}" if ext else f"trunk {trunk}" if trunk else "its phones"
    if checked:
        typer.echo(f"{tenant}: {what} may connect from {', '.join(checked)}")
    else:
        typer.echo(f"{tenant}: {what} may connect from anywhere")


@acl_app.command("show")
def acl_show(
    tenant: TenantName,
    *,
    data_dir: DataDir = DEFAULT_DIR,
    db: DbUrl = None,
    as_json: AsJson = False,
) -> None:
    """The source ACLs of a tenant, its extensions and its trunks."""
    with opened_admin(data_dir, db) as admin:
        view = admin.guard.acl(tenant)
    if as_json:
        emit_json(_acl_json(view))
        return
    rows = [["tenant", tenant, ", ".join(view.tenant_networks) or "anywhere"]]
    rows += [["extension", e, ", ".join(n)] for e, n in sorted(view.extensions.items())]
    rows += [["trunk", t, ", ".join(n) or "its host alone"] for t, n in sorted(view.trunks.items())]
    show_table(f"Source ACLs of {tenant}", ["for", "name", "may connect from"], rows)


def _ports(text: str) -> list[int]:
    try:
        ports = [int(p) for p in text.split(",") if p.strip()]
    except ValueError:
        raise InvalidInput(f"--ports {text!r}: write port numbers, e.g. 5060,5061") from None
    if not ports or not all(1 <= p <= 65535 for p in ports):
        raise InvalidInput(f"--ports {text!r}: ports are 1 to 65535, e.g. 5060,5061")
    return ports


def _acl_json(view: AclView) -> dict[str, Any]:
    return {
        "tenant": view.tenant.name,
        "networks": list(view.tenant_networks),
        "extensions": {e: list(n) for e, n in view.extensions.items()},
        "trunks": {t: list(n) for t, n in view.trunks.items()},
    }
