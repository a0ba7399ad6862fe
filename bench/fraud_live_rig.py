"""The rig of ``fraud_live.py``: child processes, the running service, its command line, SIPp
runs and their message traces. Nothing here knows about fraud; ``fraud_live.py`` plays the
scenarios with it.

Every process is started through :class:`Processes`, which ends whatever is still running when
the bench stops, on an error or Ctrl-C too. Ports are asked of the kernel (bind to port 0) on
the address that will use them, as ``tests/e2e/conftest.py`` does, so a test suite running at
the same time does not clash with the bench.

Run as a script only by ``fraud_live.py`` itself: ``fraud_live_rig.py --cli-batch FILE`` runs a
list of ``ringfence`` command lines through the CLI's own entry point in one process.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from common import LOOPBACK, child_env, free_port, stop_process

HERE = Path(__file__).resolve().parent
ASSETS = HERE / "fraud_live"
RINGFENCE = Path(sys.executable).parent / "ringfence"
START_TIMEOUT = 30.0
CLI_TIMEOUT = 120.0


# -- ports ----------------------------------------------------------------------------------------


def udp_bound(host: str, port: int) -> bool:
    """Whether a UDP socket is bound on ``host:port`` (from /proc/net/udp; nothing is sent)."""
    wanted = f"{socket.inet_aton(host)[::-1].hex().upper()}:{port:04X}"
    lines = Path("/proc/net/udp").read_text().splitlines()[1:]
    return any(line.split()[1] == wanted for line in lines)


def wait_udp_bound(host: str, port: int, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not udp_bound(host, port):
        if time.monotonic() > deadline:
            raise RuntimeError(f"nothing bound udp {host}:{port} within {timeout}s")
        time.sleep(0.02)


# -- processes ------------------------------------------------------------------------------------


class Processes:
    """Every child process of the run, so that each one is ended whatever happens."""

    def __init__(self) -> None:
        self._running: list[subprocess.Popen[bytes]] = []

    def start(self, command: Sequence[str], *, cwd: Path, log: Path) -> subprocess.Popen[bytes]:
        with log.open("wb") as out:
            process = subprocess.Popen(  # noqa: S603
                list(command),
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=child_env(),
            )
        self._running.append(process)
        return process

    @staticmethod
    def stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> int:
        """Signal one of our children, wait, kill it if it outlives its time to stop."""
        return stop_process(process, sig)

    def stop_all(self) -> None:
        for process in self._running:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=5)
        self._running.clear()


# -- the command line -----------------------------------------------------------------------------


def run_cli(data_dir: Path, *args: str) -> str:
    """``ringfence ARGS --data-dir DATA_DIR``: its stdout; an error if it fails."""
    command = [str(RINGFENCE), *args, "--data-dir", str(data_dir)]
    done = subprocess.run(  # noqa: S603
        command, capture_output=True, text=True, timeout=CLI_TIMEOUT, check=False, env=child_env()
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"`ringfence {' '.join(args)}` exited {done.returncode}: "
            f"{(done.stderr or done.stdout).strip()[-800:]}"
        )
    return done.stdout


def cli_json(data_dir: Path, *args: str) -> Any:
    return json.loads(run_cli(data_dir, *args, "--json"))


def run_cli_batch(data_dir: Path, commands: list[list[str]], work: Path) -> None:
    """Every command line in one child process, through the CLI's own entry point: the same
    arguments and code as ``ringfence ...``, without ~0.6 s of interpreter start for each."""
    batch = work / "provision.json"
    batch.write_text(json.dumps({"data_dir": str(data_dir), "commands": commands}))
    batch.chmod(0o600)
    try:
        done = subprocess.run(  # noqa: S603
            [sys.executable, str(Path(__file__).resolve()), "--cli-batch", str(batch)],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
            env=child_env(),
        )
    finally:
        batch.unlink()  # it holds the extensions' passwords
    if done.returncode != 0:
        raise RuntimeError(f"provisioning failed: {done.stderr.strip()[-1500:]}")


def _cli_batch_main(path: str) -> int:
    """Child process: each command of the batch file, in order; stops at the first failure."""
    from ringfence.cli import app  # noqa: PLC0415 (only this child needs ringfence itself)

    batch = json.loads(Path(path).read_text())
    with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
        for args in batch["commands"]:
            shown = " ".join(a for a in args if not a.startswith("--password="))
            try:
                app([*args, "--data-dir", batch["data_dir"]], standalone_mode=False)
            except SystemExit as done:
                if done.code:
                    print(f"`ringfence {shown}`: exit {done.code}", file=sys.stderr)
                    return 1
            except Exception as error:
                print(f"`ringfence {shown}`: {type(error).__name__}: {error}", file=sys.stderr)
                return 1
    return 0


# -- the service ----------------------------------------------------------------------------------


class Service:
    """One ``ringfence serve`` on loopback ports, its log as JSON lines."""

    def __init__(self, data_dir: Path, work: Path, processes: Processes) -> None:
        self.data_dir = data_dir
        self.log_path = work / "ringfence-serve.log"
        self.processes = processes
        self.port = free_port()
        self.sips_port = free_port()
        self.metrics_port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [
            str(RINGFENCE), "serve",
            "--data-dir", str(self.data_dir),
            "--sip", f"{LOOPBACK}:{self.port}",
            "--sips", f"{LOOPBACK}:{self.sips_port}",
            "--metrics", f"{LOOPBACK}:{self.metrics_port}",
            "--log-format", "json",
            "--guard-allow", LOOPBACK,  # the attacks' failed logins are the detector's to see
        ]  # fmt: skip
        self.process = self.processes.start(command, cwd=self.data_dir.parent, log=self.log_path)
        self._wait_ready()

    def _wait_ready(self) -> None:
        """Until a UDP OPTIONS to the SIP port is answered 200 (or the process dies)."""
        assert self.process is not None
        deadline = time.monotonic() + START_TIMEOUT
        attempt = 0
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind((LOOPBACK, 0))
            probe.settimeout(0.25)
            local = probe.getsockname()[1]
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(
                        f"ringfence serve exited {self.process.returncode} before answering:\n"
                        f"{self.log_tail()}"
                    )
                attempt += 1
                probe.sendto(self._options(local, attempt), (LOOPBACK, self.port))
                with contextlib.suppress(TimeoutError):
                    while True:
                        data = probe.recv(65535)
                        if data.startswith(b"SIP/2.0 200") and f"-{attempt}\r\n".encode() in data:
                            return
        raise RuntimeError(f"ringfence serve did not answer OPTIONS within {START_TIMEOUT}s")

    def _options(self, local_port: int, attempt: int) -> bytes:
        return (
            f"OPTIONS sip:{LOOPBACK}:{self.port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {LOOPBACK}:{local_port};branch=z9hG4bK-ready-{attempt};rport\r\n"
            "Max-Forwards: 70\r\n"
            f"From: <sip:probe@{LOOPBACK}>;tag=ready\r\n"
            f"To: <sip:{LOOPBACK}:{self.port}>\r\n"
            f"Call-ID: ready-{os.getpid()}-{self.port}-{attempt}\r\n"
            f"CSeq: {attempt} OPTIONS\r\n"
            "Content-Length: 0\r\n\r\n"
        ).encode()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> int | None:
        """SIGTERM and the exit code (killed after STOP_TIMEOUT: -9)."""
        if self.process is None:
            return None
        process, self.process = self.process, None
        return Processes.stop(process)

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        """The service's log lines (JSON) so far, those of one event if ``name`` is given."""
        out: list[dict[str, Any]] = []
        if not self.log_path.exists():
            return out
        for line in self.log_path.read_text(errors="replace").splitlines():
            if not line.startswith("{"):
                continue
            with contextlib.suppress(ValueError):
                event = json.loads(line)
                if name is None or event.get("event") == name:
                    out.append(event)
        return out

    def log_tail(self, lines: int = 30) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def event_time(event: dict[str, Any]) -> float | None:
    """The epoch time of a log event (structlog's ISO timestamp, UTC)."""
    stamp = event.get("timestamp")
    if not isinstance(stamp, str):
        return None
    with contextlib.suppress(ValueError):
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    return None


# -- SIPp -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Traced:
    """One message of a SIPp message trace."""

    at: float  # epoch seconds
    direction: str  # "sent" or "received"
    first_line: str
    text: str

    def header(self, name: str) -> str | None:
        found = re.search(rf"^{name}\s*:\s*(.*?)\r?$", self.text, re.M | re.I)
        return found.group(1) if found else None

    @property
    def call_id(self) -> str:
        return self.header("Call-ID") or self.header("i") or ""

    @property
    def status(self) -> int | None:
        match = re.match(r"SIP/2\.0 (\d{3})", self.first_line)
        return int(match.group(1)) if match else None

    @property
    def cseq_method(self) -> str:
        return (self.header("CSeq") or "").split(" ")[-1].strip()


_TRACE_SPLIT = re.compile(r"^-{20,} (\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:\.\d+)?)\s*$", re.M)
_TRACE_HEAD = re.compile(r"^\s*(?:UDP|TCP|TLS|SCTP) message (sent|received)", re.I)


def parse_trace(text: str) -> list[Traced]:
    """SIPp's ``-trace_msg`` file: each message with its time (SIPp writes local time)."""
    out = []
    parts = _TRACE_SPLIT.split(text)
    # parts: [before, stamp1, chunk1, stamp2, chunk2, ...]
    for stamp, chunk in zip(parts[1::2], parts[2::2], strict=False):
        head, _, rest = chunk.lstrip("\n").partition("\n")
        match = _TRACE_HEAD.match(head)
        if not match:
            continue
        body = rest.strip("\r\n")
        first = body.splitlines()[0].strip() if body else ""
        at = datetime.fromisoformat(stamp.replace("T", " ")).timestamp()
        out.append(Traced(at=at, direction=match.group(1).lower(), first_line=first, text=body))
    return out


@dataclass
class SippRun:
    """A SIPp process of the run and the directory of its files."""

    name: str
    workdir: Path
    command: list[str]
    process: subprocess.Popen[bytes]
    started_at: float = field(default_factory=time.time)

    def wait(self, timeout: float) -> int:
        """Its exit code; a run that outlives ``timeout`` is stopped (SIGUSR1, then SIGTERM)."""
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return self.stop()

    def stop(self) -> int:
        """SIPp's soft exit (a first SIGUSR1 lets calls finish, a second aborts them)."""
        for grace in (2.0, 3.0):
            if self.process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    self.process.send_signal(signal.SIGUSR1)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.process.wait(timeout=grace)
        return Processes.stop(self.process)

    @property
    def done(self) -> bool:
        return self.process.poll() is not None

    def messages(self) -> list[Traced]:
        path = self.workdir / "messages.log"
        return parse_trace(path.read_text(errors="replace")) if path.exists() else []

    def errors(self, limit: int = 1500) -> str:
        path = self.workdir / "errors.log"
        return path.read_text(errors="replace")[-limit:] if path.exists() else ""


class Sipp:
    """Starts SIPp runs, each in its own directory, with its scenario's placeholders filled."""

    def __init__(self, binary: str, root: Path, processes: Processes, proxy_port: int) -> None:
        self.binary = binary
        self.root = root
        self.processes = processes
        self.proxy_port = proxy_port
        self.count = 0

    def start(
        self,
        name: str,
        scenario: str,
        *,
        local_ip: str,
        local_port: int | None = None,
        to_proxy: bool = True,
        keys: dict[str, str] | None = None,
        fill: dict[str, str] | None = None,
        auth: tuple[str, str, str] | None = None,
        call_id: str | None = None,
        calls: int | None = 1,
        rate: float | None = None,
        inf: list[str] | None = None,
        timeout_s: float = 60.0,
        extra: Sequence[str] = (),
    ) -> SippRun:
        """Start ``scenario`` (a file of ``fraud_live/``) over UDP from ``local_ip``.

        ``keys`` are read in the scenario as ``[name]``; ``fill`` replaces ``{{name}}`` in the
        file; ``auth`` is (username, password, digest URI without ``sip:``); ``call_id`` fixes
        the Call-ID; ``calls`` is ``-m`` (None: until stopped); ``inf`` the lines of an
        injection file; ``extra`` more SIPp options. SIPp bounds itself with ``-timeout``.
        """
        self.count += 1
        workdir = self.root / f"{self.count:03d}-{name}"
        workdir.mkdir(parents=True)
        text = (ASSETS / scenario).read_text()
        for key, value in (fill or {}).items():
            text = text.replace("{{" + key + "}}", value)
        leftover = re.findall(r"\{\{(\w+)\}\}", text)
        if leftover:
            raise RuntimeError(f"{scenario}: no value for {sorted(set(leftover))}")
        (workdir / scenario).write_text(text)
        command = [self.binary]
        if to_proxy:
            command.append(f"{LOOPBACK}:{self.proxy_port}")
        port = local_port if local_port is not None else free_port(local_ip)
        command += [
            "-sf", scenario,
            "-t", "u1",
            "-i", local_ip,
            "-bind_local",
            "-p", str(port),
            "-timeout", f"{int(timeout_s)}s",
            "-nostdin",
            # On an unexpected message, fail the call without sending a BYE of SIPp's own.
            "-default_behaviors", "all,-bye",
            "-trace_msg", "-message_file", "messages.log",
            "-trace_err", "-error_file", "errors.log",
        ]  # fmt: skip
        if calls is not None:
            command += ["-m", str(calls)]
        if rate is not None:
            command += ["-r", f"{rate:g}"]
        if inf is not None:
            path = workdir / "users.csv"
            path.write_text("SEQUENTIAL\n" + "".join(line + "\n" for line in inf))
            path.chmod(0o600)
            command += ["-inf", str(path)]
        for key, value in (keys or {}).items():
            command += ["-key", key, value]
        if auth is not None:
            user, password, uri = auth
            command += ["-au", user, "-ap", password, "-auth_uri", uri]
        if call_id is not None:
            command += ["-cid_str", call_id]
        command += extra
        process = self.processes.start(command, cwd=workdir, log=workdir / "stdout.log")
        return SippRun(name=name, workdir=workdir, command=command, process=process)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--cli-batch":
        sys.exit(_cli_batch_main(sys.argv[2]))
    sys.exit(f"usage: {sys.argv[0]} --cli-batch FILE (run by fraud_live.py)")
