"""The perimeter under a flood, seen from the network: the running service over UDP, SIPp.

One address floods the service far above what it can serve (about 1,200 REGISTERs or 360
INVITEs a second on the machine this was written on): REGISTERs in one test, INVITEs to a number
abroad in the other, none with credentials, as flooders send them. Meanwhile alpha's office
works from other addresses: 1001's phone at 127.0.0.3 keeps renewing its registration and calls
1002, whose phone at 127.0.0.4 answers each call. Nobody is on the allow-list: the office gets
through as phones that logged in before the flood began.

What a user notices: the office's registrations and calls go through (99 % or more), the
flooding address is banned as a flood and hears next to nothing back, the service's memory does
not grow with the flood, and once it is over the service still answers, a phone it never saw
included. Timings (and the peak RSS) are bench/perimeter_flood.py's business.
"""

from __future__ import annotations

import csv
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

OFFICE_IP = "127.0.0.3"  # 1001's phone
DESK_IP = "127.0.0.4"  # 1002's phone, which answers
NEWCOMER_IP = "127.0.0.5"  # 1003's phone, first seen after the flood
ABROAD = "+442079460123"

FLOOD_SECONDS = 10
FLOOD_RATE = 10_000  # requests a second, from one address
LEAD_SECONDS = 2  # the office alone before the flood ...
TAIL_SECONDS = 2  # ... and after it
REGISTER_RATE = 3  # the office's registrations a second
CALL_RATE = 2  # and calls a second
TALK_MS = 1000
SUCCESS = 0.99
#: How much the service's resident memory may grow from just before the flood to its end. The
#: bench sees about 5 MB for 600,000 requests; a flood that left even a few hundred bytes behind
#: per request (a table entry per packet, say) would fail this.
RSS_GROWTH_LIMIT_MB = 64
STATS = ("-trace_stat", "-stf", "stat.csv", "-fd", "1")  # SIPp's counters, for the rates


@pytest.fixture
def transport() -> str:
    """UDP only: a flood from one address is datagrams (over TCP it is one connection, which
    the perimeter meets in the same place, after the framer)."""
    return "udp"


def sipp_stats(workdir: Path) -> dict[str, int]:
    """The last row of SIPp's ``-trace_stat`` file: its cumulative counters, as numbers."""
    path = workdir / "stat.csv"
    assert path.exists(), f"SIPp left no statistics in {workdir}"
    rows = list(csv.reader(path.read_text(errors="replace").splitlines(), delimiter=";"))
    out: dict[str, int] = {}
    for key, value in zip(rows[0], rows[-1], strict=False):
        try:
            out[key] = int(float(value))
        except ValueError:
            continue
    return out


def service_pid(service: Any) -> int:
    """The process of ``ringfence serve`` on the test's data directory."""
    wanted = str(service.data_dir).encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"serve" in argv and wanted in argv:
            return int(entry.name)
    raise AssertionError(f"no `ringfence serve` process on {service.data_dir}")


def memory_mb(pid: int, field: str) -> float:
    """``VmRSS`` (now) or ``VmHWM`` (the peak so far) of ``pid``, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no {field} in /proc/{pid}/status")


@dataclass
class Outcome:
    """What one flood left: SIPp's counts on both sides, memory, the service's log."""

    registered: int
    registrations: int  # planned
    called: int
    calls: int  # planned
    flood_sent: int
    flood_answered: int
    rss_before_mb: float
    rss_peak_mb: float
    log: str
    runs: str  # the office's SIPp runs, described, for a failing assertion


@dataclass
class Office:
    """1001 at 127.0.0.3 and 1002 at 127.0.0.4 of the world (tenant alpha), against the test's
    service, and a flood from elsewhere."""

    service: Any
    sipp: Any
    sipp_binary: str
    world: Any
    free_port: Callable[[str], int]
    workdir: Path

    @property
    def proxy(self) -> tuple[str, int]:
        return (self.service.host, self.service.sip_port)

    def register(self, phone: Any, source: str, port: int, options: tuple[str, ...] = ()) -> Any:
        """``phone`` registers from ``source:port`` with its password (a SIPp process)."""
        contact = f"sip:{phone.ext}@{source}:{port};transport=udp"
        return self.sipp.start(
            "register.xml",
            transport="udp",
            remote=self.proxy,
            local_ip=source,
            local_port=port,
            keys={"domain": phone.domain, "user": phone.ext, "contact": contact, "expires": "300"},
            auth=(phone.ext, phone.password, phone.domain),
            options=options,
        )

    def through_flood(self, scenario: str, keys: dict[str, str], flooder: str) -> Outcome:
        """The office boots, then works from LEAD_SECONDS before a flood of ``scenario`` from
        ``flooder`` to TAIL_SECONDS after it."""
        alice, bob = self.world.alice, self.world.bob
        pid = service_pid(self.service)
        # 1002's phone registers from 127.0.0.4, then answers every call on that port.
        desk_port = self.free_port(DESK_IP)
        self.register(bob, DESK_IP, desk_port).wait().assert_ok()
        span = LEAD_SECONDS + FLOOD_SECONDS + TAIL_SECONDS
        desk = self.sipp.start("uas_desk.xml", transport="udp", local_ip=DESK_IP,
                               local_port=desk_port, keys={"user": bob.ext},
                               options=("-m", "1000", "-timeout", f"{span + 40}s"))  # fmt: skip
        # 1001's phone boots at 127.0.0.3: it registers, before anyone floods.
        office_port = self.free_port(OFFICE_IP)
        self.register(alice, OFFICE_IP, office_port).wait().assert_ok()
        rss_before = memory_mb(pid, "VmRSS")

        # The office at work: registrations renewed and calls placed, all through the flood.
        bounded = ("-timeout", f"{span + 30}s", *STATS)
        registrations, calls = REGISTER_RATE * span, CALL_RATE * span
        renewing = self.register(alice, OFFICE_IP, office_port, options=(
            "-r", str(REGISTER_RATE), "-m", str(registrations), *bounded))  # fmt: skip
        calling = self.sipp.start(
            "uac_call.xml",
            transport="udp",
            remote=self.proxy,
            local_ip=OFFICE_IP,
            keys={"domain": alice.domain, "user": alice.ext, "callee": bob.ext},
            fill={"talk_ms": str(TALK_MS)},
            auth=(alice.ext, alice.password, f"{bob.ext}@{alice.domain}"),
            options=("-r", str(CALL_RATE), "-m", str(calls), *bounded),
        )
        time.sleep(LEAD_SECONDS)
        flooded = self.flood(scenario, keys, flooder)
        renewed, called = renewing.wait(span + 60), calling.wait(span + 60)
        rss_peak = memory_mb(pid, "VmHWM")
        desk.terminate()  # it lingers after each call (see uas_desk.xml)
        return Outcome(
            registered=sipp_stats(renewed.workdir).get("SuccessfulCall(C)", 0),
            registrations=registrations,
            called=sipp_stats(called.workdir).get("SuccessfulCall(C)", 0),
            calls=calls,
            flood_sent=flooded.get("TotalCallCreated", 0),
            flood_answered=flooded.get("SuccessfulCall(C)", 0),
            rss_before_mb=rss_before,
            rss_peak_mb=rss_peak,
            log=self.service.log_text(),
            runs="\n\n".join(r.describe() for r in (renewed, called, desk.result) if r),
        )

    def flood(self, scenario: str, keys: dict[str, str], source: str) -> dict[str, int]:
        """SIPp from ``source``: ``scenario`` at FLOOD_RATE for FLOOD_SECONDS, never
        retransmitting; a request unanswered within 1 s fails its SIPp call. Not through
        :class:`Sipp`: a message trace would cost more than the flood."""
        workdir = self.workdir / "flood"
        workdir.mkdir(parents=True)
        command = [
            self.sipp_binary, f"{self.service.host}:{self.service.sip_port}",
            "-sf", str(Path(__file__).parent / "scenarios" / scenario),
            "-t", "u1", "-i", source, "-bind_local", "-p", str(self.free_port(source)),
            "-r", str(FLOOD_RATE), "-m", str(FLOOD_RATE * FLOOD_SECONDS),
            "-l", str(FLOOD_RATE * 3), "-nr", "-recv_timeout", "1000",
            "-timeout", f"{FLOOD_SECONDS + 20}s", "-nostdin",
            "-default_behaviors", "all,-bye",
            *STATS,
        ]  # fmt: skip
        for key, value in keys.items():
            command += ["-key", key, value]
        with (workdir / "stdout.log").open("wb") as out:
            process = subprocess.Popen(
                command, cwd=workdir, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
            )
        try:
            process.wait(timeout=FLOOD_SECONDS + 40)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise AssertionError(f"the flooding SIPp outlived its bounds: {command}") from None
        return sipp_stats(workdir)

    def still_served(self) -> None:
        """After the flood: the office's phone registers again, and so does a phone the service
        never saw before, from an address of its own."""
        alice, carol = self.world.alice, self.world.carol
        self.register(alice, OFFICE_IP, self.free_port(OFFICE_IP)).wait().assert_ok()
        self.register(carol, NEWCOMER_IP, self.free_port(NEWCOMER_IP)).wait().assert_ok()


@pytest.fixture
def office(
    service: Any, sipp: Any, sipp_binary: str, world: Any, free_port: Any, tmp_path: Path
) -> Office:
    return Office(service, sipp, sipp_binary, world, free_port, tmp_path)


def assert_office_got_through(outcome: Outcome) -> None:
    for name, done, planned in (
        ("registrations", outcome.registered, outcome.registrations),
        ("calls", outcome.called, outcome.calls),
    ):
        assert done >= SUCCESS * planned, (
            f"the office's {name}: {done} of {planned} went through the flood\n{outcome.runs}"
        )


def assert_flooder_banned(outcome: Outcome, flooder: str) -> None:
    assert f"ringfence ban {flooder} reason=flood" in outcome.log
    assert outcome.flood_sent > 10_000, f"the flood was only {outcome.flood_sent} requests"
    assert outcome.flood_sent > 100 * outcome.flood_answered, (
        f"the flooder had {outcome.flood_answered} of {outcome.flood_sent} requests answered"
    )


def assert_memory_bounded(outcome: Outcome) -> None:
    assert outcome.rss_peak_mb - outcome.rss_before_mb < RSS_GROWTH_LIMIT_MB, (
        f"resident memory {outcome.rss_before_mb:.0f} MB before the flood, "
        f"peak {outcome.rss_peak_mb:.0f} MB"
    )


def test_a_register_flood_is_banned_and_the_office_keeps_working(
    office: Office, world: Any
) -> None:
    flooder = "127.0.6.1"
    keys = {"domain": world.alice.domain, "user": world.alice.ext}
    outcome = office.through_flood("flood_register.xml", keys, flooder)
    assert_office_got_through(outcome)
    assert_flooder_banned(outcome, flooder)
    assert_memory_bounded(outcome)
    office.still_served()


def test_an_invite_flood_is_banned_and_the_office_keeps_working(office: Office, world: Any) -> None:
    flooder = "127.0.6.2"
    keys = {"domain": world.alice.domain, "user": world.alice.ext, "callee": ABROAD}
    outcome = office.through_flood("flood_invite.xml", keys, flooder)
    assert_office_got_through(outcome)
    assert_flooder_banned(outcome, flooder)
    assert_memory_bounded(outcome)
    office.still_served()
