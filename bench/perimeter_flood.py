"""Perimeter under flood: an office's phones keep working while one address floods, as JSON.

Run by hand: ``.venv/bin/python bench/perimeter_flood.py [--seconds 30] [--json-only]
[--only register|invite]``. Never a timed test (``tests/e2e/test_e2e_flood.py`` is the short
check of the same story, without timings). Loopback only; every run is bounded.

The story (the perimeter issue): SIPp floods, a REGISTER flood and then an INVITE flood from one
source, each far above the service's capacity, for ``--seconds``. Meanwhile an office registers
and calls at a normal rate from another address. The office's success rate stays at 99 % or
higher, and the service's memory stays bounded.

Nobody is on the allow-list (``serve`` runs without ``--guard-allow``): the flood meets the
perimeter as an attacker would, and the office gets through on its own merits, as a phone that
logged in before the flood started (a known-good address pays a quarter per packet and keeps
half of the node's budget).

For each flood, on a fresh copy of one provisioned data directory and a fresh service process
(so that the peak RSS is the flood's own):

1. The desks: ``--desks`` extensions register from 127.0.0.4, all with their Contact on one SIPp
   UAS there (``perimeter_flood/desk_answer.xml``), which then answers every call.
2. The office: ``--phones`` extensions register once from 127.0.0.3 (the phones boot), then,
   from ``--lead`` seconds before the flood to ``--tail`` seconds after it, they renew their
   registrations at ``--register-rate`` a second (``office_register.xml``: REGISTER, 401,
   REGISTER with the real password, 200) and call the desks at ``--call-rate`` a second
   (``office_call.xml``: INVITE, 407, ACK, INVITE with credentials, 180, 200, ACK, ``--talk-ms``
   of talk, BYE, 200). Retransmissions as phones do them (T1 500 ms); a step that waits more than
   ``--recv-timeout-ms`` for its answer fails.
3. The flood: ``--flooders`` SIPp processes, all from 127.0.6.1 (one port each), together at
   ``--flood-rate`` requests a second, never retransmitting (``-nr``):
   - ``register``: REGISTERs without credentials for an office extension (``flood_register.xml``);
   - ``invite``: INVITEs without credentials from an office extension's name to a number
     abroad (``flood_invite.xml``), never acknowledging the 407. That is what INVITE flooders
     and toll-fraud probes send: no password is needed to flood, and one guessed wrong five
     times would only get the address banned sooner, as brute force.
   Both wear a desk phone's User-Agent: nothing on the scanner list gives them away.

Capacity, for scale: on the 2-core machine this was written on, ``bench/sip_load.py`` measured
about 600 registrations/s (1,200 REGISTER requests/s) and 180 calls/s (360 INVITEs/s) with the
perimeter out of the way. The default flood, 20,000 requests/s from one address (two SIPp
processes), is over ten times the REGISTER capacity and over fifty times the INVITE capacity,
and about as much as SIPp can send here beside the service.

What is measured, per flood:

- the office: registrations, calls and both together, as planned, succeeded and failed (SIPp's
  ``-trace_stat``), and per request from ``-trace_shortmsg``: what each failed one last heard,
  and the times (register = first REGISTER to its 200; setup = first INVITE to the 200), both for
  everything and for what was started while the flood ran;
- the flood: requests sent, answered (by status) and unanswered, per SIPp's ``-trace_counts``;
- the perimeter: the ban (the log line ``ringfence ban ADDRESS reason=flood`` and how long after
  the flood's start it came), and the service's own counters from its Prometheus endpoint
  (``ringfence_guard_drops`` by verdict, requests by method, responses by code);
- the service: CPU (cores busy while the flood ran), RSS sampled every 100 ms (VmRSS) and its
  peak (VmHWM), and an OPTIONS answered after the flood;
- the kernel: UDP datagrams dropped for a full receive buffer, machine-wide and per socket of
  this run (/proc/net/udp), the service's by second of the flood, and the size of the service
  socket's receive buffer (``ss``). A datagram dropped there never reaches the perimeter: the
  flood's and the office's alike. The office's phones then recover by retransmitting, which
  shows as retransmissions and as a p99 of about 0.5 s or 1.5 s (one or two T1 timers).

The desks' SIPp keeps its transactions as a phone does (``desk_answer.xml``): with a lossy
socket on the way, a harness that did not would fail calls the service had handled.

The machine is shared (2 cores; SIPp runs beside the service, and other jobs may run too: see
``loadavg``): how many datagrams the kernel drops depends on how often the service is kept
off a core, so repeat a run before trusting a difference there.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime as dt
import json
import math
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common import (
    child_env,
    free_port,
    say,
    set_quiet,
    stop_process,
    udp_receive_buffer_errors,
    write_csv,
)

HERE = Path(__file__).resolve().parent
ASSETS = HERE / "perimeter_flood"
BIN = Path(sys.executable).parent
RINGFENCE = BIN / "ringfence"
SERVICE_HOST = "127.0.0.1"
OFFICE_IP = "127.0.0.3"  # the office's phones (one NAT address)
DESK_IP = "127.0.0.4"  # the desks that take the calls
FLOOD_IP = "127.0.6.1"  # the attacker
TENANT = "office"
DOMAIN = "office.example"
ABROAD = "+442079460123"  # the flooded INVITEs' target
SUCCESS_TARGET = 0.99
START_TIMEOUT = 20.0
CLOCK_TICK = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


# -- users ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Ext:
    number: str
    password: str


def _password(number: str) -> str:
    """Random, a letter first, nothing SIPp's CSV reader would split on, and never holding the
    extension's number (``ext add`` refuses that)."""
    while True:
        candidate = "p" + secrets.token_hex(12)
        if number not in candidate:
            return candidate


def make_extensions(phones: int, desks: int) -> tuple[list[Ext], list[Ext]]:
    """The office's phones (201 ...) and the desks they call (301 ...)."""

    def numbered(first: int, count: int) -> list[Ext]:
        return [Ext(str(n), _password(str(n))) for n in range(first, first + count)]

    return numbered(201, phones), numbered(301, desks)


# -- ports, probes, /proc -----------------------------------------------------------------------


def options_rtt_ms(port: int, timeout: float = 1.0) -> float | None:
    """Milliseconds for a UDP OPTIONS from 127.0.0.1 to be answered 200, or None."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind((SERVICE_HOST, 0))
        probe.settimeout(timeout)
        local = probe.getsockname()[1]
        tag = secrets.token_hex(6)
        message = (
            f"OPTIONS sip:{SERVICE_HOST}:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {SERVICE_HOST}:{local};branch=z9hG4bK-probe-{tag};rport\r\n"
            "Max-Forwards: 70\r\n"
            f"From: <sip:probe@{SERVICE_HOST}>;tag={tag}\r\n"
            f"To: <sip:{SERVICE_HOST}:{port}>\r\n"
            f"Call-ID: probe-{tag}\r\n"
            "CSeq: 1 OPTIONS\r\n"
            "Content-Length: 0\r\n\r\n"
        ).encode()
        start = time.perf_counter()
        probe.sendto(message, (SERVICE_HOST, port))
        try:
            while True:
                data = probe.recv(65535)
                if data.startswith(b"SIP/2.0 200") and f"probe-{tag}".encode() in data:
                    return round((time.perf_counter() - start) * 1000, 2)
        except TimeoutError:
            return None


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU of ``pid``, all its threads."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        text = Path(f"/proc/{pid}/stat").read_text()
        fields = text[text.rindex(")") + 2 :].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICK
    return None


def status_kb(pid: int, key: str) -> int | None:
    """A ``kB`` field of /proc/PID/status (VmRSS, VmHWM)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{key}:"):
                return int(line.split()[1])
    return None


def rss_kb(pid: int) -> int | None:
    """Resident set size now, from /proc/PID/statm (cheaper to read than status)."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_KB
    return None


def udp_socket_drops() -> dict[tuple[str, int], int]:
    """Datagrams each UDP socket's receive buffer had no room for, by (address, port), from
    /proc/net/udp (its last column)."""
    out: dict[tuple[str, int], int] = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/net/udp").read_text().splitlines()[1:]:
            fields = line.split()
            with contextlib.suppress(ValueError, IndexError):
                address, port = fields[1].split(":")
                host = socket.inet_ntoa(bytes.fromhex(address)[::-1])
                out[(host, int(port, 16))] = int(fields[-1])
    return out


def udp_receive_buffer_bytes(host: str, port: int) -> int | None:
    """The receive buffer of the UDP socket bound to ``host:port`` (``ss``'s ``rb``: what the
    kernel holds for it before it drops datagrams)."""
    with contextlib.suppress(OSError, subprocess.SubprocessError, ValueError):
        done = subprocess.run(  # noqa: S603
            [shutil.which("ss") or "ss", "-uamnH", f"src {host}:{port}"],
            capture_output=True, text=True, timeout=5, check=False,
        )  # fmt: skip
        match = re.search(r"\brb(\d+)", done.stdout)
        return int(match.group(1)) if match else None
    return None


def percentiles(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    ordered = sorted(values)

    def rank(p: int) -> float:
        return ordered[min(len(ordered) - 1, max(0, math.ceil(len(ordered) * p / 100) - 1))]

    return {
        "p50": round(rank(50), 1),
        "p90": round(rank(90), 1),
        "p99": round(rank(99), 1),
        "max": round(ordered[-1], 1),
        "n": len(ordered),
    }


class Sampler(threading.Thread):
    """Every ``period`` s: the service's VmRSS, the CPU seen so far of the flooders (read while
    they live: once reaped, /proc forgets them), and the receive-buffer drops of the sockets
    of this run (likewise)."""

    def __init__(self, service_pid: int, period: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.service_pid = service_pid
        self.period = period
        self.rss: list[tuple[float, int]] = []
        self.watched: dict[int, float] = {}  # pid -> CPU seconds last seen
        self.sockets: dict[str, tuple[str, int]] = {}  # name -> (address, port)
        self.drops_first: dict[str, int] = {}
        self.drops_last: dict[str, int] = {}
        self.drops_seen: list[tuple[float, str, int]] = []  # (when, socket, drops) on a change
        self._stop_event = threading.Event()

    def watch(self, pid: int) -> None:
        self.watched[pid] = 0.0

    def run(self) -> None:
        while not self._stop_event.is_set():
            now = time.monotonic()
            kb = rss_kb(self.service_pid)
            if kb is not None:
                self.rss.append((now, kb))
            for pid in list(self.watched):
                seen = cpu_seconds(pid)
                if seen is not None:
                    self.watched[pid] = seen
            drops = udp_socket_drops()
            for name, where in list(self.sockets.items()):
                if where in drops:
                    self.drops_first.setdefault(name, drops[where])
                    if drops[where] != self.drops_last.get(name):
                        self.drops_seen.append((now, name, drops[where]))
                    self.drops_last[name] = drops[where]
            self._stop_event.wait(self.period)

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=2)

    def drops_by_second(self, name: str, since: float) -> dict[str, int]:
        """Datagrams ``name`` dropped in each second since ``since`` (a monotonic time), for the
        seconds that had any."""
        out: Counter[int] = Counter()
        previous = self.drops_first.get(name)
        for when, socket_name, drops in self.drops_seen:
            if socket_name != name or previous is None:
                continue
            if drops > previous and when >= since:
                out[int(when - since)] += drops - previous
            previous = drops
        return {f"{second}-{second + 1}s": n for second, n in sorted(out.items())}

    def socket_drops(self) -> dict[str, int]:
        """Per socket watched: datagrams dropped while it was watched."""
        return {n: self.drops_last[n] - self.drops_first[n] for n in self.drops_last}

    def peak_kb(self, start: float, end: float) -> int | None:
        inside = [kb for t, kb in self.rss if start <= t <= end]
        return max(inside) if inside else None


# -- the service ----------------------------------------------------------------------------------


class Service:
    """``ringfence serve`` on its own data directory, UDP and TCP on one loopback port, metrics
    on another; nobody on the allow-list."""

    def __init__(self, data_dir: Path, log_path: Path) -> None:
        self.data_dir = data_dir
        self.log_path = log_path
        self.port = free_port(SERVICE_HOST)
        self.metrics_port = free_port(SERVICE_HOST)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> None:
        command = [
            str(RINGFENCE), "serve",
            "--data-dir", str(self.data_dir),
            "--sip", f"{SERVICE_HOST}:{self.port}",
            "--sips", "off",
            "--metrics", f"{SERVICE_HOST}:{self.metrics_port}",
        ]  # fmt: skip
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(  # noqa: S603
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=child_env(),
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"ringfence serve exited {self.process.returncode} at start")
            if options_rtt_ms(self.port, 0.25) is not None:
                return
        raise RuntimeError(f"ringfence serve did not answer OPTIONS in {START_TIMEOUT:g}s")

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> int | None:
        if self.process is None:
            return None
        code = stop_process(self.process)
        self.process = None
        return code

    def metrics(self) -> dict[str, float]:
        """Every sample of the Prometheus endpoint: ``name{labels}`` -> value."""
        url = f"http://{SERVICE_HOST}:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as answer:
            text = answer.read().decode()
        samples: dict[str, float] = {}
        for line in text.splitlines():
            if line.startswith("#") or not line.strip():
                continue
            name, _, value = line.rpartition(" ")
            with contextlib.suppress(ValueError):
                samples[name] = float(value)
        return samples

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def provision(data_dir: Path, phones: list[Ext], desks: list[Ext], work: Path) -> float:
    """``init``, ``tenant add`` and one ``ext add`` per extension through the command line; the
    ``ext add`` runs in one child process through the CLI's own entry point (one interpreter
    start instead of one per extension). Returns the seconds it took."""
    start = time.monotonic()
    for args in (["init"], ["tenant", "add", TENANT, "--domain", DOMAIN]):
        done = subprocess.run(  # noqa: S603
            [str(RINGFENCE), *args, "--data-dir", str(data_dir)],
            capture_output=True, text=True, timeout=60, check=False, env=child_env(),
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"ringfence {' '.join(args)}: {(done.stderr or done.stdout)[-600:]}")
    users = work / "extensions.json"
    users.write_text(json.dumps([[e.number, e.password] for e in phones + desks]))
    users.chmod(0o600)
    done = subprocess.run(  # noqa: S603
        [sys.executable, __file__, "--provision-batch", str(data_dir), str(users)],
        capture_output=True, text=True, timeout=300, check=False, env=child_env(),
    )  # fmt: skip
    users.unlink()
    if done.returncode != 0:
        raise RuntimeError(f"provisioning failed: {done.stderr[-600:]}")
    return round(time.monotonic() - start, 1)


def provision_batch(data_dir: str, users_file: str) -> int:
    """Child process: ``ringfence ext add`` for every extension, through the CLI entry point."""
    from ringfence.cli import app  # type: ignore[import-untyped]  # noqa: PLC0415 (the child only)

    with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
        for number, password in json.loads(Path(users_file).read_text()):
            args = ["ext", "add", TENANT, number, f"--password={password}", "--data-dir", data_dir]
            try:
                code = app(args, standalone_mode=False)
            except SystemExit as done:
                code = done.code
            if code:  # an error is returned as an exit code, not raised, outside standalone mode
                print(f"ext add {number}: exit {code}", file=sys.stderr)
                return 1
    return 0


# -- SIPp -----------------------------------------------------------------------------------------


@dataclass
class SippRun:
    name: str
    workdir: Path
    command: list[str]
    process: subprocess.Popen[bytes]
    started: float  # wall clock
    planned: int
    returncode: int | None = None
    stats: dict[str, str] = field(default_factory=dict)

    def stat(self, key: str) -> int:
        try:
            return int(float(self.stats.get(key, "0") or 0))
        except ValueError:
            return 0

    def finish(self, timeout: float) -> SippRun:
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            # SIPp: a first SIGUSR1 lets calls finish, a second aborts them.
            for grace in (3.0, 5.0):
                if self.process.poll() is None:
                    self.process.send_signal(signal.SIGUSR1)
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        self.process.wait(timeout=grace)
            stop_process(self.process)
        self.returncode = self.process.returncode
        self.stats = _last_row(self.workdir / "stat.csv")
        return self

    def counts(self) -> dict[str, int]:
        """The last row of ``-trace_counts``: per scenario message, sent/received/timeouts."""
        paths = sorted(self.workdir.glob("*_counts.csv"))
        row = _last_row(paths[0]) if paths else {}
        out: dict[str, int] = {}
        for key, value in row.items():
            with contextlib.suppress(ValueError):
                out[key] = int(value)
        return out

    def errors_excerpt(self, limit: int = 1500) -> str:
        path = self.workdir / "errors.log"
        return path.read_text(errors="replace")[:limit] if path.exists() else ""


def _last_row(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    rows = list(csv.reader(path.read_text(errors="replace").splitlines(), delimiter=";"))
    if len(rows) < 2:
        return {}
    return dict(zip(rows[0], rows[-1], strict=False))


def start_sipp(
    root: Path,
    name: str,
    scenario: str,
    *,
    remote_port: int | None,
    local_ip: str,
    local_port: int,
    timeout_s: float,
    rate: float | None = None,
    calls: int | None = None,
    limit: int | None = None,
    inf: Path | None = None,
    keys: dict[str, str] | None = None,
    recv_timeout_ms: int | None = None,
    extra: Sequence[str] = (),
    shortmsg: bool = False,
    counts: bool = False,
) -> SippRun:
    workdir = root / name
    workdir.mkdir(parents=True)
    command = [shutil.which("sipp") or "/usr/bin/sipp"]
    if remote_port is not None:
        command.append(f"{SERVICE_HOST}:{remote_port}")
    command += [
        "-sf", str(ASSETS / scenario),
        "-t", "u1",
        "-i", local_ip,
        "-bind_local",
        "-p", str(local_port),
        "-nostdin",
        "-timeout", f"{int(timeout_s)}s",
        # On a failure, end the call without a BYE of SIPp's own.
        "-default_behaviors", "all,-bye",
        "-trace_stat", "-stf", "stat.csv", "-fd", "1",
        "-trace_err", "-error_file", "errors.log",
        "-max_log_size", "200000000",
    ]  # fmt: skip
    if rate is not None:
        command += ["-r", f"{rate:g}"]
    if calls is not None:
        command += ["-m", str(calls)]
    if limit is not None:
        command += ["-l", str(limit)]
    if inf is not None:
        command += ["-inf", str(inf)]
    if recv_timeout_ms is not None:
        command += ["-recv_timeout", str(recv_timeout_ms)]
    for key, value in (keys or {}).items():
        command += ["-key", key, value]
    if shortmsg:
        command += ["-trace_shortmsg", "-shortmessage_file", "short.log"]
    if counts:
        command += ["-trace_counts"]
    command += list(extra)
    with (workdir / "stdout.log").open("wb") as out:
        process = subprocess.Popen(  # noqa: S603
            command, cwd=workdir, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
        )
    return SippRun(name, workdir, command, process, time.time(), calls or 0)


# -- what the office's requests met ---------------------------------------------------------------


@dataclass
class Exchange:
    """One SIPp call of the office (a registration or a phone call), from -trace_shortmsg."""

    started: float
    heard: list[tuple[float, str, str]] = field(default_factory=list)  # (when, CSeq, status)
    last_sent: str = ""  # the CSeq of the last request sent

    def final(self, cseq: str) -> tuple[float, str] | None:
        for when, c, status in self.heard:
            if c == cseq and not status.startswith("1"):
                return when, status
        return None


def read_exchanges(path: Path) -> dict[str, Exchange]:
    calls: dict[str, Exchange] = {}
    if not path.exists():
        return calls
    with path.open(errors="replace") as lines:
        for line in lines:
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 7:
                continue
            _, _, epoch, direction, call_id, cseq, first_line = parts[:7]
            try:
                when = float(epoch)
            except ValueError:
                continue
            cseq = cseq.removeprefix("CSeq:").strip()
            exchange = calls.setdefault(call_id, Exchange(started=when))
            if direction == "S":
                exchange.last_sent = cseq
            elif direction == "R" and first_line.startswith("SIP/2.0 "):
                exchange.heard.append((when, cseq, first_line.split(" ")[1]))
    return calls


def office_outcome(run: SippRun, kind: str, flood_window: tuple[float, float]) -> dict[str, Any]:
    """Registrations (``kind`` "register") or calls: planned, succeeded, failed, and what the
    failures last heard; times overall and for those started while the flood ran."""
    planned = run.planned
    ok = run.stat("SuccessfulCall(C)")
    exchanges = read_exchanges(run.workdir / "short.log")
    done_cseq = "2 REGISTER" if kind == "register" else "3 BYE"
    setup_cseq = "2 REGISTER" if kind == "register" else "2 INVITE"
    times: list[float] = []
    times_flood: list[float] = []
    during = {"started": 0, "succeeded": 0}
    failures: Counter[str] = Counter()
    for exchange in exchanges.values():
        inside = flood_window[0] <= exchange.started <= flood_window[1]
        final = exchange.final(setup_cseq)
        completed = exchange.final(done_cseq)
        success = completed is not None and completed[1] == "200"
        if inside:
            during["started"] += 1
            during["succeeded"] += success
        if final is not None and final[1] == "200":
            ms = (final[0] - exchange.started) * 1000
            times.append(ms)
            if inside:
                times_flood.append(ms)
        if not success:
            answer = exchange.final(exchange.last_sent)
            heard = f"answered {answer[1]}" if answer is not None else "no final answer"
            failures[f"CSeq {exchange.last_sent}: {heard}"] += 1
    failed = planned - ok
    key = "register_ms" if kind == "register" else "setup_ms"
    result: dict[str, Any] = {
        "planned": planned,
        "succeeded": ok,
        "failed": failed,
        "success_pct": round(100 * ok / planned, 2) if planned else None,
        "started_during_flood": {
            **during,
            "success_pct": round(100 * during["succeeded"] / during["started"], 2)
            if during["started"]
            else None,
        },
        "retransmissions": run.stat("Retransmissions(C)"),
        key: percentiles(times),
        f"{key}_started_during_flood": percentiles(times_flood),
    }
    causes = {
        k.removesuffix("(C)"): run.stat(k)
        for k in run.stats
        if k.startswith("Failed") and k.endswith("(C)") and k != "FailedCall(C)" and run.stat(k)
    }
    if causes:
        result["sipp_failure_causes"] = causes
    if failures:
        result["failures_last_heard"] = dict(failures.most_common())
        result["sipp_errors_excerpt"] = run.errors_excerpt()
    if run.returncode not in (0, 1):
        result["sipp_exit"] = run.returncode
    return result


# -- one flood ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Plan:
    seconds: float
    flood_rate: float
    flooders: int
    register_rate: float
    call_rate: float
    talk_ms: int
    lead: float
    tail: float
    recv_timeout_ms: int


_LOG_TIME = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+)Z")


def ban_lines(log: str, address: str) -> list[tuple[float | None, str]]:
    """The log's ``ringfence ban ADDRESS reason=...`` lines, with their wall-clock time."""
    found = []
    for line in log.splitlines():
        match = re.search(rf"ringfence ban {re.escape(address)} reason=\w+", line)
        if match is None:
            continue
        stamp = _LOG_TIME.match(line)
        when = None
        if stamp is not None:
            parsed = dt.datetime.fromisoformat(stamp.group(1)).replace(tzinfo=dt.UTC)
            when = parsed.timestamp()
        found.append((when, match.group(0)))
    return found


def delta(before: dict[str, float], after: dict[str, float], prefix: str) -> dict[str, float]:
    """The change of every sample whose name starts with ``prefix``, by its labels."""
    out = {}
    for name, value in after.items():
        if name.startswith(prefix):
            change = value - before.get(name, 0.0)
            if change:
                label = name[len(prefix) :].strip("{}") or "total"
                out[label.replace('"', "")] = int(change) if change == int(change) else change
    return out


class FloodRun:
    """One flood on a fresh service: the desks and the office set up, the office at work while
    the flood runs, and the report."""

    def __init__(
        self, kind: str, *, template: Path, root: Path, phones: list[Ext], desks: list[Ext],
        plan: Plan,
    ) -> None:  # fmt: skip
        self.kind = kind
        self.root = root
        self.phones = phones
        self.desks = desks
        self.plan = plan
        root.mkdir(parents=True)
        shutil.copytree(template, root / "data")
        self.service = Service(root / "data", root / "ringfence-serve.log")
        self.desk_port = free_port(DESK_IP)
        self.reg_port = free_port(OFFICE_IP)
        self.call_port = free_port(OFFICE_IP)
        self.desk_run: SippRun | None = None
        self.sampler: Sampler | None = None

    def _sipp(self, name: str, scenario: str, **kwargs: Any) -> SippRun:
        kwargs.setdefault("remote_port", self.service.port)
        return start_sipp(self.root, name, scenario, **kwargs)

    # before the flood

    def set_up(self) -> None:
        """The service; the desks registered and answering; the office's phones registered."""
        self.service.start()
        desks_csv = write_csv(
            self.root / "desks.csv",
            [(d.number, d.password, DOMAIN, f"{DESK_IP}:{self.desk_port}") for d in self.desks],
        )
        self.phones_csv = write_csv(
            self.root / "phones.csv",
            [(p.number, p.password, DOMAIN, f"{OFFICE_IP}:{self.reg_port}") for p in self.phones],
        )
        self.calls_csv = write_csv(
            self.root / "calls.csv",
            [
                (p.number, p.password, DOMAIN, self.desks[i % len(self.desks)].number)
                for i, p in enumerate(self.phones)
            ],
        )
        # The desks register from the port their UAS then answers on.
        self._boot("desks", DESK_IP, self.desk_port, desks_csv, len(self.desks))
        span = self.plan.lead + self.plan.seconds + self.plan.tail
        self.desk_run = self._sipp("desks-answer", "desk_answer.xml", remote_port=None,
                                   local_ip=DESK_IP, local_port=self.desk_port,
                                   timeout_s=span + 120, recv_timeout_ms=30_000,
                                   shortmsg=True)  # fmt: skip
        # The office's phones boot: each registers once, before anyone floods.
        self._boot("phones", OFFICE_IP, self.reg_port, self.phones_csv, len(self.phones))
        time.sleep(0.5)

    def _boot(self, who: str, ip: str, port: int, users: Path, count: int) -> None:
        run = self._sipp(f"{who}-register", "office_register.xml", local_ip=ip, local_port=port,
                         rate=10, calls=count, inf=users, timeout_s=30,
                         recv_timeout_ms=self.plan.recv_timeout_ms,
                         extra=("-auth_uri", DOMAIN)).finish(40)  # fmt: skip
        if run.stat("SuccessfulCall(C)") != count:
            raise RuntimeError(f"the {who} did not all register: {run.errors_excerpt()}")

    # the flood

    def flood(self) -> dict[str, Any]:
        """The office at work from ``lead`` s before the flood to ``tail`` s after it; the
        measurements."""
        plan, service = self.plan, self.service
        metrics_before = service.metrics()
        rss_before = rss_kb(service.pid)
        receive_buffer = udp_receive_buffer_bytes(SERVICE_HOST, service.port)
        sampler = self.sampler = Sampler(service.pid)
        sampler.sockets.update({
            "service": (SERVICE_HOST, service.port),
            "desks": (DESK_IP, self.desk_port),
            "office_register": (OFFICE_IP, self.reg_port),
            "office_call": (OFFICE_IP, self.call_port),
        })  # fmt: skip
        sampler.start()

        span = plan.lead + plan.seconds + plan.tail
        bound = span + plan.talk_ms / 1000 + plan.recv_timeout_ms / 1000 + 10
        office = {"recv_timeout_ms": plan.recv_timeout_ms, "timeout_s": bound, "shortmsg": True}
        registering = self._sipp("office-register", "office_register.xml", local_ip=OFFICE_IP,
                                 local_port=self.reg_port, rate=plan.register_rate,
                                 calls=round(plan.register_rate * span), inf=self.phones_csv,
                                 extra=("-auth_uri", DOMAIN), **office)  # fmt: skip
        calling = self._sipp("office-call", "office_call.xml", local_ip=OFFICE_IP,
                             local_port=self.call_port, rate=plan.call_rate,
                             calls=round(plan.call_rate * span), inf=self.calls_csv,
                             extra=("-d", str(plan.talk_ms)), **office)  # fmt: skip
        time.sleep(plan.lead)

        say(f"{self.kind} flood: {plan.flood_rate:g}/s from {FLOOD_IP} for {plan.seconds:g}s ...")
        user = self.phones[0].number
        scenario, keys = {
            "register": ("flood_register.xml", {"domain": DOMAIN, "user": user}),
            "invite": ("flood_invite.xml", {"domain": DOMAIN, "user": user, "callee": ABROAD}),
        }[self.kind]
        each = plan.flood_rate / plan.flooders
        drops_before = udp_receive_buffer_errors()
        cpu_before = cpu_seconds(service.pid)
        start_wall, start = time.time(), time.monotonic()
        flooders = []
        for n in range(plan.flooders):
            port = free_port(FLOOD_IP)
            sampler.sockets[f"flooder_{n + 1}"] = (FLOOD_IP, port)
            run = self._sipp(f"flood-{n + 1}", scenario, local_ip=FLOOD_IP, local_port=port,
                             rate=each, calls=round(each * plan.seconds),
                             limit=max(1000, round(each * 3)), keys=keys, recv_timeout_ms=1000,
                             timeout_s=plan.seconds + 15, extra=("-nr",),
                             counts=True)  # fmt: skip
            sampler.watch(run.process.pid)
            flooders.append(run)
        for run in flooders:
            run.finish(plan.seconds + 30)
        end_wall, end = time.time(), time.monotonic()
        cpu_after = cpu_seconds(service.pid)
        drops_after = udp_receive_buffer_errors()
        hwm_at_flood_end = status_kb(service.pid, "VmHWM")
        say(f"{self.kind} flood: over after {end - start:.1f}s; the office goes on ...")

        registering.finish(bound + 15)
        calling.finish(bound + 15)
        options_after = options_rtt_ms(service.port)
        time.sleep(2.5)  # the registrations gauge is refreshed every 2 s
        metrics_after = service.metrics()
        sampler.stop()

        window = (start_wall, end_wall)
        flood = flood_outcome(flooders, end - start, plan.flood_rate)
        flood["flooders_cpu_s"] = round(sum(sampler.watched.values()), 1)
        bans = ban_lines(service.log_text(), FLOOD_IP)
        cpu = None
        if cpu_before is not None and cpu_after is not None:
            used = cpu_after - cpu_before
            cpu = {
                "cpu_s": round(used, 2),
                "cores_busy": round(used / (end - start), 2),
                "us_per_flood_request": round(1e6 * used / flood["requests_sent"], 1)
                if flood["requests_sent"]
                else None,
            }
        peak = sampler.peak_kb(start, end)
        socket_drops = sampler.socket_drops()
        return {
            "office": office_report(
                office_outcome(registering, "register", window),
                office_outcome(calling, "call", window),
            ),
            "flood_detail": flood,
            "ban": ban_report(bans, start_wall, service.log_text()),
            "service": {
                "alive_after": service.alive(),
                "options_rtt_ms_after_flood": options_after,
                "cpu_during_flood": cpu,
                "rss_mb": {
                    "before_flood": _mb(rss_before),
                    "peak_sampled_during_flood": _mb(peak),
                    "growth_during_flood": _mb(peak - rss_before) if peak and rss_before else None,
                    "vm_hwm_at_flood_end": _mb(hwm_at_flood_end),
                    "vm_hwm_at_end": _mb(status_kb(service.pid, "VmHWM")),
                    "at_end": _mb(rss_kb(service.pid)),
                    "samples": len(sampler.rss),
                },
                "udp_receive_buffer_drops": {
                    "service_socket_buffer_bytes": receive_buffer,
                    "machine_wide": drops_after - drops_before
                    if drops_before is not None and drops_after is not None
                    else None,
                    "by_socket": socket_drops,
                    "service_socket_share_of_flood_pct": round(
                        100 * socket_drops.get("service", 0) / flood["requests_sent"], 2
                    )
                    if flood["requests_sent"]
                    else None,
                    "service_socket_by_second_of_flood": sampler.drops_by_second("service", start),
                },
                "metrics": {
                    "ringfence_guard_drops": delta(
                        metrics_before, metrics_after, "ringfence_guard_drops_total"
                    ),
                    "requests_by_method": delta(
                        metrics_before, metrics_after, "ringfence_sip_requests_total"
                    ),
                    "responses_by_code": delta(
                        metrics_before, metrics_after, "ringfence_sip_responses_total"
                    ),
                    "registrations_gauge_after": metrics_after.get("ringfence_registrations"),
                },
            },
        }

    def close(self) -> dict[str, Any]:
        """Everything stopped; the desks' counts, the exit, errors in the service's log."""
        out: dict[str, Any] = {}
        if self.sampler is not None and self.sampler.is_alive():
            self.sampler.stop()
        if self.desk_run is not None:
            self.desk_run.finish(0.1)  # the calls still lingering are cut short
            out["desks"] = {
                "calls_answered": self.desk_run.stat("TotalCallCreated"),
                "completed": self.desk_run.stat("SuccessfulCall(C)"),
                "failed": self.desk_run.stat("FailedCall(C)"),
            }
        alive = self.service.alive()
        code = self.service.stop()
        out["exit"] = {"alive_until_stop": alive, "code_after_sigterm": code}
        log = self.service.log_text()
        errors = [
            line[:300]
            for line in log.splitlines()
            if re.search(r"\[\s*(error|critical)\s*\]|Traceback", line)
        ]
        out["service_log"] = {"error_lines": len(errors), "first_errors": errors[:5]}
        return out


def run_flood(kind: str, **world: Any) -> dict[str, Any]:
    """One flood, start to end (see :class:`FloodRun`); an error is reported in the JSON."""
    started = time.monotonic()
    result: dict[str, Any] = {"flood": kind}
    run = FloodRun(kind, **world)
    try:
        say(f"{kind} flood: starting the service, registering the desks and the office ...")
        run.set_up()
        result.update(run.flood())
        result["pass"] = verdict(result)
    except Exception as error:  # report it in the JSON, with the service's last words
        result["error"] = f"{type(error).__name__}: {error}"
        result["service_log_tail"] = run.service.log_text()[-3000:]
        result["pass"] = False
    finally:
        result.update(run.close())
        result["wall_s"] = round(time.monotonic() - started, 1)
    return result


def flood_outcome(flooders: list[SippRun], seconds: float, rate: float) -> dict[str, Any]:
    """The flood's requests sent, answered (by status) and unanswered, from -trace_counts."""
    sent = answered = unanswered = 0
    by_status: Counter[str] = Counter()
    for run in flooders:
        for key, value in run.counts().items():
            index, _, rest = key.partition("_")  # "0_REGISTER_Sent", "3_401_Recv", ...
            what, _, event = rest.rpartition("_")
            if event == "Sent" and index == "0":
                sent += value
            elif event == "Recv":
                by_status[what] += value
                answered += value if what != "100" else 0
            elif event == "Timeout":
                unanswered += value
    return {
        "source": FLOOD_IP,
        "sipp_processes": len(flooders),
        "rate_asked_per_s": rate,
        "seconds": round(seconds, 1),
        "requests_sent": sent,
        "sent_per_s": round(sent / seconds) if seconds else None,
        "answered_final": answered,
        "answered_pct": round(100 * answered / sent, 3) if sent else None,
        "answers_by_status": {k: v for k, v in by_status.items() if v},
        "unanswered_within_1s": unanswered,
        "credentials": "none: each request the service takes in is challenged",
        "user_agent": "a desk phone's (not on the scanner list)",
    }


def office_report(registrations: dict[str, Any], calls: dict[str, Any]) -> dict[str, Any]:
    planned = registrations["planned"] + calls["planned"]
    succeeded = registrations["succeeded"] + calls["succeeded"]
    return {
        "source": OFFICE_IP,
        "desks_at": DESK_IP,
        "allow_listed": False,
        "registrations": registrations,
        "calls": calls,
        "total": {
            "planned": planned,
            "succeeded": succeeded,
            "success_pct": round(100 * succeeded / planned, 2) if planned else None,
        },
    }


def ban_report(bans: list[tuple[float | None, str]], start_wall: float, log: str) -> dict[str, Any]:
    first = bans[0] if bans else None
    others = {m.group(0) for m in re.finditer(r"ringfence ban \S+ reason=\w+", log)}
    return {
        "logged": first is not None,
        "line": first[1] if first else None,
        "after_flood_start_ms": round((first[0] - start_wall) * 1000)
        if first and first[0] is not None
        else None,
        "ban_lines": len(bans),
        "other_bans": sorted(others - {line for _, line in bans}),
    }


def verdict(result: dict[str, Any]) -> bool:
    office = result["office"]
    target = 100 * SUCCESS_TARGET
    return (
        all((office[k]["success_pct"] or 0) >= target for k in ("registrations", "calls"))
        and bool(result["ban"]["line"])
        and "reason=flood" in result["ban"]["line"]
        and result["service"]["options_rtt_ms_after_flood"] is not None
    )


def _mb(kb: int | None) -> float | None:
    return None if kb is None else round(kb / 1024, 1)


# -- entry point ----------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="length of each flood")
    parser.add_argument("--only", choices=("register", "invite"))
    parser.add_argument("--flood-rate", type=float, default=20_000.0,
                        help="flood requests a second, all flooders together")  # fmt: skip
    parser.add_argument("--flooders", type=int, default=2,
                        help="SIPp processes sharing the flood, all from one address")  # fmt: skip
    parser.add_argument("--phones", type=int, default=20, help="the office's phones")
    parser.add_argument("--desks", type=int, default=5, help="the extensions they call")
    parser.add_argument("--register-rate", type=float, default=5.0,
                        help="the office's registrations a second")  # fmt: skip
    parser.add_argument("--call-rate", type=float, default=3.0,
                        help="the office's calls a second")  # fmt: skip
    parser.add_argument("--talk-ms", type=int, default=3000)
    parser.add_argument("--lead", type=float, default=3.0, help="office alone before the flood")
    parser.add_argument("--tail", type=float, default=3.0, help="office alone after the flood")
    parser.add_argument("--recv-timeout-ms", type=int, default=8000,
                        help="an office request unanswered this long fails")  # fmt: skip
    parser.add_argument("--json-only", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--provision-batch", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.provision_batch:
        return provision_batch(*args.provision_batch)
    set_quiet(args.json_only)
    if shutil.which("sipp") is None:
        parser.error("sipp is not installed (Debian: apt-get install sip-tester)")
    if not RINGFENCE.exists():
        parser.error(f"{RINGFENCE} is missing")
    if not 1 <= args.phones <= 99 or not 1 <= args.desks <= 99:
        parser.error("--phones and --desks: 1..99")
    plan = Plan(
        seconds=args.seconds,
        flood_rate=args.flood_rate,
        flooders=max(1, args.flooders),
        register_rate=args.register_rate,
        call_rate=args.call_rate,
        talk_ms=args.talk_ms,
        lead=args.lead,
        tail=args.tail,
        recv_timeout_ms=args.recv_timeout_ms,
    )
    work = Path(tempfile.mkdtemp(prefix="perimeter-flood-"))
    say(f"work directory: {work}")
    started = time.monotonic()
    load_at_start = [round(x, 2) for x in os.getloadavg()]
    phones, desks = make_extensions(args.phones, args.desks)
    floods: dict[str, Any] = {}
    provision_s = None
    try:
        template = work / "template"
        say("provisioning ...")
        provision_s = provision(template, phones, desks, work)
        for kind in [args.only] if args.only else ["register", "invite"]:
            floods[kind] = result = run_flood(
                kind, template=template, root=work / kind, phones=phones, desks=desks, plan=plan
            )
            say(f"{kind} flood: {_headline(result)}")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    report = {
        "bench": "perimeter_flood",
        "transport": "UDP, loopback",
        "machine": {
            "cpus": os.cpu_count(),
            "loadavg_at_start": load_at_start,
            "loadavg_at_end": [round(x, 2) for x in os.getloadavg()],
            "python": platform.python_version(),
            "sipp": _version(),
        },
        "method": {
            "flood_seconds": plan.seconds,
            "flood": f"{plan.flood_rate:g} requests/s from {FLOOD_IP} ({plan.flooders} SIPp "
            "processes, one port each, -nr: no retransmissions), no credentials",
            "capacity_for_scale": "bench/sip_load.py on the 2-core machine this was written on: "
            "about 600 registrations/s (1,200 REGISTER requests/s) and 180 calls/s, perimeter "
            "out of the way",
            "office": f"{args.phones} phones at {OFFICE_IP}, registered before the flood; from "
            f"{plan.lead:g}s before it to {plan.tail:g}s after it: {plan.register_rate:g} "
            f"registrations/s and {plan.call_rate:g} calls/s ({plan.talk_ms} ms talk) to "
            f"{args.desks} desks answered by one SIPp at {DESK_IP}; nobody allow-listed",
            "success": f"a registration that ends 200, a call that ends with the 200 to its BYE; "
            f"target {SUCCESS_TARGET:.0%}",
            "provisioning_s": provision_s,
            "work_dir": str(work) if args.keep else "removed",
        },
        "floods": floods,
        "pass": bool(floods) and all(f.get("pass") for f in floods.values()),
        "seconds": round(time.monotonic() - started, 1),
    }
    print(json.dumps(report, indent=None if args.json_only else 2))
    return 0


def _headline(result: dict[str, Any]) -> str:
    if "error" in result:
        return str(result["error"])
    office, service = result["office"], result["service"]
    return (
        f"office registrations {office['registrations']['success_pct']} %, calls "
        f"{office['calls']['success_pct']} %; peak RSS {service['rss_mb']['vm_hwm_at_end']} MB"
    )


def _version() -> str:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        done = subprocess.run(  # noqa: S603
            [shutil.which("sipp") or "sipp", "-v"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        for line in (done.stdout + done.stderr).splitlines():
            if line.strip():
                return line.strip()
    return ""


if __name__ == "__main__":
    sys.exit(main())
