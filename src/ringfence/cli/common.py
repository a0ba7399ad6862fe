"""What every command shares: the Typer apps, the common options, error handling and output."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from ringfence.admin import Admin, open_admin
from ringfence.config import DEFAULT_DATA_DIR, Settings
from ringfence.errors import ConfigError, RingfenceError

__all__ = [
    "DEFAULT_DIR",
    "AsJson",
    "DataDir",
    "DbUrl",
    "ExtArg",
    "TenantName",
    "app",
    "emit_json",
    "ext_app",
    "failures",
    "load_settings",
    "number_app",
    "opened_admin",
    "read_password",
    "show_table",
    "tenant_app",
    "trunk_app",
    "when",
]

app = typer.Typer(
    help="ringfence: a multi-tenant cloud phone service with fraud and privacy controls.",
    no_args_is_help=True,
    add_completion=False,
    # A traceback's local variables could hold a password: never show them.
    pretty_exceptions_show_locals=False,
)
tenant_app = typer.Typer(help="Tenants: one SIP domain each.", no_args_is_help=True)
ext_app = typer.Typer(help="Extensions: the phones of a tenant.", no_args_is_help=True)
trunk_app = typer.Typer(help="Trunks: a tenant's SIP gateways.", no_args_is_help=True)
number_app = typer.Typer(help="Numbers (DIDs) in E.164 form.", no_args_is_help=True)
app.add_typer(tenant_app, name="tenant", rich_help_panel="Accounts")
app.add_typer(ext_app, name="ext", rich_help_panel="Accounts")
app.add_typer(trunk_app, name="trunk", rich_help_panel="Accounts")
app.add_typer(number_app, name="number", rich_help_panel="Accounts")

DataDir = Annotated[
    Path,
    typer.Option(
        "--data-dir",
        envvar="RINGFENCE_DATA",
        help="the data directory (database, secret, TLS certificate)",
    ),
]
DbUrl = Annotated[
    str | None,
    typer.Option(
        "--db",
        envvar="RINGFENCE_DB",
        metavar="URL",
        help="sqlite:///PATH or postgresql://USER@HOST:PORT/DB [default: SQLite in the data dir]",
        show_default=False,
    ),
]
AsJson = Annotated[bool, typer.Option("--json", help="print JSON")]
TenantName = Annotated[str, typer.Argument(help="the tenant's name", show_default=False)]
ExtArg = Annotated[str, typer.Argument(help="the extension, e.g. 1001", show_default=False)]
DEFAULT_DIR = Path(DEFAULT_DATA_DIR)


@contextmanager
def failures() -> Iterator[None]:
    """Expected errors become one line on stderr and exit code 1."""
    try:
        yield
    except RingfenceError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None


def load_settings(**values: Any) -> Settings:
    """Settings from the options given; a bad option value is a usage error (exit code 2)."""
    try:
        return Settings.load(**values)
    except ConfigError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None


@contextmanager
def opened_admin(data_dir: Path, db: str | None) -> Iterator[Admin]:
    settings = load_settings(data_dir=data_dir, db_url=db)
    with failures(), open_admin(settings, actor="cli") as admin:
        yield admin


def emit_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2))


def show_table(title: str, columns: list[str], rows: list[list[str]]) -> None:
    if not rows:
        typer.echo(f"{title}: none")
        return
    table = Table(title=title)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*row)
    Console().print(table)


def when(epoch: float | None) -> str:
    if epoch is None:
        return "-"
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S")


def read_password(password: str | None) -> str | None:
    """``-`` reads the password from standard input (keeps it out of shell history)."""
    if password == "-":
        return sys.stdin.readline().rstrip("\r\n")
    return password
