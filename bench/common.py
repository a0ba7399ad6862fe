"""What the benchmarks share: progress lines, the environment of child processes, free ports,
stopping a child, SIPp injection files and the kernel's UDP drop counter.

Imported by the scripts beside it (``bench/`` is on ``sys.path`` when one of them runs).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = [
    "LOOPBACK",
    "child_env",
    "free_port",
    "say",
    "set_quiet",
    "stop_process",
    "udp_receive_buffer_errors",
    "write_csv",
]

LOOPBACK = "127.0.0.1"
STOP_TIMEOUT = 10.0  # seconds a child has to stop before it is killed

_quiet = [False]
_handed_out: set[tuple[str, int]] = set()


def set_quiet(quiet: bool) -> None:
    """``--json-only``: no progress lines."""
    _quiet[0] = quiet


def say(text: str) -> None:
    """A progress line on stderr (stdout carries only the JSON)."""
    if not _quiet[0]:
        print(text, file=sys.stderr, flush=True)


def child_env() -> dict[str, str]:
    """The environment of a ``ringfence`` child: every command gets ``--data-dir`` (and its
    database) explicitly, and its output is not buffered."""
    env = dict(os.environ)
    env.pop("RINGFENCE_DATA", None)
    env.pop("RINGFENCE_DB", None)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def free_port(host: str = LOOPBACK) -> int:
    """A port free for both UDP and TCP on ``host``, not handed out before in this run."""
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind((host, 0))
            port = int(tcp.getsockname()[1])
        if (host, port) in _handed_out:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            try:
                udp.bind((host, port))
            except OSError:
                continue
        _handed_out.add((host, port))
        return port
    raise RuntimeError(f"no free UDP+TCP port on {host}")


def stop_process(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> int:
    """Signal ``process`` (this run's own child), wait, kill it if it outlives STOP_TIMEOUT."""
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            return -9
    return process.returncode


def write_csv(path: Path, rows: Sequence[Sequence[str]]) -> Path:
    """A SIPp injection file, read in order (and again from the top when it runs out)."""
    path.write_text("SEQUENTIAL\n" + "".join(";".join(row) + "\n" for row in rows))
    path.chmod(0o600)
    return path


def udp_receive_buffer_errors() -> int | None:
    """The kernel's count of UDP datagrams dropped for a full receive buffer (all sockets)."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        rows = [
            r.split()
            for r in Path("/proc/net/snmp").read_text().splitlines()
            if r.startswith("Udp:")
        ]
        return int(rows[1][rows[0].index("RcvbufErrors")])
    return None
