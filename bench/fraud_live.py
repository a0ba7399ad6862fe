"""Toll fraud through the live service: a few attacks and some benign calls over real SIP; JSON.

Run by hand: ``.venv/bin/python bench/fraud_live.py [--quick] [--only NAME,...] [--hold S]
[--timezone TZ] [--no-history] [--limits raised|service] [--seed N] [--json-only] [--keep]``.
Never a timed test. Loopback only. Progress goes to stderr, one JSON object to stdout. A full run
takes one and a half to four minutes on two cores (less when the attacks are contained early),
``--quick`` (fewer calls, held 10 s) one to two.

The big mode of the toll-fraud simulator (``fraud_sim.py`` with ``fraud_scenarios.py``) plays
months of traffic to the detector alone, in virtual time. This small mode starts the real
``ringfence serve`` (SQLite in a temporary data directory, provisioned through its command line)
and plays each scenario at it with SIPp, on the wall clock. Nothing is asserted: the JSON says
what happened.

Each scenario has its own tenant (a US tenant in ``--timezone``, UTC by default), so that no two
interfere: extensions 101... with a PIN and a number each, all registered from 127.0.0.1 before
the scenario starts (their usual network); a trunk whose gateway is a SIPp that answers every
call, on a loopback address of its own (the proxy tells a trunk, and so its tenant, by source
address alone); a call policy that allows the countries its scenario calls; and, with
``--limits raised`` (the default), usage throttles lifted out of the way (concurrent calls,
calls a minute), so that what is measured is the fraud guard and not the throttles;
``--limits service`` keeps the service's own defaults (2 international calls at once per
extension, ...). One global rate table prices the destinations (``RATES``). Unless
``--no-history``, each tenant gets four weeks of everyday call records (weekdays, office hours,
domestic calls and a few to London) written to the store before the service starts, which
learns its baseline from them at start.

The scenarios (after ``fraud_scenarios.py``):

- ``irsf_burst``: a hacked extension fires parallel long calls to a 1.50-a-minute range in
  Senegal that its tenant allows.
- ``test_then_premium``: three answered calls of 2 to 5 s to ordinary London-area numbers,
  then parallel long calls to a UK premium-rate range (3.00 a minute; premium numbers allowed).
- ``wangiri``: the trunk gateway rings several of the tenant's numbers from one range in Guinea
  and cancels after 1 to 3 s; then two of the extensions call those numbers back.
- ``new_network``: a burst of failed REGISTERs (wrong password) for one extension from
  ``ATTACKER_IP``, then its REGISTER with the right password from there, then parallel calls
  to Nigeria from there.
- ``spread_thin``: several extensions each call a new expensive destination (Senegal, Guinea,
  Nigeria, Sri Lanka, Haiti), two of them twice.
- ``benign``: an extension at its usual address calls a few domestic numbers (and, with a
  history, a London number its tenant calls every week).

Attack calls are held ``--hold`` seconds (default 30, ``--quick`` 10) unless the proxy ends
them. For each attack: the fraudulent calls placed, those that reached the gateway before
containment, the money they cost (their call records), the seconds from the first fraudulent
call to containment and to the first call the fraud guard refused, the responses that fired
(from the service's ``fraud_response`` log events and ``fraud incidents --json``), and the SIP
status codes, refusal reasons and BYE reasons the attacker saw (SIPp's message traces). For
``benign``: the responses and incidents raised. As in ``fraud_sim.py``, an attack is contained
once its tenant, or every extension it used, is contained (``containment_scopes`` lists each
containment). Every tenant's local time at its scenario's start is in the JSON, with whether the
detector counts it as off hours: the service runs on the wall clock, so a run at night and one
in office hours differ. The phones cannot answer the PIN challenge (its INVITE needs answers to
two digest challenges, the tenant's and the PIN's, and SIPp answers one), so a PIN step stops
every caller, even the tenant's own users calling a wangiri number back.

The JSON: ``summary`` (a few figures per scenario), ``scenarios`` (each in full: the figures,
the responses with their explanations, the incidents, and every call as the caller, the gateway
and the call record saw it; times are seconds from the scenario's start), ``method`` (the
tenants, rates, limits, baseline), ``service`` (its exit and log errors), ``errors`` (a scenario
or a read that failed; the rest is still reported).

Files: ``fraud_live_world.py`` (tenants, rates, provisioning, history), ``fraud_live_rig.py``
(processes, the service, SIPp), ``fraud_live_measure.py`` (the figures), ``fraud_live/`` (the
SIPp scenarios).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import secrets
import shutil
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import fraud_live_measure as measure
from common import free_port, say, set_quiet
from fraud_live_rig import (
    Processes,
    Service,
    Sipp,
    SippRun,
    cli_json,
    run_cli,
    run_cli_batch,
    wait_udp_bound,
)
from fraud_live_world import (
    ATTACKER_IP,
    CURRENCY,
    HISTORY_DAYS,
    HOME_COUNTRY,
    PHONE_IP,
    RATES,
    USUAL_ABROAD,
    Phone,
    Tenant,
    make_tenant,
    provisioning,
    seed_history,
    write_rates,
)

SETTLE = 1.0  # seconds for call records and detector events to land after a call ends


# -- calls and scenarios --------------------------------------------------------------------------


@dataclass
class Call:
    """One call placed by a SIPp run: by a phone (or an attacker), or a bait from the gateway."""

    call_id: str
    ext: str
    number: str  # dialled, or (a bait) the caller abroad
    kind: str
    fraud: bool
    run: SippRun


@dataclass
class Played:
    """What one scenario did, for the measurements."""

    calls: list[Call] = field(default_factory=list)
    baits: list[Call] = field(default_factory=list)
    logins: dict[str, SippRun] = field(default_factory=dict)  # new_network's REGISTER runs
    gateway: SippRun | None = None
    phones: SippRun | None = None  # the registration of the tenant's phones
    started_at: float = 0.0
    ended_at: float = 0.0


@dataclass
class Lab:
    """What the scenarios play with."""

    sipp: Sipp
    hold_ms: int
    quick: bool
    history: bool
    rng: random.Random

    def call(
        self,
        tenant: Tenant,
        phone: Phone,
        number: str,
        kind: str,
        *,
        fraud: bool,
        hold_ms: int | None = None,
        source: str = PHONE_IP,
    ) -> Call:
        """``phone`` (or whoever has its credentials, at ``source``) dials ``number``."""
        hold = self.hold_ms if hold_ms is None else hold_ms
        call_id = f"fl-{tenant.name}-{kind}-{uuid.uuid4().hex[:12]}"
        run = self.sipp.start(
            f"{kind}-{phone.ext}",
            "uac_call.xml",
            local_ip=source,
            keys={"domain": tenant.domain, "user": phone.ext, "callee": number},
            fill={"hold_ms": str(hold)},
            auth=(phone.ext, phone.password, f"{number}@{tenant.domain}"),
            call_id=call_id,
            timeout_s=hold / 1000 + 40,
        )
        return Call(call_id, phone.ext, number, kind, fraud, run)

    def register(
        self,
        tenant: Tenant,
        rows: list[tuple[Phone, str]],
        *,
        name: str,
        local_ip: str,
        local_port: int,
        rate: float = 10.0,
    ) -> SippRun:
        """REGISTER each (phone, password) from ``local_ip:local_port``, its Contact there."""
        lines = [f"{p.ext};{pw};{tenant.domain};{local_ip}:{local_port}" for p, pw in rows]
        run = self.sipp.start(
            name,
            "register.xml",
            local_ip=local_ip,
            local_port=local_port,
            inf=lines,
            calls=len(lines),
            rate=rate,
            extra=("-auth_uri", tenant.domain),
            timeout_s=30,
        )
        run.wait(40)
        return run

    def bait(self, tenant: Tenant, phone: Phone, caller: str, ring_ms: int) -> Call:
        """The tenant's gateway rings ``phone``'s number from ``caller`` and cancels."""
        call_id = f"fl-{tenant.name}-bait-{uuid.uuid4().hex[:12]}"
        run = self.sipp.start(
            f"bait-{phone.ext}",
            "gateway_ring.xml",
            local_ip=tenant.gateway[0],
            keys={"number": phone.number, "caller": caller},
            fill={"ring_ms": str(ring_ms)},
            call_id=call_id,
            timeout_s=30,
        )
        return Call(call_id, phone.ext, caller, "bait", False, run)

    def wait(self, calls: list[Call]) -> None:
        for call in calls:
            call.run.wait(self.hold_ms / 1000 + 45)

    def pause(self, low: float, high: float) -> None:
        """A pause between low and high seconds (half as long with ``--quick``)."""
        time.sleep(self.rng.uniform(low, high) * self.brisk)

    def short(self, low: float, high: float) -> int:
        """How long a short call is held, in ms: between low and high seconds."""
        return int(self.rng.uniform(low, high) * 1000)

    @property
    def brisk(self) -> float:
        return 0.5 if self.quick else 1.0


# -- the scenarios --------------------------------------------------------------------------------


def play_irsf_burst(lab: Lab, tenant: Tenant, _: Played) -> list[Call]:
    hacked = tenant.phones[0]
    calls = []
    for i in range(3 if lab.quick else 5):
        calls.append(lab.call(tenant, hacked, f"+22133820{1234 + 111 * i:04d}", "irsf", fraud=True))
        lab.pause(0.1, 0.4)
    lab.wait(calls)
    return calls


def play_test_then_premium(lab: Lab, tenant: Tenant, _: Played) -> list[Call]:
    attacker = tenant.phones[0]
    calls = []
    for number in ("+442079461234", "+441614960123", "+441174960456"):
        test = lab.call(tenant, attacker, number, "test", fraud=True, hold_ms=lab.short(2, 5))
        lab.wait([test])
        calls.append(test)
        lab.pause(1.0, 2.0)
    premium = []
    for i in range(2 if lab.quick else 3):
        premium.append(lab.call(tenant, attacker, f"+44909879{777 + i:04d}", "premium", fraud=True))
        lab.pause(0.1, 0.4)
    lab.wait(premium)
    return calls + premium


def play_wangiri(lab: Lab, tenant: Tenant, played: Played) -> list[Call]:
    callers = [f"+2246212{lab.rng.randrange(10_000, 100_000)}" for _ in tenant.phones]
    targets = list(zip(tenant.phones, callers, strict=True))[: 3 if lab.quick else 5]
    for phone, caller in targets:
        played.baits.append(lab.bait(tenant, phone, caller, lab.short(1, 3)))
        lab.pause(0.3, 1.0)
    lab.wait(played.baits)
    time.sleep(SETTLE)  # the detector hears of an inbound call when it ends
    calls = []
    for phone, caller in targets[:2]:  # two of the rung users call the number back
        calls.append(lab.call(tenant, phone, caller, "callback", fraud=True))
        lab.pause(1.0, 2.0)
    lab.wait(calls)
    return calls


def play_new_network(lab: Lab, tenant: Tenant, played: Played) -> list[Call]:
    victim = tenant.phones[0]
    port = free_port(ATTACKER_IP)
    wrong = "w" + secrets.token_urlsafe(12)
    played.logins["failed"] = lab.register(
        tenant, [(victim, wrong)] * 6, name="failed-logins", local_ip=ATTACKER_IP,
        local_port=port, rate=3.0,
    )  # fmt: skip
    lab.pause(0.5, 1.0)
    played.logins["guessed"] = lab.register(
        tenant, [(victim, victim.password)], name="attacker-register", local_ip=ATTACKER_IP,
        local_port=port,
    )  # fmt: skip
    lab.pause(1.0, 2.0)
    calls = []
    for i in range(2 if lab.quick else 3):
        number = f"+234802123{4561 + i}"
        calls.append(lab.call(tenant, victim, number, "intl", fraud=True, source=ATTACKER_IP))
        lab.pause(0.1, 0.4)
    lab.wait(calls)
    return calls


SPREAD_FIRST = ("+221338209876", "+224621234567", "+2348021234567", "+94112345678", "+50922123456")
SPREAD_SECOND = ("+50928123456", "+94212345678")


def play_spread_thin(lab: Lab, tenant: Tenant, _: Played) -> list[Call]:
    count = 3 if lab.quick else 5
    calls = []
    for phone, number in zip(tenant.phones[:count], SPREAD_FIRST, strict=False):
        calls.append(lab.call(tenant, phone, number, "spread", fraud=True))
        lab.pause(1.0, 3.0)
    if not lab.quick:
        for phone, number in zip(tenant.phones, SPREAD_SECOND, strict=False):
            calls.append(lab.call(tenant, phone, number, "spread", fraud=True))
            lab.pause(1.0, 3.0)
    lab.wait(calls)
    return calls


def play_benign(lab: Lab, tenant: Tenant, _: Played) -> list[Call]:
    phone = tenant.phones[0]
    numbers = ["+12125550123", "+13125550142", "+14155550175"]
    if lab.history:
        numbers.append(USUAL_ABROAD)
    calls = []
    for number in numbers:
        call = lab.call(tenant, phone, number, "benign", fraud=False, hold_ms=lab.short(2, 4))
        lab.wait([call])
        calls.append(call)
        lab.pause(1.0, 2.0)
    return calls


@dataclass(frozen=True, slots=True, kw_only=True)
class Scenario:
    name: str
    story: str
    exts: int
    countries: tuple[str, ...]
    play: Callable[[Lab, Tenant, Played], list[Call]]
    attack: bool = True
    premium: bool = False
    ringing: bool = False  # its phones ring (and are never answered) instead of not being called


SCENARIOS = (
    Scenario(
        name="irsf_burst",
        story="a hacked extension fires parallel long calls to a 1.50/min range in Senegal",
        exts=3,
        countries=("GB", "SN"),
        play=play_irsf_burst,
    ),
    Scenario(
        name="test_then_premium",
        story="3 answered calls of 2-5 s to London-area numbers, then parallel long calls to a "
        "UK premium-rate range (3.00/min)",
        exts=3,
        countries=("GB",),
        play=play_test_then_premium,
        premium=True,
    ),
    Scenario(
        name="wangiri",
        story="the gateway rings several of the tenant's numbers from one range in Guinea and "
        "cancels after 1-3 s; two of the rung extensions call their number back",
        exts=5,
        countries=("GB", "GN"),
        play=play_wangiri,
        ringing=True,
    ),
    Scenario(
        name="new_network",
        story=f"6 failed REGISTERs for one extension from {ATTACKER_IP}, its REGISTER with the "
        "right password from there, then parallel calls to Nigeria from there",
        exts=3,
        countries=("GB", "NG"),
        play=play_new_network,
    ),
    Scenario(
        name="spread_thin",
        story="several extensions each call a new expensive country, two of them twice",
        exts=6,
        countries=("GB", "SN", "GN", "NG", "LK", "HT"),
        play=play_spread_thin,
    ),
    Scenario(
        name="benign",
        story="an extension at its usual address calls domestic numbers (and, with a history, "
        "the London number its tenant calls every week)",
        exts=3,
        countries=("GB",),
        play=play_benign,
        attack=False,
    ),
)


def run_scenario(lab: Lab, scenario: Scenario, tenant: Tenant) -> Played:
    """The tenant's gateway and phones up, the scenario played, the gateway down."""
    played = Played()
    gateway_ip, gateway_port = tenant.gateway
    played.gateway = lab.sipp.start(
        "gateway", "gateway_answer.xml", local_ip=gateway_ip, local_port=gateway_port,
        to_proxy=False, calls=None, timeout_s=900,
    )  # fmt: skip
    wait_udp_bound(gateway_ip, gateway_port)
    phone_port = free_port(PHONE_IP)
    played.phones = lab.register(
        tenant, [(p, p.password) for p in tenant.phones], name="phones-register",
        local_ip=PHONE_IP, local_port=phone_port,
    )  # fmt: skip
    ringing = None
    if scenario.ringing:
        ringing = lab.sipp.start(
            "phones-ringing", "phone_ring.xml", local_ip=PHONE_IP, local_port=phone_port,
            to_proxy=False, calls=None, timeout_s=900,
        )  # fmt: skip
        wait_udp_bound(PHONE_IP, phone_port)
    played.started_at = time.time()
    try:
        played.calls = scenario.play(lab, tenant, played)
    finally:
        time.sleep(SETTLE)
        played.gateway.stop()
        if ringing is not None:
            ringing.stop()
        played.ended_at = time.time()
    return played


# -- the run --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Options:
    quick: bool
    only: list[str]
    hold: float
    timezone: str
    history: bool
    limits: str
    seed: int
    keep: bool


def bench(options: Options, work: Path, processes: Processes) -> dict[str, Any]:
    """Provision, start the service, play every scenario, read what happened, stop."""
    scenarios = [s for s in SCENARIOS if not options.only or s.name in options.only]
    rng = random.Random(options.seed)
    data_dir = work / "data"
    tenants = [
        make_tenant(index, s.name, exts=s.exts, countries=s.countries, premium=s.premium)
        for index, s in enumerate(SCENARIOS, start=1)
        if s in scenarios
    ]
    say(f"provisioning {len(tenants)} tenants through the CLI ...")
    started = time.monotonic()
    history = provision(data_dir, work, tenants, options, rng)
    provision_seconds = round(time.monotonic() - started, 1)
    service = Service(data_dir, work, processes)
    say(f"starting ringfence serve on udp {PHONE_IP}:{service.port} ...")
    service.start()
    errors: dict[str, str] = {}
    try:
        sipp = Sipp(shutil.which("sipp") or "sipp", work / "sipp", processes, service.port)
        lab = Lab(sipp, int(options.hold * 1000), options.quick, options.history, rng)
        played, clocks = play_all(lab, scenarios, tenants, options.timezone, errors)
        say("reading call records and incidents ...")
        results = read_results(
            data_dir,
            service,
            scenarios=scenarios,
            tenants=tenants,
            played=played,
            clocks=clocks,
            errors=errors,
        )
    finally:
        alive = service.alive()
        code = service.stop()
    return {
        "service": {
            "alive_until_stop": alive,
            "exit_code_after_sigterm": code,
            **measure.service_log(service.events()),
        },
        "scenarios": results,
        "summary": {name: measure.summary(result) for name, result in results.items()},
        "errors": errors,
        "method": describe(options, tenants, history, provision_seconds),
    }


def provision(
    data_dir: Path, work: Path, tenants: list[Tenant], options: Options, rng: random.Random
) -> int:
    """The data directory through the command line, then (unless ``--no-history``) the call
    history in the store. Returns how many past calls were written."""
    rates = write_rates(work / "rates.csv")
    run_cli(data_dir, "init")
    run_cli_batch(data_dir, provisioning(tenants, rates, options.timezone, options.limits), work)
    return seed_history(data_dir, tenants, rng, time.time()) if options.history else 0


def play_all(
    lab: Lab,
    scenarios: list[Scenario],
    tenants: list[Tenant],
    timezone: str,
    errors: dict[str, str],
) -> tuple[dict[str, Played], dict[str, dict[str, Any]]]:
    """Every scenario in turn; one that fails is reported in ``errors`` and the rest go on."""
    played: dict[str, Played] = {}
    clocks: dict[str, dict[str, Any]] = {}
    for scenario, tenant in zip(scenarios, tenants, strict=True):
        say(f"{scenario.name}: {scenario.story} ...")
        clocks[scenario.name] = measure.tenant_clock(time.time(), timezone, HOME_COUNTRY)
        try:
            done = played[scenario.name] = run_scenario(lab, scenario, tenant)
        except Exception as error:
            errors[scenario.name] = f"{type(error).__name__}: {error}"
            say(f"  failed: {errors[scenario.name]}")
            continue
        say(f"  done in {done.ended_at - done.started_at:.1f}s")
    return played, clocks


def read_results(
    data_dir: Path,
    service: Service,
    *,
    scenarios: list[Scenario],
    tenants: list[Tenant],
    played: dict[str, Played],
    clocks: dict[str, dict[str, Any]],
    errors: dict[str, str],
) -> dict[str, Any]:
    """The figures of each scenario played, from the records, incidents and the log."""
    records: dict[str, dict[str, Any]] = {}
    try:
        records = measure.wait_for_records(
            lambda: cli_json(data_dir, "calls", "--limit", "10000"),
            {c.call_id for p in played.values() for c in (*p.calls, *p.baits)},
        )
    except Exception as error:  # the figures from the SIPp traces and the log still stand
        errors["call_records"] = f"{type(error).__name__}: {error}"
    fired = service.events("fraud_response")
    results: dict[str, Any] = {}
    for scenario, tenant in zip(scenarios, tenants, strict=True):
        if scenario.name not in played:
            continue
        incidents: list[dict[str, Any]] = []
        try:
            incidents = cli_json(data_dir, "fraud", "incidents", tenant.name)
        except Exception as error:
            errors[f"{scenario.name}_incidents"] = f"{type(error).__name__}: {error}"
        results[scenario.name] = measure.scenario_result(
            scenario=scenario,
            tenant=tenant,
            played=played[scenario.name],
            records=records,
            responses=measure.responses(fired, tenant.name),
            incidents=incidents,
            clock=clocks[scenario.name],
            currency=CURRENCY,
        )
    return results


def describe(
    options: Options, tenants: list[Tenant], history: int, provision_seconds: float
) -> dict[str, Any]:
    return {
        "service": "ringfence serve on 127.0.0.1 (UDP), SQLite in a temporary data directory, "
        "provisioned with its command line; JSON log",
        "provisioning_seconds": provision_seconds,
        "tenants": {
            t.name: {
                "domain": t.domain,
                "country": HOME_COUNTRY,
                "timezone": options.timezone,
                "extensions": len(t.phones),
                "countries_allowed": list(t.countries),
                "premium_numbers_allowed": t.premium,
                "gateway": f"{t.gateway[0]}:{t.gateway[1]}",
            }
            for t in tenants
        },
        "rates_per_minute": {
            prefix: f"{price} {CURRENCY} ({what})" for prefix, price, what in RATES
        },
        "pins": "every extension has a PIN; no SIPp phone answers the PIN challenge",
        "limits": "raised out of the way (concurrent 30 per extension, 100 per tenant, 100 calls "
        "a minute)"
        if options.limits == "raised"
        else "the service's defaults",
        "baseline": f"{HISTORY_DAYS} days of call history per tenant written to the store "
        f"before the start ({history} records)"
        if options.history
        else "no call history: every tenant starts without a baseline",
        "phones": f"every extension registered from {PHONE_IP} before its scenario",
        "attacker_address_new_network": ATTACKER_IP,
        "hold_seconds": options.hold,
        "quick": options.quick,
        "seed": options.seed,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer calls, held 10 s")
    parser.add_argument("--only", default="", help="scenarios, comma-separated")
    parser.add_argument("--hold", type=float, help="seconds an attack call is held (30; quick 10)")
    parser.add_argument("--timezone", default="UTC", help="every tenant's IANA time zone")
    parser.add_argument("--no-history", action="store_true", help="no call history: no baseline")
    parser.add_argument("--limits", choices=("raised", "service"), default="raised")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json-only", action="store_true", help="no progress lines")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args(argv)
    only = [name for name in args.only.split(",") if name]
    unknown = set(only) - {s.name for s in SCENARIOS}
    if unknown:
        parser.error(f"unknown scenarios {sorted(unknown)}; known: {[s.name for s in SCENARIOS]}")
    if shutil.which("sipp") is None:
        parser.error("sipp is not installed (Debian: apt-get install sip-tester)")
    try:
        ZoneInfo(args.timezone)
    except (ValueError, KeyError, OSError):
        parser.error(f"unknown time zone {args.timezone!r}")
    set_quiet(args.json_only)
    options = Options(
        quick=args.quick,
        only=only,
        hold=args.hold if args.hold is not None else (10.0 if args.quick else 30.0),
        timezone=args.timezone,
        history=not args.no_history,
        limits=args.limits,
        seed=args.seed,
        keep=args.keep,
    )
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # clean up on SIGTERM as on Ctrl-C
    work = Path(tempfile.mkdtemp(prefix="fraud-live-"))
    say(f"work directory: {work}")
    processes = Processes()
    started = time.monotonic()
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    load_at_start = [round(x, 2) for x in os.getloadavg()]
    try:
        report = bench(options, work, processes)
    except KeyboardInterrupt:
        say("interrupted")
        return 130
    finally:
        processes.stop_all()
        if not options.keep:
            shutil.rmtree(work, ignore_errors=True)
    out = {
        "bench": "fraud_live",
        "started_at_utc": started_at,
        "machine": {
            "cpus": os.cpu_count(),
            "loadavg_at_start": load_at_start,
            "loadavg_at_end": [round(x, 2) for x in os.getloadavg()],
            "python": platform.python_version(),
            "sipp": measure.version([shutil.which("sipp") or "sipp", "-v"]),
        },
        **report,
        "work_dir": str(work) if options.keep else "removed",
        "seconds": round(time.monotonic() - started, 1),
    }
    print(json.dumps(out, indent=None if args.json_only else 2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
