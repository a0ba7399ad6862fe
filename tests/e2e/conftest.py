"""End-to-end fixtures: the real ``ringfence serve`` on loopback ports, driven by SIPp.

Every test gets its own data directory and its own service process. The data directory is a copy
of a template provisioned once per session through the command line (tenants, extensions,
numbers and a trunk), so that a test starts from a known world without paying for ten CLI runs.

SIPp runs are bounded (``-m 1``, ``-timeout 20s -timeout_error``) and leave their message trace,
error log, ``<log>`` output and statistics in the test's ``tmp_path``; a failing assertion on a
run quotes them. Scenario files live in ``scenarios/``; ``{{name}}`` placeholders in them are
filled by the test before SIPp reads the file (SIPp cannot take a response code or a regular
expression from ``-key``), everything else is passed with ``-key`` and read as ``[name]``.

The world every test starts from:

=========  ===========  ==========================================================
tenant     domain       extensions, numbers and trunk
=========  ===========  ==========================================================
alpha      a.example    1001 (owns +15551230002), 1002 (owns +15551230001), 1003;
                        trunk ``carrier`` at 127.0.0.2:<gateway port>, the test's
                        transport
beta       b.example    2001
=========  ===========  ==========================================================
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

SCENARIOS = Path(__file__).parent / "scenarios"
RINGFENCE = Path(sys.executable).with_name("ringfence")
LOOPBACK = "127.0.0.1"
#: The trunk gateway's address. On loopback every phone is 127.0.0.1, and the proxy tells a
#: trunk by its source address, so the gateway lives on another loopback address.
GATEWAY_IP = "127.0.0.2"

SIPP_TIMEOUT = 20  # seconds: SIPp's own global timeout, every run
CLI_TIMEOUT = 60
START_TIMEOUT = 20
STOP_TIMEOUT = 10
TALK_MS = 1200  # how long answered calls last before the BYE


@dataclass(frozen=True, slots=True)
class Phone:
    """An extension and the credentials its phone uses."""

    tenant: str
    domain: str
    ext: str
    password: str


@dataclass(frozen=True, slots=True)
class World:
    """What the template data directory holds (see the module docstring)."""

    alice: Phone  # 1001 at alpha: the usual caller
    bob: Phone  # 1002 at alpha: the usual callee
    carol: Phone  # 1003 at alpha: provisioned, never registered
    dave: Phone  # 2001 at beta: the other tenant
    alice_number: str  # owned by 1001: presented on outbound calls
    bob_number: str  # owned by 1002: the DID inbound calls dial
    dialled: str  # a number outside, dialled by 1001
    gateway_port: int
    trunk_name: str = "carrier"


def _world(gateway_port: int) -> World:
    return World(
        alice=Phone("alpha", "a.example", "1001", "Tq8vWz3mKd5xLr7pNb2hYc"),
        bob=Phone("alpha", "a.example", "1002", "Hs4nRf9jXa6wEm3kUv8bPq"),
        carol=Phone("alpha", "a.example", "1003", "Zc7tGy2qLm9dVn4sWx6eJh"),
        dave=Phone("beta", "b.example", "2001", "Pk3wNb8rTf5hQz2mYa7cXs"),
        alice_number="+15551230002",
        bob_number="+15551230001",
        dialled="+12125550123",  # a domestic number of the US tenant alpha
        gateway_port=gateway_port,
    )


# -- ports ---------------------------------------------------------------------------------------

_HANDED_OUT: set[tuple[str, int]] = set()


def free_port(host: str = LOOPBACK) -> int:
    """A port free for both UDP and TCP on ``host``, not handed out before in this session."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind((host, 0))
            port = tcp.getsockname()[1]
            if (host, port) in _HANDED_OUT:
                continue
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind((host, port))
                except OSError:
                    continue
        _HANDED_OUT.add((host, port))
        return port
    raise RuntimeError(f"no free UDP+TCP port on {host}")


# -- the service -----------------------------------------------------------------------------------


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("RINGFENCE_DATA", None)  # every command gets --data-dir explicitly
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run_cli(data_dir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """``ringfence ARGS --data-dir DATA_DIR``; fails the test with its output if it fails."""
    command = [str(RINGFENCE), *args, "--data-dir", str(data_dir)]
    completed = subprocess.run(
        command, capture_output=True, text=True, timeout=CLI_TIMEOUT, env=_env(), check=False
    )
    if check and completed.returncode != 0:
        raise AssertionError(
            f"`ringfence {' '.join(args)}` exited {completed.returncode}\n"
            f"--- stdout\n{completed.stdout}\n--- stderr\n{completed.stderr}"
        )
    return completed


def provision(data_dir: Path, world: World) -> None:
    """Create the world of the module docstring, but the trunk, in ``data_dir`` through the
    command line."""
    run_cli(data_dir, "init")
    run_cli(data_dir, "tenant", "add", "alpha", "--domain", "a.example")
    run_cli(data_dir, "tenant", "add", "beta", "--domain", "b.example")
    for phone in (world.alice, world.bob, world.carol, world.dave):
        run_cli(data_dir, "ext", "add", phone.tenant, phone.ext, "--password", phone.password)
    run_cli(data_dir, "number", "add", "alpha", world.alice_number, "--ext", world.alice.ext)
    run_cli(data_dir, "number", "add", "alpha", world.bob_number, "--ext", world.bob.ext)


def add_trunk(data_dir: Path, world: World, transport: str) -> None:
    """The tenant's trunk: the SIPp gateway on 127.0.0.2, over ``transport``."""
    gateway = f"{GATEWAY_IP}:{world.gateway_port}"
    run_cli(data_dir, "trunk", "add", "alpha", world.trunk_name, "--host", gateway,
            "--transport", transport)  # fmt: skip


class Service:
    """One ``ringfence serve`` process (restartable) on its own data directory and ports."""

    def __init__(self, data_dir: Path, log_dir: Path) -> None:
        self.data_dir = data_dir
        self.log_dir = log_dir
        self.host = LOOPBACK
        self.sip_port = free_port()
        self.sips_port = free_port()
        self.metrics_port = free_port()
        self._process: subprocess.Popen[bytes] | None = None
        self._logs: list[Path] = []
        self.exit_codes: list[int] = []
        self.extra_args: list[str] = []  # more `ringfence serve` options, for one test's needs

    # the process

    @property
    def started(self) -> bool:
        return self._process is not None

    def start(self) -> None:
        assert self._process is None, "already started"
        log_path = self.log_dir / f"ringfence-serve-{len(self._logs) + 1}.log"
        self._logs.append(log_path)
        command = [
            str(RINGFENCE),
            "serve",
            "--data-dir",
            str(self.data_dir),
            "--sip",
            f"{self.host}:{self.sip_port}",
            "--sips",
            f"{self.host}:{self.sips_port}",
            "--metrics",
            f"{self.host}:{self.metrics_port}",
            # The scenarios' phones all speak from 127.0.0.1, failing logins and calling fast
            # on purpose; the perimeter's own tests come from 127.0.3.x and 127.0.4.x.
            "--guard-allow",
            "127.0.0.1,127.0.1.0/24",  # 127.0.1.x: the fraud tests' attacker, who must get in
            *self.extra_args,
        ]
        with log_path.open("wb") as log:
            self._process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=_env()
            )
        self._wait_ready()

    def _wait_ready(self) -> None:
        """Until a UDP OPTIONS to the SIP port is answered 200 (or the process dies)."""
        deadline = time.monotonic() + START_TIMEOUT
        attempt = 0
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind((self.host, 0))
            probe.settimeout(0.25)
            local_port = probe.getsockname()[1]
            while time.monotonic() < deadline:
                assert self._process is not None
                if self._process.poll() is not None:
                    code = self._process.returncode
                    self._process = None
                    self.exit_codes.append(code)
                    raise AssertionError(
                        f"ringfence serve exited {code} before answering\n{self.log_text()}"
                    )
                attempt += 1
                probe.sendto(self._options(local_port, attempt), (self.host, self.sip_port))
                try:
                    while True:
                        data = probe.recv(65535)
                        if data.startswith(b"SIP/2.0 200") and f"-{attempt}\r\n".encode() in data:
                            return
                except TimeoutError:
                    continue
        self._kill()
        raise AssertionError(
            f"ringfence serve did not answer OPTIONS on udp {self.host}:{self.sip_port} "
            f"within {START_TIMEOUT}s\n{self.log_text()}"
        )

    def _kill(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            process.kill()
            self.exit_codes.append(process.wait())

    def _options(self, local_port: int, attempt: int) -> bytes:
        return (
            f"OPTIONS sip:{self.host}:{self.sip_port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {self.host}:{local_port};branch=z9hG4bK-ready-{attempt};rport\r\n"
            "Max-Forwards: 70\r\n"
            f"From: <sip:probe@{self.host}>;tag=ready\r\n"
            f"To: <sip:{self.host}:{self.sip_port}>\r\n"
            f"Call-ID: ready-{os.getpid()}-{self.sip_port}-{attempt}\r\n"
            f"CSeq: {attempt} OPTIONS\r\n"
            "Content-Length: 0\r\n\r\n"
        ).encode()

    def stop(self) -> int:
        """SIGTERM, then the exit code; a process still running after 10 s is killed and the
        test fails."""
        process, self._process = self._process, None
        assert process is not None, "not running"
        if process.poll() is not None:
            self.exit_codes.append(process.returncode)
            raise AssertionError(
                f"ringfence serve had already exited ({process.returncode}) before SIGTERM\n"
                f"{self.log_text()}"
            )
        process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            self.exit_codes.append(-9)
            raise AssertionError(
                f"ringfence serve still running {STOP_TIMEOUT}s after SIGTERM\n{self.log_text()}"
            ) from None
        self.exit_codes.append(code)
        return code

    def stop_cleanly(self) -> None:
        code = self.stop()
        assert code == 0, f"ringfence serve exited {code} on SIGTERM\n{self.log_text()}"

    def restart(self) -> None:
        self.stop_cleanly()
        self.start()

    def log_text(self) -> str:
        parts = []
        for path in self._logs:
            text = path.read_text(errors="replace") if path.exists() else "(no log)"
            parts.append(f"--- {path.name}\n{text}")
        return "\n".join(parts)

    # the command line against this data directory

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run_cli(self.data_dir, *args, check=check)

    def cli_json(self, *args: str) -> Any:
        completed = self.cli(*args, "--json")
        try:
            return json.loads(completed.stdout)
        except json.JSONDecodeError as error:
            raise AssertionError(
                f"`ringfence {' '.join(args)} --json` printed no JSON ({error})\n{completed.stdout}"
            ) from None

    def registrations(self, tenant: str) -> list[dict[str, Any]]:
        return _records(self.cli_json("registrations", tenant))

    def calls(self, tenant: str) -> list[dict[str, Any]]:
        return _records(self.cli_json("calls", tenant))

    def wait_for_call(
        self, tenant: str, call_id: str, timeout: float = 5.0
    ) -> list[dict[str, Any]]:
        """The tenant's call records of ``call_id``, once there is one (records are written
        when a call ends, by a worker thread: one may land just after the last response)."""
        deadline = time.monotonic() + timeout
        while True:
            records = [r for r in self.calls(tenant) if r.get("call_id") == call_id]
            if records or time.monotonic() > deadline:
                return records
            time.sleep(0.2)


def _records(data: Any) -> list[dict[str, Any]]:
    assert isinstance(data, list), f"expected a JSON list, got {data!r}"
    return data


# -- SIPp ----------------------------------------------------------------------------------------


@dataclass
class SippResult:
    """A finished SIPp run and the files it left."""

    name: str
    command: list[str]
    returncode: int
    workdir: Path
    terminated: bool = False  # stopped by the test (SIPp then exits 0 if no call failed yet)

    def _read(self, suffix: str) -> str:
        path = self.workdir / suffix
        return path.read_text(errors="replace") if path.exists() else ""

    @property
    def trace(self) -> str:
        return self._read("messages.log")

    @property
    def errors(self) -> str:
        return self._read("errors.log")

    @property
    def logs(self) -> str:
        return self._read("logs.log")

    def messages(self, direction: str) -> list[str]:
        """The SIP messages SIPp ``sent`` or ``received``, in order."""
        return [text for kind, text in parse_trace(self.trace) if kind == direction]

    def received(self, start: str) -> list[str]:
        """Received messages whose first line starts with ``start`` ("INVITE", "SIP/2.0 200")."""
        return [m for m in self.messages("received") if m.startswith(start)]

    def describe(self) -> str:
        screen = self._read("screen.log")
        return (
            f"SIPp {self.name} exited {self.returncode} ({_SIPP_EXIT.get(self.returncode, '?')})"
            f"{', terminated by the test before its end' if self.terminated else ''}\n"
            f"command: {' '.join(self.command)}\n"
            f"--- errors\n{self.errors[-6000:]}\n"
            f"--- message trace\n{self.trace[-12000:]}\n"
            f"--- scenario log\n{self.logs[-2000:]}\n"
            f"--- screen\n{screen[-3000:]}"
        )

    def assert_ok(self) -> SippResult:
        assert self.returncode == 0, self.describe()
        assert not self.terminated, self.describe()
        return self


_SIPP_EXIT = {
    0: "all calls succeeded",
    1: "at least one call failed",
    97: "exit on internal command",
    99: "no call processed",
    255: "fatal error (or -timeout_error)",
    254: "cannot bind its port",
}

_TRACE_SPLIT = re.compile(r"^-{20,}.*$", re.M)
_TRACE_HEAD = re.compile(r"^\s*(UDP|TCP|TLS|SCTP) message (sent|received)", re.I)


def parse_trace(trace: str) -> list[tuple[str, str]]:
    """SIPp's ``-trace_msg`` file as (``sent``/``received``, message) pairs."""
    out = []
    for chunk in _TRACE_SPLIT.split(trace):
        head, _, rest = chunk.lstrip("\n").partition("\n")
        match = _TRACE_HEAD.match(head)
        if match:
            out.append((match.group(2).lower(), rest.strip("\r\n") + "\n"))
    return out


class SippProcess:
    """A SIPp run in progress."""

    def __init__(self, name: str, command: list[str], workdir: Path) -> None:
        self.name = name
        self.command = command
        self.workdir = workdir
        with (workdir / "stdout.log").open("wb") as out:
            self.popen = subprocess.Popen(
                command, cwd=workdir, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
            )
        self.result: SippResult | None = None
        self.terminated = False

    def _result(self) -> SippResult:
        assert self.popen.returncode is not None
        self.result = SippResult(
            self.name, self.command, self.popen.returncode, self.workdir, self.terminated
        )
        return self.result

    def wait(self, timeout: float = SIPP_TIMEOUT + 10) -> SippResult:
        """Its result. SIPp bounds itself; a run that outlives that is killed and fails."""
        try:
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.terminate()
            raise AssertionError(
                f"SIPp {self.name} still running after {timeout}s\n{self._result().describe()}"
            ) from None
        return self._result()

    def wait_for_log(self, text: str, timeout: float = 10.0) -> None:
        """Until the scenario's ``<log>`` output holds ``text`` (e.g. "registered 1002")."""
        path = self.workdir / "logs.log"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if path.exists() and text in path.read_text(errors="replace"):
                return
            if self.popen.poll() is not None:
                raise AssertionError(
                    f"SIPp {self.name} ended before logging {text!r}\n{self._result().describe()}"
                )
            time.sleep(0.05)
        raise AssertionError(
            f"SIPp {self.name} did not log {text!r} within {timeout}s\n"
            f"{SippResult(self.name, self.command, -1, self.workdir).describe()}"
        )

    def terminate(self) -> None:
        if self.popen.poll() is None:
            self.terminated = True
            self.popen.terminate()
            try:
                self.popen.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self._result()


class Sipp:
    """Starts SIPp runs for one test, each in its own directory under the test's tmp_path."""

    def __init__(self, binary: str, root: Path) -> None:
        self.binary = binary
        self.root = root
        self.processes: list[SippProcess] = []

    def start(
        self,
        scenario: str,
        *,
        transport: str,
        remote: tuple[str, int] | None = None,
        local_ip: str = LOOPBACK,
        local_port: int | None = None,
        keys: dict[str, str] | None = None,
        fill: dict[str, str] | None = None,
        auth: tuple[str, str, str] | None = None,
        call_id: str | None = None,
        options: tuple[str, ...] = (),
    ) -> SippProcess:
        """Start ``scenario`` (a file in ``scenarios/``).

        ``transport`` is ``udp`` or ``tcp`` (one socket: ``-t u1``/``-t t1``); ``remote`` the
        peer for client scenarios; ``keys`` are read in the scenario as ``[name]``; ``fill``
        replaces ``{{name}}`` in the file; ``auth`` is (username, password, digest-uri without
        ``sip:``) for ``[authentication]``; ``call_id`` fixes the Call-ID (``-cid_str``);
        ``options`` are more SIPp options.
        """
        index = len(self.processes) + 1
        name = f"{index:02d}-{scenario.removesuffix('.xml')}"
        workdir = self.root / name
        workdir.mkdir(parents=True)
        text = (SCENARIOS / scenario).read_text()
        for key, value in (fill or {}).items():
            text = text.replace("{{" + key + "}}", value)
        leftover = re.findall(r"\{\{(\w+)\}\}", text)
        assert not leftover, f"{scenario}: no value for {sorted(set(leftover))}"
        (workdir / scenario).write_text(text)
        command = [self.binary]
        if remote is not None:
            command.append(f"{remote[0]}:{remote[1]}")
        command += [
            "-sf", scenario,
            "-t", {"udp": "u1", "tcp": "t1"}[transport],
            "-i", local_ip,
            "-bind_local",
            "-p", str(local_port if local_port is not None else free_port(local_ip)),
            "-m", "1",
            "-timeout", f"{SIPP_TIMEOUT}s",
            "-timeout_error",
            "-nostdin",
            # On an unexpected message, fail the call without sending a BYE of SIPp's own.
            "-default_behaviors", "all,-bye",
            "-trace_msg", "-message_file", "messages.log",
            "-trace_err", "-error_file", "errors.log",
            "-trace_logs", "-log_file", "logs.log",
            "-trace_screen", "-screen_file", "screen.log",
        ]  # fmt: skip
        for key, value in (keys or {}).items():
            command += ["-key", key, value]
        if auth is not None:
            user, password, uri = auth
            command += ["-au", user, "-ap", password, "-auth_uri", uri]
        if call_id is not None:
            command += ["-cid_str", call_id]
        command += options
        process = SippProcess(name, command, workdir)
        self.processes.append(process)
        return process

    def run(self, scenario: str, **kwargs: Any) -> SippResult:
        """Run ``scenario`` to its end (see :meth:`start`)."""
        return self.start(scenario, **kwargs).wait()

    def close(self) -> None:
        for process in self.processes:
            with contextlib.suppress(Exception):
                process.terminate()


# -- fixtures ------------------------------------------------------------------------------------

_CALL_FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call" and report.failed:
        item.stash[_CALL_FAILED] = True
    return report


@pytest.fixture(scope="session")
def sipp_binary() -> str:
    binary = shutil.which("sipp")
    if binary is None:
        pytest.fail(
            "SIPp is not installed: the end-to-end tests need `sipp` on PATH "
            "(Debian: apt-get install sip-tester)",
            pytrace=False,
        )
    return binary


@pytest.fixture(scope="session")
def ringfence_binary() -> Path:
    if not RINGFENCE.exists():
        pytest.fail(f"{RINGFENCE} is missing: install ringfence into the venv", pytrace=False)
    return RINGFENCE


@pytest.fixture(scope="session")
def world() -> World:
    try:
        port = free_port(GATEWAY_IP)
    except OSError as error:
        pytest.fail(f"cannot bind {GATEWAY_IP} for the trunk gateway: {error}", pytrace=False)
    return _world(port)


@pytest.fixture(scope="session")
def template(
    tmp_path_factory: pytest.TempPathFactory, world: World, ringfence_binary: Path
) -> Callable[[str], Path]:
    """The provisioned data directory whose trunk uses a transport, made once per session."""
    made: dict[str, Path] = {}

    def get(trunk_transport: str) -> Path:
        if "base" not in made:
            made["base"] = tmp_path_factory.mktemp("template-base") / "data"
            provision(made["base"], world)
        if trunk_transport not in made:
            data_dir = tmp_path_factory.mktemp(f"template-{trunk_transport}") / "data"
            shutil.copytree(made["base"], data_dir)
            add_trunk(data_dir, world, trunk_transport)
            made[trunk_transport] = data_dir
        return made[trunk_transport]

    return get


@pytest.fixture(params=["udp", "tcp"])
def transport(request: pytest.FixtureRequest) -> str:
    """The transport of the phones, the gateway and the trunk: every test runs over both."""
    return str(request.param)


@pytest.fixture
def service(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    transport: str,
    template: Callable[[str], Path],
    sipp_binary: str,
) -> Iterator[Service]:
    """A started service on a fresh copy of the template; stopped by SIGTERM at the end, which
    must exit 0 within 10 s."""
    data_dir = tmp_path / "data"
    shutil.copytree(template(transport), data_dir)
    running = Service(data_dir, tmp_path)
    running.start()
    yield running
    failed = request.node.stash.get(_CALL_FAILED, False)
    try:
        if running.started:
            running.stop_cleanly()  # also fails when it had died on its own: not 0, or no log
    finally:
        if failed:
            print(f"=== ringfence serve log ({tmp_path})\n{running.log_text()}")


@pytest.fixture
def sipp(sipp_binary: str, tmp_path: Path) -> Iterator[Sipp]:
    runner = Sipp(sipp_binary, tmp_path / "sipp")
    yield runner
    runner.close()


def _bound(host: str, port: int, transport: str) -> bool:
    """Whether a socket listens (TCP) or is bound (UDP) on ``host:port``, from /proc/net: a
    bind attempt of our own would also fail on a TIME_WAIT left by an earlier run."""
    table = Path("/proc/net/tcp" if transport == "tcp" else "/proc/net/udp")
    wanted = {
        f"{socket.inet_aton(address)[::-1].hex().upper()}:{port:04X}"
        for address in (host, "0.0.0.0")  # noqa: S104 - a wildcard bind also serves host
    }
    for line in table.read_text().splitlines()[1:]:
        fields = line.split()
        local, state = fields[1], fields[3]
        if local in wanted and (transport != "tcp" or state == "0A"):  # 0A: LISTEN
            return True
    return False


def wait_bound(host: str, port: int, transport: str, timeout: float = 5.0) -> None:
    """Until something (a SIPp server) listens on ``host:port`` for ``transport``. Nothing is
    sent to it."""
    deadline = time.monotonic() + timeout
    while not _bound(host, port, transport):
        if time.monotonic() > deadline:
            raise AssertionError(f"nothing bound {transport} {host}:{port} within {timeout}s")
        time.sleep(0.02)


@dataclass
class Phones:
    """The usual SIPp roles, run against the test's service over the test's transport."""

    service: Service
    sipp: Sipp
    transport: str
    world: World
    talk_ms: int = TALK_MS

    @property
    def proxy(self) -> tuple[str, int]:
        return (self.service.host, self.service.sip_port)

    def registered(
        self,
        phone: Phone,
        call_id: str,
        scenario: str = "uas_registered.xml",
        options: tuple[str, ...] = (),
    ) -> SippProcess:
        """A SIPp phone that registers as ``phone`` and then waits for the call ``call_id``
        (its REGISTER uses that Call-ID, see uas_registered.xml); returns once the registrar
        has answered 200."""
        process = self.sipp.start(
            scenario,
            transport=self.transport,
            remote=self.proxy,
            keys={"domain": phone.domain, "user": phone.ext},
            auth=(phone.ext, phone.password, phone.domain),
            call_id=call_id,
            options=options,
        )
        process.wait_for_log(f"registered {phone.ext}")
        return process

    def call(
        self,
        caller: Phone,
        callee: str,
        call_id: str,
        scenario: str = "uac_call.xml",
        *,
        callee_domain: str | None = None,
        fill: dict[str, str] | None = None,
        local_ip: str = LOOPBACK,
    ) -> SippResult:
        """``caller`` dials ``callee`` (an extension or a number) at ``callee_domain`` (its own
        domain by default), authenticating with its own credentials, from ``local_ip``."""
        domain = callee_domain or caller.domain
        return self.sipp.run(
            scenario,
            transport=self.transport,
            remote=self.proxy,
            local_ip=local_ip,
            keys={
                "domain": caller.domain,
                "user": caller.ext,
                "callee": callee,
                "callee_domain": domain,
            },
            fill={"talk_ms": str(self.talk_ms), **(fill or {})},
            auth=(caller.ext, caller.password, f"{callee}@{domain}"),
            call_id=call_id,
        )

    def answering(self, phone: Phone, port: int) -> SippProcess:
        """A SIPp phone of ``phone`` in server mode on ``port``: it answers one call."""
        process = self.sipp.start(
            "uas_answer.xml",
            transport=self.transport,
            local_port=port,
            keys={"user": phone.ext},
        )
        wait_bound(LOOPBACK, port, self.transport)
        return process

    @staticmethod
    def new_call_id() -> str:
        return f"e2e-{uuid.uuid4().hex}"

    def gateway_answering(self, presented: str, dialled: str) -> SippProcess:
        """The trunk's gateway, waiting on 127.0.0.2 for an outbound call to ``dialled`` whose
        From and P-Asserted-Identity carry ``presented``."""
        process = self.sipp.start(
            "gateway_uas.xml",
            transport=self.transport,
            local_ip=GATEWAY_IP,
            local_port=self.world.gateway_port,
            fill={"presented": re.escape(presented), "dialled": re.escape(dialled)},
        )
        wait_bound(GATEWAY_IP, self.world.gateway_port, self.transport)
        return process

    def gateway_call(self, number: str, caller_number: str, call_id: str) -> SippResult:
        """The trunk's gateway, from 127.0.0.2, delivers a call to the tenant's ``number``."""
        return self.sipp.run(
            "gateway_uac.xml",
            transport=self.transport,
            remote=self.proxy,
            local_ip=GATEWAY_IP,
            keys={"number": number, "caller": caller_number},
            fill={"talk_ms": str(self.talk_ms)},
            call_id=call_id,
        )

    def conclude(self, first: SippResult, *others: SippProcess) -> list[SippResult]:
        """Wait for ``others`` and check that every run succeeded; on failure, quote them all.
        When ``first`` (the side that drives the call) failed, the others are not waited for."""
        if first.returncode != 0:
            for process in others:
                process.terminate()
        results = [first, *(p.result or p.wait() for p in others)]
        failed = [r for r in results if r.returncode != 0 or r.terminated]
        assert not failed, "\n\n".join(r.describe() for r in results)
        return results


@pytest.fixture
def phones(service: Service, sipp: Sipp, transport: str, world: World) -> Phones:
    return Phones(service=service, sipp=sipp, transport=transport, world=world)


@pytest.fixture
def call_id() -> str:
    """A fresh Call-ID, shared by the callee's REGISTER and the call (uas_registered.xml)."""
    return Phones.new_call_id()


@pytest.fixture(name="free_port")
def free_port_fixture() -> Callable[..., int]:
    """:func:`free_port`: a port free for UDP and TCP on a loopback address."""
    return free_port


@dataclass(frozen=True, slots=True)
class Toolkit:
    """The helpers of this module, for test modules that provision a service of their own."""

    service: type[Service]
    run_cli: Callable[..., subprocess.CompletedProcess[str]]
    wait_bound: Callable[..., None]


@pytest.fixture(scope="session")
def toolkit() -> Toolkit:
    return Toolkit(service=Service, run_cli=run_cli, wait_bound=wait_bound)


@pytest.fixture
def tls_service(
    request: pytest.FixtureRequest, tmp_path: Path, template: Callable[[str], Path]
) -> Iterator[Service]:
    """Like ``service``, but not run once per transport: for phones that use TLS (its sips
    port), such as baresip (test_e2e_baresip.py). The trunk of the copied template is UDP and
    unused. Stopped by SIGTERM at the end, which must exit 0 within 10 s."""
    data_dir = tmp_path / "data"
    shutil.copytree(template("udp"), data_dir)
    running = Service(data_dir, tmp_path)
    running.start()
    try:
        wait_bound(running.host, running.sips_port, "tcp")
    except AssertionError:
        running.stop()
        raise
    yield running
    failed = request.node.stash.get(_CALL_FAILED, False)
    try:
        if running.started:
            running.stop_cleanly()
    finally:
        if failed:
            print(f"=== ringfence serve log ({tmp_path})\n{running.log_text()}")
