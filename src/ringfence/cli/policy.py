"""The call policy: ``policy show|set|high-risk``, ``block add|list|remove``, ``rates import``
and ``check``."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer

from ringfence.accounts import PolicyCheck, PolicyView
from ringfence.cli.common import (
    DEFAULT_DIR,
    AsJson,
    DataDir,
    DbUrl,
    ExtArg,
    TenantName,
    app,
    emit_json,
    failures,
    opened_admin,
    show_table,
    when,
)
from ringfence.errors import InvalidInput
from ringfence.fraud import LIMIT_NAMES
from ringfence.policy import (
    MAX_TABLE_BYTES,
    SETTING_NAMES,
    CallerBlock,
    EffectiveRules,
    HighRiskRanges,
)

__all__ = [
    "block_add",
    "block_list",
    "block_remove",
    "budget_set",
    "check",
    "limits_set",
    "policy_high_risk",
    "policy_set",
    "policy_show",
    "rates_import",
]

policy_app = typer.Typer(
    help="Call policy: what each tenant's calls may reach.", no_args_is_help=True
)
block_app = typer.Typer(help="Blocked inbound callers of a tenant.", no_args_is_help=True)
budget_app = typer.Typer(help="Spend budgets per day and month.", no_args_is_help=True)
limits_app = typer.Typer(
    help="Usage throttles: calls at once and per minute.", no_args_is_help=True
)
rates_app = typer.Typer(help="Rate tables: price per minute by prefix.", no_args_is_help=True)
app.add_typer(policy_app, name="policy", rich_help_panel="Call policy")
app.add_typer(block_app, name="block", rich_help_panel="Call policy")
app.add_typer(rates_app, name="rates", rich_help_panel="Call policy")
app.add_typer(budget_app, name="budget", rich_help_panel="Fraud guard")
app.add_typer(limits_app, name="limits", rich_help_panel="Fraud guard")

ExtOption = Annotated[
    str | None,
    typer.Option("--ext", help="one extension of the tenant (the tenant itself when left out)"),
]


def _read_file(path: Path) -> str:
    with failures():
        try:
            if path.stat().st_size > MAX_TABLE_BYTES:
                raise InvalidInput(f"{path} is larger than {MAX_TABLE_BYTES // 1024 // 1024} MiB")
            return path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as error:
            raise InvalidInput(f"cannot read {path}: {error}") from None


# -- policy show ------------------------------------------------------------------------------


def _value(name: str, rules: EffectiveRules) -> Any:
    """A setting's effective value in JSON form."""
    if name == "window":
        return [str(w) for w in rules.windows] or None
    value = getattr(rules, name)
    if isinstance(value, frozenset):
        return sorted(str(v) for v in value)
    if value is None or isinstance(value, (bool, str)):
        return value
    return str(value)


def _shown(name: str, value: Any) -> str:
    if value is None:
        return {
            "countries": "any (once international is on)",
            "window": "any time",
            "max_rate": "no limit",
        }.get(name, "-")
    if isinstance(value, bool):
        if name == "encryption_required":
            return "required" if value else "optional"
        return "on" if value else "off"
    if isinstance(value, list):
        return ", ".join(value) if value else "none"
    return str(value)


def _block_json(block: CallerBlock) -> dict[str, Any]:
    return {"pattern": block.pattern, "ext": block.ext, "treatment": block.treatment.value}


def _view_json(view: PolicyView) -> dict[str, Any]:
    rules = view.rules
    return {
        "tenant": view.tenant.name,
        "ext": view.ext,
        "country": rules.country,
        "settings": {
            name: {"value": _value(name, rules), "source": rules.sources.get(name, "default")}
            for name in SETTING_NAMES
        },
        "extensions_may_loosen": sorted(view.tenant_settings.extensions_may_loosen),
        "emergency_calls": "always allowed",
        "unpriced_numbers": "refused (no_rate)" if rules.max_rate is not None else "allowed",
        "blocked_callers": [_block_json(b) for b in view.blocks],
        "rates": {"tenant": view.tenant_rates, "global": view.global_rates},
        "high_risk": {"ranges": len(view.high_risk), "origin": view.high_risk.origin},
        "limits": {
            name: {
                "value": None if (v := getattr(view.limits, name)) is None else _number(v),
                "source": view.limit_sources[name],
            }
            for name in LIMIT_NAMES
        },
    }


def _number(value: object) -> object:
    return str(value) if isinstance(value, Decimal) else value


@policy_app.command("show")
def policy_show(
    tenant: TenantName,
    *,
    ext: ExtOption = None,
    data_dir: DataDir = DEFAULT_DIR,
    db: DbUrl = None,
    as_json: AsJson = False,
) -> None:
    """The policy in effect for a tenant or one extension, and where each value comes from."""
    with opened_admin(data_dir, db) as admin:
        view = admin.policy.show(tenant, ext)
    data = _view_json(view)
    if as_json:
        emit_json(data)
        return
    who = f"{view.tenant.name} extension {ext}" if ext else view.tenant.name
    typer.echo(
        f"Call policy of {who} (country {view.rules.country}; emergency calls always allowed)"
    )
    rows = [
        [name.replace("_", " "), _shown(name, item["value"]), item["source"]]
        for name, item in data["settings"].items()
    ]
    show_table("Settings", ["setting", "value", "from"], rows)
    if data["extensions_may_loosen"]:
        typer.echo(f"extensions may loosen: {', '.join(data['extensions_may_loosen'])}")
    if view.rules.max_rate is not None:
        typer.echo("numbers without a rate are refused (no_rate) while a maximum rate is set")
    show_table(
        "Blocked callers",
        ["pattern", "extension", "treatment"],
        [[b.pattern, b.ext or "all", b.treatment.value] for b in view.blocks],
    )
    typer.echo(
        f"rates: {view.tenant_rates} of the tenant, {view.global_rates} global;"
        f" high-risk ranges: {len(view.high_risk)} ({view.high_risk.origin})"
    )
    show_table(
        "Usage limits",
        ["limit", "value", "from"],
        [
            [
                name.replace("_", " "),
                "none" if item["value"] is None else str(item["value"]),
                item["source"],
            ]
            for name, item in data["limits"].items()
        ],
    )


# -- policy set -------------------------------------------------------------------------------

# The options of `policy set` by the name of the setting they change.
_OPTION_NAMES = {
    "block_types": "blocked_types",
    "high_risk": "block_high_risk",
    "encryption": "encryption_required",
}


def _setting_names(text: str) -> list[str]:
    """Setting names as an admin writes them: the option names (``block-types``) or the
    names ``policy show --json`` prints (``blocked_types``)."""
    names = [part.strip().lstrip("-").replace("-", "_") for part in text.split(",")]
    return [_OPTION_NAMES.get(name, name) for name in names if name]


def _opt(help_text: str, name: str) -> Any:
    return typer.Option(name, help=help_text, show_default=False)


@policy_app.command("set")
def policy_set(
    tenant: TenantName,
    *,
    ext: ExtOption = None,
    outbound: Annotated[str | None, _opt("calls out of the tenant: on|off", "--outbound")] = None,
    international: Annotated[
        str | None, _opt("calls to other countries: on|off", "--international")
    ] = None,
    countries: Annotated[
        str | None,
        _opt("ISO codes international calls may reach (GB,FR), none, or any", "--countries"),
    ] = None,
    block_types: Annotated[
        str | None,
        _opt(
            "number types refused everywhere (premium,shared_cost,uan,personal,"
            "international_network,...), or none",
            "--block-types",
        ),
    ] = None,
    high_risk: Annotated[
        str | None, _opt("refuse the curated high-risk ranges: on|off", "--high-risk")
    ] = None,
    window: Annotated[
        str | None, _opt("international calls only at HH:MM-HH:MM, or any", "--window")
    ] = None,
    timezone: Annotated[
        str | None, _opt("IANA time zone of the window (Europe/London)", "--timezone")
    ] = None,
    max_rate: Annotated[
        str | None, _opt("highest price per minute (0.25), or none", "--max-rate")
    ] = None,
    encryption: Annotated[
        str | None, _opt("media encryption (SRTP): required|optional", "--encryption")
    ] = None,
    loosen: Annotated[
        str | None,
        _opt("(tenant only) settings its extensions may loosen, comma-separated", "--loosen"),
    ] = None,
    clear: Annotated[
        str | None, _opt("settings to inherit again, comma-separated (max_rate,window)", "--clear")
    ] = None,
    data_dir: DataDir = DEFAULT_DIR,
    db: DbUrl = None,
    as_json: AsJson = False,
) -> None:
    """Change a tenant's or an extension's call policy. An extension may be stricter than its
    tenant; it may be looser only in the settings the tenant lets it loosen."""
    given = {
        "outbound": outbound,
        "international": international,
        "countries": countries,
        "blocked_types": block_types,
        "block_high_risk": high_risk,
        "window": window,
        "timezone": timezone,
        "max_rate": max_rate,
        "encryption_required": encryption,
    }
    values = {name: text for name, text in given.items() if text is not None}
    cleared = _setting_names(clear or "")
    with opened_admin(data_dir, db) as admin:
        view = admin.policy.set(
            tenant,
            ext=ext,
            values=values,
            clear=cleared,
            loosen=None if loosen is None else _setting_names(loosen),
        )
    if as_json:
        emit_json(_view_json(view))
        return
    who = f"{view.tenant.name} extension {ext}" if ext else view.tenant.name
    changed = ", ".join([*values, *cleared] + (["loosen"] if loosen is not None else []))
    typer.echo(f"call policy of {who} changed: {changed} (see: ringfence policy show)")


# -- the high-risk list -----------------------------------------------------------------------


def _ranges_json(ranges: HighRiskRanges) -> dict[str, Any]:
    return {"origin": ranges.origin, "ranges": len(ranges)}


@policy_app.command("high-risk")
def policy_high_risk(
    action: Annotated[str, typer.Argument(help="show, import or reset", show_default=False)],
    file: Annotated[
        Path | None, typer.Argument(help="for import: a CSV of prefix,label,source")
    ] = None,
    *,
    data_dir: DataDir = DEFAULT_DIR,
    db: DbUrl = None,
    as_json: AsJson = False,
) -> None:
    """The curated high-risk ranges: show which list is in use, import the operator's own
    (it replaces the packaged one for every node), or reset to the packaged list."""
    if action not in ("show", "import", "reset"):
        typer.echo(f"error: the action is show, import or reset, not {action!r}", err=True)
        raise typer.Exit(2)
    if (action == "import") != (file is not None):
        typer.echo("error: import takes one FILE; show and reset take none", err=True)
        raise typer.Exit(2)
    text = _read_file(file) if file is not None else ""
    with opened_admin(data_dir, db) as admin:
        if action == "import":
            admin.policy.import_high_risk(text)
            ranges = admin.policy.high_risk()
        elif action == "reset":
            ranges = admin.policy.reset_high_risk()
        else:
            ranges = admin.policy.high_risk()
    if as_json:
        emit_json(_ranges_json(ranges))
    else:
        typer.echo(f"high-risk ranges in use: {len(ranges)} ({ranges.origin})")


# -- blocked callers --------------------------------------------------------------------------

Pattern = Annotated[
    str,
    typer.Argument(help="+E164 number, a prefix ending in * (+44909*), or anonymous"),
]


@block_app.command("add")
def block_add(
    tenant: TenantName,
    pattern: Pattern,
    *,
    ext: ExtOption = None,
    treatment: Annotated[
        str, typer.Option("--treatment", help="what the caller gets: busy, reject or silence")
    ] = "reject",
    data_dir: DataDir = DEFAULT_DIR,
    db: DbUrl = None,
    as_json: AsJson = False,
) -> None:
    """Block an inbound caller ID for the whole tenant or one extension; the phone never rings."""
    with opened_admin(data_dir, db) as admin:
        block = admin.policy.add_block(tenant, pattern, ext=ext, treatment=treatment)
    if as_json:
        emit_json(_block_json(block))
    else:
        where = f"extension {block.ext}" if block.ext else f"all of {tenant}"
        typer.echo(f"{block.pattern} blocked for {where} ({block.treatment.value})")


@block_app.command("list")
def block_list(
    tenant: TenantName,
    *,
    ext: ExtOption = None,
    data_dir: DataDir = DEFAULT_DIR,
    db: DbUrl = None,
    as_json: AsJson = False,
) -> None:
    """The tenant's blocked callers (with --ext, that extension's own)."""
    with opened_admin(data_dir, db) as admin:
        blocks = admin.policy.blocks(tenant, ext)
    if as_json:
        emit_json([_block_json(b) for b in blocks])
        return
    rows = [[b.pattern, b.ext or "all", b.treatment.value] for b in blocks]
    show_table("Blocked callers", ["pattern", "extension", "treatment"], rows)


@block_app.command("remove")
def block_remove(
    tenant: TenantName,
    pattern: Pattern,
    *,
    ext: ExtOption = None,
    data_dir: DataDir = DEFAULT_DIR,
    db: DbUrl = None,
) -> None:
    """Unblock a caller ID."""
    with opened_admin(data_dir, db) as admin:
        admin.policy.remove_block(tenant, pattern, ext=ext)
    typer.echo(f"{pattern} unblocked")


# -- rates ------------------------------------------------------------------------------------


@rates_app.command("import")
def rates_import(
    tenant: Annotated[
        str | None, typer.Argument(help="the tenant (or give --global)", show_default=False)
    ] = None,
    file: Annotated[
        Path | None, typer.Argument(help="a CSV of prefix,price,currency", show_default=False)
    ] = None,
    *,
    global_table: Annotated[
        bool, typer.Option("--global", help="import the global table, used by every tenant")
    ] = False,
    data_dir: DataDir = DEFAULT_DIR,
    db: DbUrl = None,
    as_json: AsJson = False,
) -> None:
    """Replace a tenant's rate table, or the global one, with a CSV file (prefix, price per
    minute, currency). Numbers are priced by the longest matching prefix; a tenant's own table
    comes first, the global one covers what it does not."""
    if global_table and file is None and tenant is not None:
        file = Path(tenant)
        tenant = None
    if file is None or global_table == (tenant is not None):
        typer.echo("error: give TENANT FILE, or --global FILE", err=True)
        raise typer.Exit(2)
    text = _read_file(file)
    with opened_admin(data_dir, db) as admin:
        result = admin.policy.import_rates(tenant, text)
    data = {
        "tenant": result.tenant.name if result.tenant else None,
        "imported": result.imported,
        "replaced": result.replaced,
    }
    if as_json:
        emit_json(data)
    else:
        which = f"of {result.tenant.name}" if result.tenant else "global"
        typer.echo(f"{result.imported} rates imported ({which}); {result.replaced} replaced")


# -- check ------------------------------------------------------------------------------------


def _check_json(result: PolicyCheck) -> dict[str, Any]:
    decision, destination = result.decision, result.destination
    return {
        "allowed": decision.allowed,
        "reason": decision.reason,
        "status": decision.status if not decision.allowed else None,
        "detail": decision.detail,
        "normalized": destination.e164
        or (destination.dialled if destination.kind.value == "emergency" else ""),
        "kind": destination.kind.value,
        "country": destination.country or None,
        "number_type": destination.number_type.value if destination.e164 else None,
        "rate": None
        if decision.rate is None
        else {
            "prefix": decision.rate.prefix,
            "price": str(decision.rate.price),
            "currency": decision.rate.currency,
        },
        "alert": decision.alert,
        "caller_id": result.presented,
        "at": result.at,
    }


@app.command(rich_help_panel="Call policy")
def check(
    tenant: TenantName,
    ext: ExtArg,
    number: Annotated[str, typer.Argument(help="the number as dialled", show_default=False)],
    *,
    at: Annotated[
        str | None,
        typer.Option("--at", help="ISO time (2026-11-23T20:30); without a zone, the tenant's"),
    ] = None,
    data_dir: DataDir = DEFAULT_DIR,
    db: DbUrl = None,
    as_json: AsJson = False,
) -> None:
    """What a call from EXT to NUMBER would get, without placing it."""
    with opened_admin(data_dir, db) as admin:
        result = admin.policy.check(tenant, ext, number, at=at)
    data = _check_json(result)
    if as_json:
        emit_json(data)
        return
    target = data["normalized"] or number
    kind = data["number_type"] or data["kind"]
    where = f"{target} ({kind}{', ' + data['country'] if data['country'] else ''})"
    if result.decision.allowed:
        extra = f"; alert: {data['alert']}" if data["alert"] else ""
        rate = data["rate"]
        priced = f"; {rate['price']} {rate['currency']}/min" if rate else ""
        typer.echo(f"allowed: {where}{priced}{extra} at {when(result.at)} UTC")
    else:
        typer.echo(
            f"refused: {data['reason']} ({data['status']}): {data['detail']}; {where}"
            f" at {when(result.at)} UTC"
        )


# -- usage limits -----------------------------------------------------------------------------


def _show_limits(view: PolicyView, ext: str | None, as_json: bool, names: list[str]) -> None:
    data = _view_json(view)["limits"]
    if as_json:
        emit_json({"tenant": view.tenant.name, "ext": ext, "limits": data})
        return
    who = f"{view.tenant.name} extension {ext}" if ext else view.tenant.name
    shown = ", ".join(
        f"{n.replace('_', ' ')} {data[n]['value'] if data[n]['value'] is not None else 'none'}"
        f" ({data[n]['source']})"
        for n in names
    )
    typer.echo(f"{who}: {shown}")


@budget_app.command("set")
def budget_set(
    tenant: TenantName,
    *,
    ext: ExtOption = None,
    daily: Annotated[
        str | None, _opt("most a day may cost (rate table currency), or none", "--daily")
    ] = None,
    monthly: Annotated[str | None, _opt("most a month may cost, or none", "--monthly")] = None,
    data_dir: DataDir = DEFAULT_DIR,
    db: DbUrl = None,
    as_json: AsJson = False,
) -> None:
    """Set a tenant's (or one extension's) spend budgets. At a budget, new paid calls are
    refused with reason budget_exceeded; a day and a month are the tenant's own."""
    values = {
        name: text
        for name, text in (("daily_budget", daily), ("monthly_budget", monthly))
        if text is not None
    }
    with opened_admin(data_dir, db) as admin:
        view = admin.policy.set_limits(tenant, ext=ext, values=values)
    _show_limits(view, ext, as_json, ["daily_budget", "monthly_budget"])


@limits_app.command("set")
def limits_set(
    tenant: TenantName,
    *,
    ext: ExtOption = None,
    concurrent: Annotated[
        str | None, _opt("calls out at once per extension", "--concurrent")
    ] = None,
    tenant_concurrent: Annotated[
        str | None, _opt("(tenant) calls out at once in the tenant", "--tenant-concurrent")
    ] = None,
    trunk_concurrent: Annotated[
        str | None, _opt("(tenant) calls at once on its trunk", "--trunk-concurrent")
    ] = None,
    intl_concurrent: Annotated[
        str | None, _opt("international calls at once per extension", "--intl-concurrent")
    ] = None,
    tenant_intl_concurrent: Annotated[
        str | None,
        _opt("(tenant) international calls at once in the tenant", "--tenant-intl-concurrent"),
    ] = None,
    per_minute: Annotated[
        str | None, _opt("calls out a minute per extension", "--per-minute")
    ] = None,
    per_hour: Annotated[str | None, _opt("calls out an hour per extension", "--per-hour")] = None,
    intl_per_minute: Annotated[
        str | None, _opt("international calls a minute per extension", "--intl-per-minute")
    ] = None,
    data_dir: DataDir = DEFAULT_DIR,
    db: DbUrl = None,
    as_json: AsJson = False,
) -> None:
    """Set the usage throttles of a tenant or one extension (a number, or none to inherit)."""
    given = {
        "concurrent_per_extension": concurrent,
        "concurrent_per_tenant": tenant_concurrent,
        "concurrent_per_trunk": trunk_concurrent,
        "intl_concurrent_per_extension": intl_concurrent,
        "intl_concurrent_per_tenant": tenant_intl_concurrent,
        "calls_per_minute": per_minute,
        "calls_per_hour": per_hour,
        "intl_calls_per_minute": intl_per_minute,
    }
    values = {name: text for name, text in given.items() if text is not None}
    with opened_admin(data_dir, db) as admin:
        view = admin.policy.set_limits(tenant, ext=ext, values=values)
    _show_limits(view, ext, as_json, list(values))
