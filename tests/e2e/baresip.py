"""baresip user agents for the end-to-end tests, driven through its ``ctrl_tcp`` module.

Each agent gets its own configuration directory (``baresip -f DIR``) under the test's
``tmp_path``, with a ``config`` that
  - listens for SIP on loopback only (``sip_listen 127.0.0.1:0``, ``net_interface 127.0.0.1``,
    so RTP and the SDP address are loopback too) and trusts the service's self-signed
    certificate (``sip_cafile``);
  - loads no sound card and no video: the microphone is ``ausine`` (a 440 Hz tone) and no player
    module is loaded, so received audio is decoded and dropped;
  - loads ``srtp`` (SDES-SRTP, RFC 4568 crypto lines) and ``ctrl_tcp`` on a free loopback port;
  - sets ``rtp_stats yes``, so baresip logs its RTP packet counts when a call's audio ends.
Its ``accounts`` file is empty: the account is added over ``ctrl_tcp`` with ``uanew`` once the
test is connected, so that no registration event is missed. It registers over TLS through the
service (``outbound="sip:HOST:SIPS_PORT;transport=tls"``) with ``mediaenc=srtp-mand``.

``ctrl_tcp`` speaks netstring-framed JSON: commands ``{"command": "dial", "params": "sip:...",
"token": "..."}`` answered by ``{"response": true, "ok": true, "data": "...", "token": "..."}``,
and unsolicited events ``{"event": true, "type": "CALL_ESTABLISHED", ...}`` (REGISTER_OK,
REGISTER_FAIL, CALL_MENC, CALL_ESTABLISHED, CALL_CLOSED...), which a reader thread collects.
baresip's own log (``-v``, with the SIP trace of ``-s``) goes, line-buffered, to ``baresip.log``
in the agent's directory; :meth:`Agent.trace` parses the SIP messages out of it, and a failing
assertion quotes its tail.

Written against the Debian package, baresip 1.0.0 (libre 1.1.0). Its account syntax is
``<sip:USER@DOMAIN;transport=tls>;auth_pass=...;outbound="sip:...";mediaenc=srtp-mand;...``;
it has no ``sip_verify_server`` (libre of that age does not check the server's certificate;
``sip_cafile`` points at the service's certificate all the same); ``net_interface`` takes an
address, not ``lo``; with ``sip_listen`` on port 0 the kernel picks the UDP, TCP and TLS ports.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LOOPBACK = "127.0.0.1"
MODULE_DIRS = (Path("/usr/lib/baresip/modules"), Path("/usr/lib/x86_64-linux-gnu/baresip/modules"))
#: The modules every agent loads; all must be present in the module directory.
MODULES = ("g711", "ausine", "srtp", "account", "contact", "menu", "ctrl_tcp", "debug_cmd")

START_TIMEOUT = 10.0  # seconds until ctrl_tcp accepts a connection
COMMAND_TIMEOUT = 5.0
STOP_TIMEOUT = 5.0
#: baresip's own bound (``-t``): an agent left behind by a killed test run quits by itself.
MAX_LIFETIME = 180


class BaresipError(AssertionError):
    """A baresip agent did not do what the test expected; the message quotes its log."""


def find_binary() -> str | None:
    return shutil.which("baresip")


def module_dir() -> Path | None:
    """The directory holding baresip's modules, or None."""
    for directory in MODULE_DIRS:
        if (directory / "account.so").exists():
            return directory
    return None


def version(binary: str) -> str:
    """``baresip v1.0.0 ...``: the first line of ``baresip -h``."""
    completed = subprocess.run(
        [binary, "-h"], capture_output=True, text=True, timeout=10, check=False
    )
    lines = (completed.stdout + completed.stderr).strip().splitlines()
    return lines[0] if lines else "(unknown)"


def missing_modules(directory: Path) -> list[str]:
    return [m for m in MODULES if not (directory / f"{m}.so").exists()]


@dataclass(frozen=True, slots=True)
class Account:
    """One SIP account of an agent: ``user@domain`` registered over TLS through ``proxy``."""

    user: str
    domain: str
    password: str
    proxy: tuple[str, int]  # the service's TLS (sips) address
    answermode: str = "manual"  # "auto": answer incoming calls at once
    mediaenc: str = "srtp-mand"
    regint: int = 300

    @property
    def aor(self) -> str:
        return f"sip:{self.user}@{self.domain}"

    def line(self) -> str:
        host, port = self.proxy
        return (
            f"<sip:{self.user}@{self.domain};transport=tls>"
            f";auth_user={self.user}"
            f";auth_pass={self.password}"
            f';outbound="sip:{host}:{port};transport=tls"'
            f";mediaenc={self.mediaenc}"
            f";regint={self.regint}"
            f";answermode={self.answermode}"
            ";audio_codecs=PCMU/8000/1,PCMA/8000/1"
        )


def _config(*, ctrl_port: int, ca_file: Path, modules: Path) -> str:
    lines = [
        "poll_method\t\tepoll",
        # Port 0: the kernel picks UDP, TCP and TLS ports, all on loopback.
        f"sip_listen\t\t{LOOPBACK}:0",
        f"sip_cafile\t\t{ca_file}",
        "call_local_timeout\t20",
        "call_max_calls\t\t4",
        # ausine makes 48 kHz stereo only; baresip resamples it for G.711.
        "audio_source\t\tausine,440",
        "ausrc_srate\t\t48000",
        "ausrc_channels\t\t2",
        "audio_buffer\t\t20-160",
        "audio_level\t\tno",
        "rtcp_mux\t\tno",
        "jitter_buffer_delay\t5-10",
        "rtp_stats\t\tyes",
        "rtp_timeout\t\t0",
        f"net_interface\t\t{LOOPBACK}",
        f"module_path\t\t{modules}",
        "module\t\t\tg711.so",
        "module\t\t\tausine.so",
        "module\t\t\tsrtp.so",
        "module_tmp\t\taccount.so",
        "module_app\t\tcontact.so",
        "module_app\t\tmenu.so",
        "module_app\t\tctrl_tcp.so",
        "module_app\t\tdebug_cmd.so",
        f"ctrl_tcp_listen\t\t{LOOPBACK}:{ctrl_port}",
        "ringback_disabled\tyes",
        "statmode_default\toff",
    ]
    return "\n".join(lines) + "\n"


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
#: One message of the ``-s`` trace: a coloured ``#``, ``PROTO SRC -> DST``, the message, reset.
_TRACE = re.compile(
    r"\x1b\[36;1m#\n(?P<proto>UDP|TCP|TLS) (?P<src>\S+) -> (?P<dst>\S+)\n(?P<msg>.*?)\x1b\[;m",
    re.S,
)
#: The audio statistics logged when a call ends:
#:     audio           Transmit:     Receive:
#:     packets:            151          150
_RTP_TOTALS = re.compile(r"^audio\s+Transmit:\s+Receive:\s*\npackets:\s+(\d+)\s+(\d+)", re.M)


@dataclass(frozen=True, slots=True)
class TracedMessage:
    """A SIP message of baresip's trace: ``in`` or ``out``, its header part and its body."""

    direction: str
    head: str
    body: str

    @property
    def first_line(self) -> str:
        return self.head.split("\n", 1)[0]

    def header(self, name: str) -> list[str]:
        """Values of the header ``name`` (full names only: baresip does not use compact ones)."""
        prefix = name.lower() + ":"
        return [
            line.split(":", 1)[1].strip()
            for line in self.head.split("\n")[1:]
            if line.lower().startswith(prefix)
        ]

    @property
    def cseq_method(self) -> str:
        values = self.header("CSeq")
        return values[0].split()[-1] if values else ""

    def __str__(self) -> str:
        return f"{self.head}\n\n{self.body}" if self.body else self.head


def _netstring(payload: bytes) -> bytes:
    return str(len(payload)).encode() + b":" + payload + b","


class Agent:
    """One running baresip with one account, and its ctrl_tcp connection."""

    def __init__(
        self,
        name: str,
        account: Account,
        workdir: Path,
        *,
        binary: str,
        modules: Path,
        ca_file: Path,
        free_port: Callable[[], int],
    ) -> None:
        self.name = name
        self.account = account
        self.workdir = workdir
        self.binary = binary
        self.ctrl_port = free_port()
        self.log_path = workdir / "baresip.log"
        workdir.mkdir(parents=True)
        (workdir / "config").write_text(
            _config(ctrl_port=self.ctrl_port, ca_file=ca_file, modules=modules)
        )
        # No account at start: it is added with ``uanew`` once ctrl_tcp is connected, so that
        # the test sees every registration event (REGISTER_OK, REGISTER_FAIL).
        (workdir / "accounts").write_text("")
        (workdir / "contacts").write_text("")
        self.events: list[dict[str, Any]] = []
        self._responses: dict[str, dict[str, Any]] = {}
        self._cond = threading.Condition()
        self._sock: socket.socket | None = None
        self._reader: threading.Thread | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self.exit_code: int | None = None
        self._quit_sent = False

    # lifecycle

    def start(self) -> None:
        command = [self.binary, "-f", str(self.workdir), "-v", "-s", "-t", str(MAX_LIFETIME)]
        stdbuf = shutil.which("stdbuf")
        if stdbuf is not None:  # baresip logs through stdio: keep the log file current
            command = [stdbuf, "-oL", "-eL", *command]
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(
                command,
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self._process.poll() is not None:
                self.exit_code = self._process.returncode
                raise BaresipError(
                    f"baresip {self.name} exited {self.exit_code} at start\n{self.describe()}"
                )
            try:
                self._sock = socket.create_connection((LOOPBACK, self.ctrl_port), timeout=0.5)
                break
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise BaresipError(
                        f"baresip {self.name}: ctrl_tcp not listening on {self.ctrl_port} "
                        f"within {START_TIMEOUT}s\n{self.describe()}"
                    ) from None
                time.sleep(0.1)
        self._sock.settimeout(None)
        self._reader = threading.Thread(target=self._read, name=f"baresip-{self.name}", daemon=True)
        self._reader.start()

    def register(self) -> None:
        """Add the account (``uanew``): baresip registers it at once."""
        self.command("uanew", self.account.line())

    def wait_registered(self, timeout: float = 10.0) -> dict[str, Any]:
        """Until baresip reports REGISTER_OK; fails at once on REGISTER_FAIL."""
        return self.wait_event("REGISTER_OK", timeout, fail_on=("REGISTER_FAIL",))

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def request_quit(self) -> None:
        """Ask baresip to ``quit`` (it unregisters first) without waiting."""
        if self.running and self._sock is not None and not self._quit_sent:
            self._quit_sent = True
            with contextlib.suppress(OSError):
                self._send("quit", "", uuid.uuid4().hex)

    def stop(self) -> int | None:
        """``quit`` over ctrl_tcp, then SIGTERM, then SIGKILL; idempotent."""
        process = self._process
        if process is None:
            return self.exit_code
        if process.poll() is None:
            self.request_quit()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=STOP_TIMEOUT)
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=STOP_TIMEOUT)
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            process.wait()
        self.exit_code = process.returncode
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.close()
        return self.exit_code

    # ctrl_tcp

    def _read(self) -> None:
        assert self._sock is not None
        buffer = b""
        while True:
            try:
                chunk = self._sock.recv(65536)
            except OSError:
                chunk = b""
            if not chunk:
                break
            buffer += chunk
            while True:
                head, colon, rest = buffer.partition(b":")
                if not colon or not head.isdigit():
                    break
                size = int(head)
                if len(rest) < size + 1:
                    break
                payload, buffer = rest[:size], rest[size + 1 :]
                try:
                    message = json.loads(payload.decode(errors="replace"))
                except json.JSONDecodeError:
                    message = {"event": True, "type": "UNPARSED", "raw": payload.decode()}
                with self._cond:
                    if message.get("response"):
                        self._responses[str(message.get("token"))] = message
                    else:
                        message["_at"] = time.monotonic()
                        self.events.append(message)
                    self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def _send(self, command: str, params: str, token: str) -> None:
        assert self._sock is not None, "not started"
        body = {"command": command, "params": params, "token": token}
        self._sock.sendall(_netstring(json.dumps(body).encode()))

    def command(self, command: str, params: str = "", timeout: float = COMMAND_TIMEOUT) -> str:
        """Run a baresip command (``dial``, ``hangup``, ``callstat``...) and return its output;
        fails if baresip says it failed or does not answer."""
        token = uuid.uuid4().hex
        self._send(command, params, token)
        deadline = time.monotonic() + timeout
        with self._cond:
            while token not in self._responses:
                left = deadline - time.monotonic()
                if left <= 0 or not self.running:
                    raise BaresipError(
                        f"baresip {self.name}: no answer to {command} {params!r} "
                        f"within {timeout}s\n{self.describe()}"
                    )
                self._cond.wait(min(left, 0.2))
            response = self._responses.pop(token)
        if not response.get("ok", False):
            raise BaresipError(
                f"baresip {self.name}: {command} {params!r} failed: {response}\n{self.describe()}"
            )
        return str(response.get("data", ""))

    def find_events(self, kind: str) -> list[dict[str, Any]]:
        with self._cond:
            return [e for e in self.events if e.get("type") == kind]

    def wait_event(
        self, kind: str, timeout: float, *, fail_on: tuple[str, ...] = ()
    ) -> dict[str, Any]:
        """The first event ``kind`` (e.g. ``REGISTER_OK``); fails at once on any of
        ``fail_on``, or after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for event in self.events:
                    if event.get("type") == kind:
                        return event
                    if event.get("type") in fail_on:
                        raise BaresipError(
                            f"baresip {self.name}: {event.get('type')} ({event.get('param')!r}) "
                            f"while waiting for {kind}\n{self.describe()}"
                        )
                left = deadline - time.monotonic()
                if left <= 0 or not self.running:
                    raise BaresipError(
                        f"baresip {self.name}: no {kind} within {timeout}s\n{self.describe()}"
                    )
                self._cond.wait(min(left, 0.2))

    # what it left

    def log_text(self) -> str:
        """baresip's log, without its colour codes."""
        return _ANSI.sub("", self._raw_log())

    def _raw_log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def trace(self) -> list[TracedMessage]:
        """The SIP messages of the ``-s`` trace, in order. Every message goes to or comes from
        the service (the account's outbound proxy), so one from the service's address is
        ``in`` and any other ``out``."""
        host, port = self.account.proxy
        service = f"{host}:{port}"
        out = []
        for match in _TRACE.finditer(self._raw_log()):
            text = match["msg"].replace("\r\n", "\n")
            head, _, body = text.partition("\n\n")
            direction = "in" if match["src"] == service else "out"
            out.append(TracedMessage(direction, head.strip("\n"), body.strip("\n")))
        return out

    def received(self, start: str) -> list[TracedMessage]:
        """Messages received whose first line starts with ``start`` ("INVITE ", "SIP/2.0 200")."""
        return [m for m in self.trace() if m.direction == "in" and m.first_line.startswith(start)]

    def sent(self, start: str) -> list[TracedMessage]:
        return [m for m in self.trace() if m.direction == "out" and m.first_line.startswith(start)]

    def wait_received(
        self, start: str, method: str | None = None, timeout: float = 5.0
    ) -> TracedMessage:
        """The first message received whose first line starts with ``start`` (and, if given,
        whose CSeq method is ``method``), waiting for it to show in the log."""
        deadline = time.monotonic() + timeout
        while True:
            for message in self.received(start):
                if method is None or message.cseq_method == method:
                    return message
            if time.monotonic() > deadline:
                raise BaresipError(
                    f"baresip {self.name}: received no {start!r} for {method or 'any'} "
                    f"within {timeout}s\n{self.describe()}"
                )
            time.sleep(0.05)

    def rtp_totals(self, timeout: float = 3.0) -> tuple[int, int] | None:
        """(transmitted, received) RTP packets of the last audio stream, from the statistics
        baresip logs when a call's audio is destroyed (``rtp_stats yes``), or None."""
        deadline = time.monotonic() + timeout
        while True:
            found = _RTP_TOTALS.findall(self.log_text())
            if found:
                sent, received = found[-1]
                return int(sent), int(received)
            if time.monotonic() > deadline:
                return None
            time.sleep(0.1)

    def describe(self, tail: int = 12000) -> str:
        events = "\n".join(
            json.dumps({k: v for k, v in e.items() if k != "_at"}) for e in self.events
        )
        return (
            f"--- baresip {self.name} ({self.account.aor}) in {self.workdir}\n"
            f"--- accounts\n{self.account.line()}\n"
            f"--- ctrl_tcp events\n{events[-4000:]}\n"
            f"--- log (tail)\n{self.log_text()[-tail:]}"
        )


class Agents:
    """Starts baresip agents for one test, each in a directory under the test's tmp_path; stops
    every one of them at the end."""

    def __init__(
        self,
        binary: str,
        modules: Path,
        root: Path,
        ca_file: Path,
        proxy: tuple[str, int],
        free_port: Callable[[], int],
    ) -> None:
        self.binary = binary
        self.modules = modules
        self.root = root
        self.ca_file = ca_file
        self.proxy = proxy
        self.free_port = free_port
        self.agents: list[Agent] = []

    def start(
        self, name: str, user: str, domain: str, password: str, *, answermode: str = "manual"
    ) -> Agent:
        account = Account(user, domain, password, self.proxy, answermode=answermode)
        agent = Agent(
            name,
            account,
            self.root / name,
            binary=self.binary,
            modules=self.modules,
            ca_file=self.ca_file,
            free_port=self.free_port,
        )
        self.agents.append(agent)
        agent.start()
        agent.register()
        return agent

    def describe(self) -> str:
        return "\n\n".join(agent.describe() for agent in self.agents)

    def close(self) -> None:
        for agent in self.agents:  # all unregister at once
            with contextlib.suppress(Exception):
                agent.request_quit()
        for agent in self.agents:
            with contextlib.suppress(Exception):
                agent.stop()
