"""The world of ``fraud_live.py``: its tenants, their phones and rates, the command lines that
provision them, and the call history their baselines learn from.

Every tenant is a US tenant with extensions 101... (each with a password, a PIN and a number of
its own), a trunk whose gateway has a loopback address of its own, and a call policy that allows
international calls to the countries its scenario calls. One global rate table prices every
destination (:data:`RATES`).
"""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from common import LOOPBACK, free_port

HOME_COUNTRY = "US"
CURRENCY = "USD"
PHONE_IP = LOOPBACK  # every phone of every tenant, and most attackers (a hacked phone or PBX)
#: The new_network attacker's address. The detector groups addresses by /24 network, so
#: 127.0.0.3 would be the phones' own network (127.0.0.0/24): another /24 of loopback.
ATTACKER_IP = "127.0.1.3"
#: Tenant i's trunk gateway (1-based). The proxy tells a trunk, and so its tenant, by source
#: address alone, so each tenant's gateway has its own (none is the e2e tests' 127.0.0.2).
GATEWAY_IP = "127.0.2.{}"
RATES = (  # prefix, price a minute (USD), what it is
    ("1", "0.01", "domestic: the US and the rest of +1"),
    ("44", "0.02", "GB fixed"),
    ("447", "0.08", "GB mobile"),
    ("44909", "3.00", "GB premium rate"),
    ("221", "1.50", "Senegal"),
    ("224", "1.20", "Guinea"),
    ("234", "0.35", "Nigeria"),
    ("94", "0.40", "Sri Lanka"),
    ("509", "0.60", "Haiti"),
)
#: ``--limits raised``: the usage throttles out of the fraud guard's way.
RAISED_LIMITS = (
    "--concurrent", "30", "--intl-concurrent", "30", "--tenant-concurrent", "100",
    "--trunk-concurrent", "100", "--tenant-intl-concurrent", "100", "--per-minute", "100",
    "--per-hour", "1000", "--intl-per-minute", "100",
)  # fmt: skip
HISTORY_DAYS = 28
USUAL_ABROAD = "+442079460018"  # London: the history calls its range (+442079) every week


@dataclass(frozen=True, slots=True)
class Phone:
    ext: str
    password: str
    pin: str
    number: str  # its DID


@dataclass(frozen=True, slots=True)
class Tenant:
    name: str
    domain: str
    phones: tuple[Phone, ...]
    countries: tuple[str, ...]
    premium: bool  # premium-rate numbers allowed (the policy blocks them by default)
    gateway: tuple[str, int]


def make_tenant(
    index: int, name: str, *, exts: int, countries: tuple[str, ...], premium: bool
) -> Tenant:
    """Tenant ``index`` (1-based): fresh credentials, numbers +1555123<index><ext>."""
    phones = tuple(
        Phone(
            ext=str(100 + j),
            password="k" + secrets.token_urlsafe(15),
            pin=f"{secrets.randbelow(900_000) + 100_000}",
            number=f"+1555123{index}{j:03d}",
        )
        for j in range(1, exts + 1)
    )
    gateway_ip = GATEWAY_IP.format(index)
    return Tenant(
        name=name,
        domain=f"{name.replace('_', '-')}.fraud.example",
        phones=phones,
        countries=countries,
        premium=premium,
        gateway=(gateway_ip, free_port(gateway_ip)),
    )


def write_rates(path: Path) -> Path:
    path.write_text(
        "prefix,price,currency\n" + "".join(f"{p},{c},{CURRENCY}\n" for p, c, _ in RATES)
    )
    return path


def provisioning(tenants: list[Tenant], rates: Path, timezone: str, limits: str) -> list[list[str]]:
    """The ``ringfence`` command lines that build the tenants (after ``init``)."""
    commands = [["rates", "import", "--global", str(rates)]]
    for t in tenants:
        commands.append(["tenant", "add", t.name, "--domain", t.domain, "--country", HOME_COUNTRY,
                         "--timezone", timezone])  # fmt: skip
        for p in t.phones:
            commands.append(["ext", "add", t.name, p.ext, f"--password={p.password}"])
            commands.append(["ext", "pin", t.name, p.ext, f"--pin={p.pin}"])
            commands.append(["number", "add", t.name, p.number, "--ext", p.ext])
        host, port = t.gateway
        commands.append(["trunk", "add", t.name, "carrier", "--host", f"{host}:{port}"])
        policy = ["policy", "set", t.name, "--international", "on"]
        policy += ["--countries", ",".join(t.countries)]
        if t.premium:
            policy += ["--block-types", "none"]
        commands.append(policy)
        if limits == "raised":
            commands.append(["limits", "set", t.name, *RAISED_LIMITS])
    return commands


def seed_history(data_dir: Path, tenants: list[Tenant], rng: random.Random, now: float) -> int:
    """Four weeks of everyday outbound calls for every tenant, written to the store before the
    service starts (which learns each tenant's baseline from them, as ``seed_baselines`` in
    ``app_fraud.py`` does from real records): weekdays 09:00-17:00 on the tenant's clock, one
    to three calls a day per extension, nearly all domestic, about one in twelve to London.
    Returns how many."""
    from ringfence.accounts import TenantId  # noqa: PLC0415 (only this step needs ringfence)
    from ringfence.store import CallRecord, Store  # noqa: PLC0415

    store = Store.open(f"sqlite:///{data_dir / 'ringfence.db'}", create=False)
    try:
        directory = store.load_directory()
        records: list[CallRecord] = []
        for t in tenants:
            found = directory.tenant_by_domain(t.domain)
            assert found is not None, t.domain
            zone = ZoneInfo(found.timezone)
            today = datetime.fromtimestamp(now, zone).date()
            for back in range(1, HISTORY_DAYS + 1):
                day = today - timedelta(days=back)
                if day.weekday() >= 5:
                    continue
                midnight = datetime(day.year, day.month, day.day, tzinfo=zone).timestamp()
                for phone in t.phones:
                    for _ in range(rng.choice((1, 2, 2, 3))):
                        call_id = f"history-{t.name}-{len(records)}"
                        records.append(
                            _past_call(rng, TenantId(found.id), phone.ext, midnight, call_id)
                        )
        store.write_batch(records)
        return len(records)
    finally:
        store.close()


def _past_call(rng: random.Random, tenant_id: Any, ext: str, midnight: float, call_id: str) -> Any:
    from ringfence.store import CallRecord  # noqa: PLC0415

    if rng.random() < 1 / 12:
        callee, price = f"+44207946{rng.randrange(0, 1000):04d}", Decimal("0.02")
    else:
        area = rng.choice(("212", "312", "415", "617"))
        callee, price = f"+1{area}555{rng.randrange(100, 200):04d}", Decimal("0.01")
    started = midnight + rng.uniform(9 * 3600, 17 * 3600)
    answered = started + rng.uniform(3, 12)
    duration = round(rng.uniform(30, 300), 3)
    return CallRecord(
        id=None,
        tenant_id=tenant_id,
        call_id=call_id,
        caller=ext,
        callee=callee,
        direction="outbound",
        started_at=started,
        answered_at=answered,
        ended_at=answered + duration,
        duration=duration,
        final_status=200,
        reason=None,
        cost=(price * Decimal(str(duration)) / 60).quantize(Decimal("0.0001")),
        currency=CURRENCY,
    )
