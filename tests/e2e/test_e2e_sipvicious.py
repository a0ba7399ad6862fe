"""The real SIPVicious tools against the running service, on loopback, over UDP.

What scanners aim at is a server's own IP address, so the tenant under attack here has the
service's listen address as its SIP domain. It has ten extensions scattered over 1000-1099, the
hundred extensions ``svwar`` walks; ``svcrack`` guesses the password of the first of them from a
word list that holds the real password near its end. The tenant's legitimate phones speak from
127.0.0.2 and register and call before, during and after every attack.

Two rounds:

* The stock tools (User-Agent ``friendly-scanner``). ``svmap`` is answered and lists the server,
  and its address is banned at that moment (``reason=scanner``): the next ``svmap`` from there
  finds nothing. ``svwar`` (REGISTER, INVITE and OPTIONS) and ``svcrack`` hear nothing about any
  extension and are banned as scanners.
* The same tools under a desk phone's User-Agent, so that no fingerprint can catch them: what
  stops them is what they do. ``svwar`` learns nothing, because a real extension is answered
  exactly as a bogus one is; its OPTIONS sweep is banned as ``options_sweep``. ``svcrack`` is
  answered 403 like any wrong password, banned as ``brute_force`` after five, and never comes to
  the real password.

How the tools are run, and why:

* SIPVicious 0.3.8's ``svwar`` and ``svcrack`` accept ``-b`` (the address to bind) but do not
  pass it on: they bind every interface, and toward 127.0.0.1 the kernel picks 127.0.0.1, which
  the e2e service allow-lists. So both run through a small launcher (written to the test's
  directory) that hands the ``-b`` address to the scanner class; for the stock round nothing else
  changes. In the disguised round the launcher also swaps the User-Agent default of
  ``sipvicious.libs.svhelper.makeRequest``. ``svmap`` honours ``-b`` and runs as installed.
* Every tool run has a fresh source address (127.0.5.x stock, 127.0.6.x disguised), so it starts
  unbanned, and a bounded run time (``--maximumtime``, and a subprocess timeout over it).
* ``svwar`` runs with ``--force``: without it, it gives up at once when a bogus user is
  challenged, as here every user is. It also stops at the first answer that matches its bogus
  baseline and is a challenge, so the ten real extensions are listed first in its ``-e`` (the
  hundred are all still there): any real extension answered differently from a bogus one would
  be reported before it stops. ``--debug`` has it print what it received; the test checks from
  that print that real extensions were answered, and exactly as the bogus one was. Since that
  puts only the first real extension to the REGISTER and INVITE test, a third test scans each of
  the ten on its own with both methods.

What the disguised REGISTER and INVITE scans of the hundred do: svwar sends its bogus user and
the first real extension, gets the same challenge for both, says "svwar will probably not work"
and stops; two requests are no behaviour to ban, and the test does not ask for a ban there.
"""

from __future__ import annotations

import ast
import itertools
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

DOMAIN = "127.0.0.1"  # the service's listen address (conftest's Service.host), as a SIP domain
TENANT = "onip"
#: The real extensions, scattered over the scanned range, and their passwords.
PASSWORDS = {
    "1004": "Tq5-marble-Wx8kLp2n",
    "1011": "Hb3-lantern-Zr6mQs9v",
    "1017": "Nc8-willow-Fy2tKd5h",
    "1023": "Gp6-harbor-Lm4xVb7e",
    "1030": "Rd2-copper-Ts9nWq3j",
    "1042": "Ky7-meadow-Hc5pZf8u",
    "1056": "Wm4-falcon-Qb2rXn6s",
    "1063": "Jv9-cedar-Pk3dSg7a",
    "1071": "Ef5-summit-Ux8hBm2c",
    "1088": "Zs3-pebble-Nd6wRt4y",
}
REAL = tuple(PASSWORDS)
SCANNED = range(1000, 1100)
CALLER, CALLEE = "1004", "1042"  # the legitimate phones; svcrack goes after the caller
CRACKED = CALLER
PHONE_IP = "127.0.0.2"
DISGUISE = "Yealink SIP-T46S 66.86.0.15"
METHODS = ("REGISTER", "INVITE", "OPTIONS")
FAILURES_TO_BAN = 5  # the perimeter's failed logins from one address (GuardSettings)

MAXIMUM_TIME = 3  # seconds: the tools stop after this long without an answer
TOOL_TIMEOUT = 45  # seconds: a tool still running after this is killed and the test fails
BAN_WAIT = 3.0
TALK_MS = "600"

_SOURCES = itertools.count(1)

# The launcher: a SIPVicious tool from a chosen source address, under a chosen User-Agent.
LAUNCHER = '''\
"""python launcher.py TOOL SOURCE USER_AGENT ARGS...: run sipvicious TOOL (svwar, svcrack) with
ARGS, its socket bound to SOURCE, its requests saying USER_AGENT ("-": the tool's own)."""
import importlib
import sys

tool, source, user_agent, *arguments = sys.argv[1:]

from sipvicious.libs import svhelper

if user_agent != "-":
    defaults = list(svhelper.makeRequest.__defaults__)
    defaults[defaults.index("friendly-scanner")] = user_agent
    svhelper.makeRequest.__defaults__ = tuple(defaults)

module = importlib.import_module("sipvicious." + tool)
name = {"svwar": "TakeASip", "svcrack": "ASipOfRedWine"}[tool]
scanner = getattr(module, name)


class BoundToSource(scanner):
    def __init__(self, *args, **kwargs):
        kwargs["bindingip"] = source
        super().__init__(*args, **kwargs)


setattr(module, name, BoundToSource)
sys.argv = ["sipvicious_" + tool, *arguments]
module.main()
'''

BAN_LINE = re.compile(r"ringfence ban (\S+) reason=(\w+)")
EXTENSION_FOUND = re.compile(r"extension '([^']*)' (?:exists|probably exists)")
TABLE_ROW = re.compile(r"^\|\s*(\S+)\s*\|\s*(\S.*?)\s*\|\s*$", re.M)
PASSWORD_FOUND = re.compile(r"The password for (\S+) is (.*)")


def attacker(block: int) -> str:
    """A loopback address no tool has used yet in this session."""
    return f"127.0.{block}.{next(_SOURCES)}"


def scan_order() -> str:
    """svwar's ``-e``: the real extensions first, then the rest of the hundred as ranges."""
    rest = [n for n in SCANNED if str(n) not in PASSWORDS]
    runs: list[list[int]] = []
    for n in rest:
        if runs and runs[-1][-1] == n - 1:
            runs[-1].append(n)
        else:
            runs.append([n])
    parts = [*REAL, *(f"{r[0]}-{r[-1]}" if len(r) > 1 else str(r[0]) for r in runs)]
    listed = [*REAL, *(str(n) for r in runs for n in r)]
    assert sorted(listed) == [str(n) for n in SCANNED]  # the hundred, each once
    return ",".join(parts)


# -- the service -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def onip_template(
    tmp_path_factory: pytest.TempPathFactory, toolkit: Any, ringfence_binary: Path
) -> Path:
    """A data directory with one tenant whose domain is the service's IP address, provisioned
    through the command line once for the module."""
    data_dir = tmp_path_factory.mktemp("sipvicious-template") / "data"
    toolkit.run_cli(data_dir, "init")
    toolkit.run_cli(data_dir, "tenant", "add", TENANT, "--domain", DOMAIN)

    def add(ext: str) -> None:
        toolkit.run_cli(data_dir, "ext", "add", TENANT, ext, "--password", PASSWORDS[ext])

    with ThreadPoolExecutor(max_workers=3) as pool:
        list(pool.map(add, REAL))
    return data_dir


@pytest.fixture
def service(tmp_path: Path, onip_template: Path, toolkit: Any, sipp_binary: str) -> Iterator[Any]:
    """Like conftest's ``service`` (same options, allow-list included), on a copy of the
    template above."""
    data_dir = tmp_path / "data"
    shutil.copytree(onip_template, data_dir)
    running = toolkit.service(data_dir, tmp_path)
    assert running.host == DOMAIN, "the tenant's domain must be the address the service listens on"
    running.start()
    try:
        yield running
    finally:
        if running.started:
            running.stop_cleanly()


def bans(service: Any, address: str) -> list[str]:
    """The reasons of the ``ringfence ban`` lines for ``address`` in the service's log."""
    return [reason for banned, reason in BAN_LINE.findall(service.log_text()) if banned == address]


def wait_bans(service: Any, address: str, timeout: float = BAN_WAIT) -> list[str]:
    """Like :func:`bans`, waiting a little for the first line (the log is written as it goes)."""
    deadline = time.monotonic() + timeout
    while True:
        found = bans(service, address)
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


# -- the legitimate phones -------------------------------------------------------------------------


def legitimate_phones(service: Any, sipp: Any) -> None:
    """From 127.0.0.2: the caller registers, the callee registers and answers, the caller calls
    the callee, they talk and hang up. Every step must succeed."""
    proxy = (service.host, service.sip_port)
    sipp.run(
        "register.xml",
        transport="udp",
        remote=proxy,
        local_ip=PHONE_IP,
        keys={
            "domain": DOMAIN,
            "user": CALLER,
            "contact": f"sip:{CALLER}@{PHONE_IP}:45072;transport=udp",
            "expires": "300",
        },
        auth=(CALLER, PASSWORDS[CALLER], DOMAIN),
    ).assert_ok()
    call_id = f"e2e-sv-{uuid.uuid4().hex}"
    answering = sipp.start(
        "uas_registered.xml",
        transport="udp",
        remote=proxy,
        local_ip=PHONE_IP,
        keys={"domain": DOMAIN, "user": CALLEE},
        auth=(CALLEE, PASSWORDS[CALLEE], DOMAIN),
        call_id=call_id,
    )
    answering.wait_for_log(f"registered {CALLEE}")
    calling = sipp.run(
        "uac_call.xml",
        transport="udp",
        remote=proxy,
        local_ip=PHONE_IP,
        keys={"domain": DOMAIN, "user": CALLER, "callee": CALLEE, "callee_domain": DOMAIN},
        fill={"talk_ms": TALK_MS},
        auth=(CALLER, PASSWORDS[CALLER], f"{CALLEE}@{DOMAIN}"),
        call_id=call_id,
    )
    if calling.returncode != 0:
        answering.terminate()
    answered = answering.result or answering.wait()
    failed = [r for r in (calling, answered) if r.returncode != 0 or r.terminated]
    assert not failed, "\n\n".join(r.describe() for r in (calling, answered))


def assert_phones_unharmed(service: Any) -> None:
    """The attacked tenant's bindings are all the legitimate phones' (no tool got in), and the
    phones' address was never banned; no password reached the log."""
    bindings = service.registrations(TENANT)
    assert {b["ext"] for b in bindings} == {CALLER, CALLEE}, bindings
    assert all(b["source"].split(":")[1] == PHONE_IP for b in bindings), bindings
    log = service.log_text()
    assert bans(service, PHONE_IP) == [], log[-4000:]
    for password in PASSWORDS.values():
        assert password not in log


# -- the tools -------------------------------------------------------------------------------------


@dataclass
class ToolResult:
    name: str
    command: list[str]
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def describe(self) -> str:
        return (
            f"{self.name} exited {self.returncode}\ncommand: {' '.join(self.command)}\n"
            f"--- stdout\n{self.stdout[-6000:]}\n--- stderr\n{self.stderr[-6000:]}"
        )

    def assert_ran(self) -> None:
        """It ended on its own, without a crash (SIPVicious: 0 done, 30 network trouble such
        as no answer; 40 is "found something", 20 an error)."""
        assert "Got unhandled exception" not in self.output, self.describe()
        assert "Traceback" not in self.output, self.describe()
        assert self.returncode in (0, 30), self.describe()


class ToolRun:
    """A SIPVicious tool running in the background, its output in the test's directory."""

    def __init__(self, name: str, command: list[str], workdir: Path) -> None:
        self.name = name
        self.command = command
        self.out = workdir / f"{name}.out"
        self.err = workdir / f"{name}.err"
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        with self.out.open("wb") as out, self.err.open("wb") as err:
            self.popen = subprocess.Popen(
                command, cwd=workdir, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env
            )

    def finish(self, timeout: float = TOOL_TIMEOUT) -> ToolResult:
        try:
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.popen.send_signal(signal.SIGKILL)
            self.popen.wait()
            raise AssertionError(
                f"{self.name} still running after {timeout}s\n{self._result().describe()}"
            ) from None
        return self._result()

    def _result(self) -> ToolResult:
        return ToolResult(
            self.name,
            self.command,
            self.popen.returncode,
            self.out.read_text(errors="replace"),
            self.err.read_text(errors="replace"),
        )


class Tools:
    """Starts SIPVicious runs against the test's service."""

    def __init__(self, service: Any, root: Path, free_port: Callable[..., int]) -> None:
        self.service = service
        self.free_port = free_port
        self.workdir = root / "sipvicious"
        self.workdir.mkdir()
        self.launcher = self.workdir / "launcher.py"
        self.launcher.write_text(LAUNCHER)
        self.runs: list[ToolRun] = []
        bindir = Path(sys.executable).parent
        self.svmap_binary = bindir / "sipvicious_svmap"
        if not self.svmap_binary.exists():
            pytest.fail(f"{self.svmap_binary} is missing: install sipvicious", pytrace=False)

    def _start(self, name: str, command: list[str]) -> ToolRun:
        run = ToolRun(f"{len(self.runs) + 1:02d}-{name}", command, self.workdir)
        self.runs.append(run)
        return run

    def _common(self, source: str) -> list[str]:
        return ["-b", source, "-P", str(self.free_port(source)),
                "-p", str(self.service.sip_port)]  # fmt: skip

    def _launch(self, tool: str, source: str, user_agent: str | None) -> list[str]:
        return [sys.executable, str(self.launcher), tool, source, user_agent or "-"]

    def svmap(self, source: str) -> ToolRun:
        command = [str(self.svmap_binary), *self._common(source), self.service.host]
        return self._start(f"svmap-{source}", command)

    def svwar(
        self, source: str, method: str, user_agent: str | None, extensions: str | None = None
    ) -> ToolRun:
        command = [
            *self._launch("svwar", source, user_agent),
            *self._common(source),
            "-e", extensions or scan_order(),
            "-m", method,
            "--force",
            "--maximumtime", str(MAXIMUM_TIME),
            "--debug",
            "-v",
            self.service.host,
        ]  # fmt: skip
        return self._start(f"svwar-{method}-{source}", command)

    def svcrack(self, source: str, ext: str, wordlist: Path, user_agent: str | None) -> ToolRun:
        command = [
            *self._launch("svcrack", source, user_agent),
            *self._common(source),
            "-u", ext,
            "-d", str(wordlist),
            "--maximumtime", str(MAXIMUM_TIME),
            "-vv",  # debug: one "trying PASSWORD" line per guess
            self.service.host,
        ]  # fmt: skip
        return self._start(f"svcrack-{source}", command)

    def close(self) -> None:
        for run in self.runs:
            if run.popen.poll() is None:
                run.popen.send_signal(signal.SIGKILL)
                run.popen.wait()


@pytest.fixture
def tools(service: Any, tmp_path: Path, free_port: Callable[..., int]) -> Iterator[Tools]:
    runner = Tools(service, tmp_path, free_port)
    try:
        yield runner
    finally:
        runner.close()


@pytest.fixture
def wordlist(tmp_path: Path) -> Path:
    """Forty passwords; the real one of the cracked extension is the 37th."""
    words = [f"guess-{n:02d}-Passw0rd" for n in range(1, 41)]
    words[36] = PASSWORDS[CRACKED]
    path = tmp_path / "passwords.txt"
    path.write_text("\n".join(words) + "\n")
    return path


# -- reading the tools' output ---------------------------------------------------------------------


def extensions_reported(result: ToolResult) -> set[str]:
    """What svwar says exists: its log lines and its final table."""
    found = set(EXTENSION_FOUND.findall(result.output))
    for ext, kind in TABLE_ROW.findall(result.stdout):
        if ext != "Extension":
            found.add(f"{ext} ({kind})")
    return found


def passwords_reported(result: ToolResult) -> set[str]:
    """What svcrack says it cracked: its log lines and its final table."""
    found = {f"{user}: {password}" for user, password in PASSWORD_FOUND.findall(result.output)}
    for ext, password in TABLE_ROW.findall(result.stdout):
        if ext != "Extension":
            found.add(f"{ext}: {password}")
    return found


def passwords_tried(result: ToolResult) -> list[str]:
    return re.findall(r"DEBUG:ASipOfRedWine:trying (.*)$", result.stderr, re.M)


@dataclass(frozen=True)
class Answer:
    """One response svwar received (from its ``--debug`` print): about whom, and its shape."""

    user: str
    status: str  # the status line
    headers: tuple[str, ...]  # header names in order, lower-case
    realm: str | None
    reason: str | None  # the Reason header (svwar tells INVITE answers apart by it too)

    @property
    def shape(self) -> tuple[Any, ...]:
        return (self.status, self.headers, self.realm, self.reason)


def answers_received(result: ToolResult) -> list[Answer]:
    """The responses svwar printed with ``--debug`` (one ``b'...'`` line each)."""
    out = []
    for line in result.stdout.splitlines():
        if not line.startswith(("b'", 'b"')):
            continue
        text = ast.literal_eval(line).decode("utf-8", "replace")
        head, _, _ = text.partition("\r\n\r\n")
        first, *lines = head.split("\r\n")
        if not first.startswith("SIP/2.0 "):
            continue  # a request the proxy sent it, not an answer
        fields = [(n.strip().lower(), v.strip()) for n, _, v in (h.partition(":") for h in lines)]
        values = dict(fields)
        to = re.search(r"<sips?:([^@>;]+)@", values.get("to", "") or values.get("t", ""))
        realm = re.search(r'realm="([^"]*)"', head)
        out.append(
            Answer(
                user=to.group(1) if to else "",
                status=first.strip(),
                headers=tuple(n for n, _ in fields),
                realm=realm.group(1) if realm else None,
                reason=values.get("reason"),
            )
        )
    return out


def profiles(answers: list[Answer]) -> dict[str, tuple[Any, ...]]:
    """Per user that got a final answer: its provisional status lines and its final's shape."""
    out = {}
    for user in dict.fromkeys(a.user for a in answers):
        mine = [a for a in answers if a.user == user]
        finals = [a for a in mine if not a.status.startswith("SIP/2.0 1")]
        if finals:
            provisional = tuple(
                sorted({a.status for a in mine if a.status.startswith("SIP/2.0 1")})
            )
            out[user] = (provisional, finals[0].shape)
    return out


def bogus_user(answers: list[Answer]) -> str | None:
    """svwar's first probe is a random 32-bit user that surely does not exist."""
    bogus = [a.user for a in answers if a.user.isdigit() and int(a.user) not in SCANNED]
    return bogus[0] if bogus else None


# -- the tests -------------------------------------------------------------------------------------


def test_stock_sipvicious_sees_the_server_and_nothing_more(
    service: Any, sipp: Any, tools: Tools, wordlist: Path
) -> None:
    server = f"{service.host}:{service.sip_port}"
    legitimate_phones(service, sipp)

    # svmap: the server answers its OPTIONS, and its address is banned as it answers.
    mapper = attacker(5)
    mapped = tools.svmap(mapper).finish()
    assert server in mapped.stdout, mapped.describe()
    assert wait_bans(service, mapper) == ["scanner"], service.log_text()[-4000:]
    # ... so from there the server has gone dark.
    again = tools.svmap(mapper).finish()
    assert server not in again.stdout, again.describe()
    assert "found nothing" in again.stderr, again.describe()

    # svcrack and svwar (each method) at once, each from an address of its own, while the
    # legitimate phones register and call.
    cracker = attacker(5)
    cracking = tools.svcrack(cracker, CRACKED, wordlist, user_agent=None)
    warring = {m: (source, tools.svwar(source, m, user_agent=None))
               for m, source in ((m, attacker(5)) for m in METHODS)}  # fmt: skip
    legitimate_phones(service, sipp)

    for method, (source, run) in warring.items():
        result = run.finish()
        result.assert_ran()
        assert extensions_reported(result) == set(), f"svwar -m {method}\n{result.describe()}"
        assert "found nothing" in result.stderr, result.describe()
        # Nothing about any of the hundred came back: a scanner's REGISTER or INVITE is
        # dropped from the first, its first OPTIONS (svwar's bogus baseline) alone is answered.
        answers = answers_received(result)
        assert [a for a in answers if a.user.isdigit() and int(a.user) in SCANNED] == [], (
            f"svwar -m {method}: answered about scanned extensions\n{result.describe()}"
        )
        assert len(answers) <= (1 if method == "OPTIONS" else 0), result.describe()
        assert wait_bans(service, source) == ["scanner"], (
            f"svwar -m {method} from {source}\n{service.log_text()[-4000:]}"
        )

    cracked = cracking.finish()
    cracked.assert_ran()
    assert passwords_reported(cracked) == set(), cracked.describe()
    assert PASSWORDS[CRACKED] not in cracked.output, cracked.describe()
    assert "found nothing" in cracked.stderr, cracked.describe()
    assert "no server response" in cracked.stderr, cracked.describe()  # dropped from the first
    assert wait_bans(service, cracker) == ["scanner"], service.log_text()[-4000:]

    legitimate_phones(service, sipp)
    assert_phones_unharmed(service)


def test_disguised_sipvicious_is_stopped_by_what_it_does(
    service: Any, sipp: Any, tools: Tools, wordlist: Path
) -> None:
    legitimate_phones(service, sipp)

    cracker = attacker(6)
    cracking = tools.svcrack(cracker, CRACKED, wordlist, user_agent=DISGUISE)
    warring = {m: (source, tools.svwar(source, m, user_agent=DISGUISE))
               for m, source in ((m, attacker(6)) for m in METHODS)}  # fmt: skip
    legitimate_phones(service, sipp)

    for method, (source, run) in warring.items():
        result = run.finish()
        result.assert_ran()
        # The essential: no real extension identified.
        assert extensions_reported(result) == set(), f"svwar -m {method}\n{result.describe()}"
        assert "found nothing" in result.stderr, result.describe()
        # It did reach the server and put real extensions to the test: they were answered,
        # and exactly as the bogus user was (status, header names, realm, Reason).
        answers = answers_received(result)
        seen = profiles(answers)
        bogus = bogus_user(answers)
        assert bogus in seen, f"svwar -m {method}: no answer to its bogus user\n{result.describe()}"
        real = sorted(set(seen) & set(PASSWORDS))
        assert real, f"svwar -m {method}: no real extension answered\n{result.describe()}"
        differing = {u: p for u, p in seen.items() if p != seen[bogus]}
        assert differing == {}, (
            f"svwar -m {method}: answered unlike the bogus user {bogus} {seen[bogus]}:\n"
            + "\n".join(f"{u}: {p}" for u, p in differing.items())
        )
        # Not caught by a fingerprint: the disguise holds.
        found = bans(service, source)
        assert "scanner" not in found, found
        if method == "OPTIONS":  # one user after another: a sweep
            assert wait_bans(service, source) == ["options_sweep"], (
                f"svwar -m OPTIONS from {source}\n{service.log_text()[-4000:]}"
            )

    cracked = cracking.finish()
    cracked.assert_ran()
    assert passwords_reported(cracked) == set(), cracked.describe()
    assert PASSWORDS[CRACKED] not in cracked.output, cracked.describe()
    assert "found nothing" in cracked.stderr, cracked.describe()
    tried = passwords_tried(cracked)
    assert len(tried) >= FAILURES_TO_BAN, cracked.describe()  # it did guess ...
    assert PASSWORDS[CRACKED] not in tried  # ... and was banned before the real one
    assert wait_bans(service, cracker) == ["brute_force"], service.log_text()[-4000:]

    legitimate_phones(service, sipp)
    assert_phones_unharmed(service)


def test_disguised_svwar_cannot_tell_any_real_extension_from_a_bogus_one(
    service: Any, tools: Tools
) -> None:
    """svwar gives up at its first challenge alike to its bogus user's, so the scans of the
    hundred put only the first real extension to its REGISTER and INVITE test. Here each of the
    ten is scanned on its own (a fresh address each, five at a time): none is reported, and each
    is answered exactly as svwar's bogus user."""
    jobs = [(ext, method) for ext in REAL for method in ("REGISTER", "INVITE")]
    results: dict[tuple[str, str], ToolResult] = {}
    for start in range(0, len(jobs), 5):
        batch = [(job, tools.svwar(attacker(6), job[1], DISGUISE, extensions=job[0]))
                 for job in jobs[start : start + 5]]  # fmt: skip
        for job, run in batch:
            results[job] = run.finish()
    for (ext, method), result in results.items():
        result.assert_ran()
        where = f"svwar -m {method} -e {ext}"
        assert extensions_reported(result) == set(), f"{where}\n{result.describe()}"
        seen = profiles(answers_received(result))
        bogus = bogus_user(answers_received(result))
        assert bogus in seen, f"{where}: no answer to its bogus user\n{result.describe()}"
        assert ext in seen, f"{where}: {ext} not answered\n{result.describe()}"
        assert seen[ext] == seen[bogus], (
            f"{where}: {ext} answered {seen[ext]}, the bogus {bogus} {seen[bogus]}"
        )
