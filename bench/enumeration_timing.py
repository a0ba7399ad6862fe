"""No enumeration by timing: a known extension with a wrong password against an unknown one; JSON.

Run by hand: ``.venv/bin/python bench/enumeration_timing.py [--samples N] [--tenants ip,domain]
[--methods REGISTER,...] [--seed N] [--json-only]``. Never a timed test. Loopback only; the run
is bounded (about a minute with the defaults on two cores). Progress goes to stderr, one JSON
object to stdout.

What it does:

1. Provisions a temporary data directory through ringfence's command line (``init``, ``tenant
   add``, ``ext add``): a tenant whose SIP domain is the server's own address (127.0.0.1, the
   digest realm too) and one named by a domain (``a.example``), each with ``KNOWN`` extensions.
   Then starts ``ringfence serve`` on free loopback ports with ``--guard-allow 127.0.0.1``, the
   measuring source, so that thousands of failed logins do not get it banned (the perimeter's
   bookkeeping for other sources is therefore not part of what is measured).
2. For each tenant, method (REGISTER, INVITE, OPTIONS, SUBSCRIBE, MESSAGE) and class (``known``:
   one of the provisioned extensions, with a wrong password; ``unknown``: a fresh extension name
   nobody provisioned, never asked about before, of the same length), ``--samples`` samples, all
   methods and both classes interleaved in one random order. One sample is two steps, each timed
   from the send of the request to the arrival of its final answer, over one UDP socket:
   - ``challenge``: the request without credentials (a 401/407 for REGISTER, INVITE and MESSAGE;
     OPTIONS is answered 200 and SUBSCRIBE 405 for everybody);
   - ``guess``: the same request with MD5 digest credentials (qop=auth, computed here) for a
     wrong password over the nonce of that fresh challenge (for OPTIONS and SUBSCRIBE, which are
     not challenged, over the nonce of an untimed MESSAGE challenge).
   INVITE's final answers are acknowledged (ACK), as a phone does. ``--warmup`` samples go first
   and are not counted.
3. Per tenant, method and step, per class: median, p90, p99 (µs); the difference of medians
   (known minus unknown); the noise (the split-half spread: for each class, the 95th
   percentile, over 200 random splits of its samples into two halves, of the difference of the
   two halves' medians: how far the same class lies from itself, run to run); the drift (second
   half of the run against the first); a Mann-Whitney U test (normal approximation with tie
   correction) and a two-sample Kolmogorov-Smirnov test (asymptotic p-value), both written here
   with the standard library (scipy is not installed); the answers' status codes per class,
   which must be the same.

"Within noise" (the JSON says so too): the difference of medians is no larger than the larger
split-half spread of the two classes (with no real difference, fewer than 1 comparison in 100
falls outside). Beside it, with 2 x 5 x 2 = 20 comparisons, a p-value under 0.01 / 20
(Bonferroni) is a difference the tests find significant. Both are reported; a
timing leak would show as a difference of medians past the noise *and* a tiny p-value, in the
same direction on a second run. The machine is shared (see ``loadavg``): other jobs widen the
noise, and the random interleaving keeps them from favouring one class.

``--unknown-pool N`` is the control: unknown names drawn from N fixed ones and reused, as the
known ones are. A difference that shows with fresh names and vanishes with a pool comes from the
service having seen a name lately (a cache), not from whether the extension exists; an
attacker's fresh name is still told from an extension whose phone keeps its address warm.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import hashlib
import json
import math
import os
import platform
import random
import re
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common import child_env, free_port, say, set_quiet, stop_process

BIN = Path(sys.executable).parent  # the venv's bin: ringfence lives beside python
RINGFENCE = BIN / "ringfence"
HOST = "127.0.0.1"
METHODS = ("REGISTER", "INVITE", "OPTIONS", "SUBSCRIBE", "MESSAGE")
STEPS = ("challenge", "guess")
CLASSES = ("known", "unknown")
KNOWN = 16  # provisioned extensions per tenant: 50000 ... 50015
#: Unknown names: five digits too, never provisioned, each used once per tenant (the warm-up
#: draws from a range of its own).
UNKNOWN_RANGE = (60000, 99999)
WARMUP_RANGE = (10000, 49999)
START_TIMEOUT = 20.0
ANSWER_TIMEOUT = 2.0
TENANTS = {"ip": ("benchip", HOST), "domain": ("benchdn", "a.example")}


# -- the service ----------------------------------------------------------------------------------


def password() -> str:
    return "k" + secrets.token_urlsafe(15)


_BATCH = """
import contextlib, json, os, sys
from ringfence.cli import app
with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
    for args in json.loads(sys.stdin.read()):
        try:
            app(args, standalone_mode=False)
        except SystemExit as done:
            if done.code:
                print("exit", done.code, args[:4], file=sys.stderr)
                sys.exit(1)
"""


@dataclass
class Service:
    work: Path
    tenants: dict[str, tuple[str, str]]  # kind -> (name, domain)
    passwords: dict[tuple[str, str], str]  # (kind, ext) -> password
    process: subprocess.Popen[bytes] | None = None

    def __post_init__(self) -> None:
        self.data_dir = self.work / "data"
        self.port, self.sips_port, self.metrics_port = free_port(), free_port(), free_port()
        self.log_path = self.work / "ringfence-serve.log"

    def provision(self) -> float:
        """Through the command line's own entry point, in one child process."""
        start = time.monotonic()
        commands: list[list[str]] = [["init"]]
        for kind, (name, domain) in self.tenants.items():
            commands.append(["tenant", "add", name, "--domain", domain])
            for ext in known_exts():
                commands.append(
                    ["ext", "add", name, ext, f"--password={self.passwords[(kind, ext)]}"]
                )
        done = subprocess.run(  # noqa: S603
            [sys.executable, "-c", _BATCH],
            input=json.dumps([[*c, "--data-dir", str(self.data_dir)] for c in commands]),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
            env=child_env(),
        )
        if done.returncode != 0:
            raise RuntimeError(f"provisioning failed: {done.stderr.strip()[-800:]}")
        return round(time.monotonic() - start, 1)

    def start(self) -> None:
        command = [
            str(RINGFENCE), "serve",
            "--data-dir", str(self.data_dir),
            "--sip", f"{HOST}:{self.port}",
            "--sips", f"{HOST}:{self.sips_port}",
            "--metrics", f"{HOST}:{self.metrics_port}",
            # The measuring source fails thousands of logins on purpose.
            "--guard-allow", HOST,
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
        with contextlib.closing(Client((HOST, self.port))) as probe:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"ringfence serve exited {self.process.returncode}")
                answer = probe.send(
                    "OPTIONS",
                    f"sip:{HOST}:{self.port}",
                    f"sip:probe@{HOST}",
                    f"sip:{HOST}",
                    timeout=0.25,
                )
                if answer.status == 200:
                    return
        raise RuntimeError("ringfence serve did not answer OPTIONS in time")

    def stop(self) -> int | None:
        process, self.process = self.process, None
        if process is None:
            return None
        return stop_process(process)

    def cpu_seconds(self) -> float | None:
        """The server's CPU time so far (user + system), from /proc."""
        if self.process is None:
            return None
        try:
            fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def known_exts() -> list[str]:
    return [str(50000 + i) for i in range(KNOWN)]


# -- a small SIP client over UDP --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Answer:
    status: int  # 0: no final answer in time
    reason: str
    challenge: dict[str, str] | None
    ns: int  # send to final answer


_CALL_ID = re.compile(rb"\r\nCall-ID[ \t]*:[ \t]*([^\r\n]+)", re.IGNORECASE)
_TO = re.compile(rb"\r\nTo[ \t]*:[ \t]*([^\r\n]+)", re.IGNORECASE)
_AUTH = re.compile(rb"\r\n(?:WWW|Proxy)-Authenticate[ \t]*:[ \t]*Digest ([^\r\n]+)", re.IGNORECASE)
_PARAM = re.compile(r'([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')
_SDP = (
    "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
)


class Client:
    def __init__(self, server: tuple[str, int]) -> None:
        self.server = server
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((HOST, 0))
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.port = self.sock.getsockname()[1]

    def close(self) -> None:
        self.sock.close()

    def send(
        self,
        method: str,
        uri: str,
        from_uri: str,
        to_uri: str,
        *,
        auth: str | None = None,
        timeout: float = ANSWER_TIMEOUT,
    ) -> Answer:
        branch = "z9hG4bK" + secrets.token_hex(10)
        call_id = f"{secrets.token_hex(12)}@{HOST}"
        via = f"SIP/2.0/UDP {HOST}:{self.port};branch={branch};rport"
        from_ = f"<{from_uri}>;tag={secrets.token_hex(5)}"
        user = from_uri.split(":", 1)[1].split("@", 1)[0]
        lines = [
            f"{method} {uri} SIP/2.0",
            f"Via: {via}",
            "Max-Forwards: 70",
            f"From: {from_}",
            f"To: <{to_uri}>",
            f"Call-ID: {call_id}",
            f"CSeq: 1 {method}",
            f"Contact: <sip:{user}@{HOST}:{self.port}>",
            "User-Agent: enumeration-bench",
        ]
        body = ""
        if method == "REGISTER":
            lines.append("Expires: 60")
        elif method == "SUBSCRIBE":
            lines += ["Event: presence", "Expires: 60"]
        elif method == "INVITE":
            lines.append("Content-Type: application/sdp")
            body = _SDP
        elif method == "MESSAGE":
            lines.append("Content-Type: text/plain")
            body = "hello"
        if auth is not None:
            lines.append(
                f"{'Authorization' if method == 'REGISTER' else 'Proxy-Authorization'}: {auth}"
            )
        lines.append(f"Content-Length: {len(body)}")
        data = ("\r\n".join(lines) + "\r\n\r\n" + body).encode()
        wanted = call_id.encode()
        deadline = time.monotonic() + timeout
        start = time.perf_counter_ns()
        self.sock.sendto(data, self.server)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return Answer(0, "", None, 0)
            self.sock.settimeout(left)
            try:
                answer = self.sock.recv(65535)
            except TimeoutError:
                return Answer(0, "", None, 0)
            if answer.startswith(b"SIP/2.0 1"):
                continue
            found = _CALL_ID.search(answer)
            if found is None or found.group(1).strip() != wanted:
                continue  # a late retransmission of an earlier transaction
            ns = time.perf_counter_ns() - start
            break
        first = answer.split(b"\r\n", 1)[0].decode()
        _, status, reason = first.split(" ", 2)
        challenge = None
        if (auth_match := _AUTH.search(answer)) is not None:
            challenge = {
                m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3)
                for m in _PARAM.finditer(auth_match.group(1).decode())
            }
        if method == "INVITE":
            to = _TO.search(answer)
            ack = [
                f"ACK {uri} SIP/2.0",
                f"Via: {via}",
                "Max-Forwards: 70",
                f"From: {from_}",
                f"To: {to.group(1).decode() if to else f'<{to_uri}>'}",
                f"Call-ID: {call_id}",
                "CSeq: 1 ACK",
                "Content-Length: 0",
            ]
            self.sock.sendto(("\r\n".join(ack) + "\r\n\r\n").encode(), self.server)
        return Answer(int(status), reason, challenge, ns)


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()  # noqa: S324 (SIP digest is MD5)


def digest(challenge: dict[str, str], method: str, uri: str, username: str, secret: str) -> str:
    """RFC 2617 §3.2.2 with qop=auth (RFC 3261 §22.4)."""
    realm, nonce = challenge["realm"], challenge["nonce"]
    ha1, ha2 = _md5(f"{username}:{realm}:{secret}"), _md5(f"{method}:{uri}")
    cnonce, nc = secrets.token_hex(8), "00000001"
    response = _md5(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}")
    value = (
        f'Digest username="{username}", realm="{realm}", nonce="{nonce}", uri="{uri}", '
        f'response="{response}", algorithm=MD5, cnonce="{cnonce}", qop=auth, nc={nc}'
    )
    if "opaque" in challenge:
        value += f', opaque="{challenge["opaque"]}"'
    return value


# -- one sample -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sample:
    tenant: str
    method: str
    cls: str
    step: str
    ns: int
    status: int


def take(
    client: Client, *, port: int, tenant: str, domain: str, method: str, cls: str, user: str
) -> list[Sample]:
    """The two steps of one sample: without credentials, then with a wrong password over a
    fresh nonce."""
    host = f"{domain}:{port}" if domain == HOST else domain
    callee = known_exts()[-1]  # a known callee (never the caller: KNOWN > 1, see plan())
    if method == "REGISTER":
        uri, from_uri, to_uri = f"sip:{host}", f"sip:{user}@{domain}", f"sip:{user}@{domain}"
    else:
        uri, from_uri, to_uri = (
            f"sip:{callee}@{host}",
            f"sip:{user}@{domain}",
            f"sip:{callee}@{domain}",
        )
    first = client.send(method, uri, from_uri, to_uri)
    samples = [Sample(tenant, method, cls, "challenge", first.ns, first.status)]
    challenge = first.challenge
    if challenge is None:  # OPTIONS, SUBSCRIBE: a MESSAGE's nonce (untimed)
        challenge = client.send(
            "MESSAGE", f"sip:{callee}@{host}", from_uri, f"sip:{callee}@{domain}"
        ).challenge
    if challenge is None:
        return [*samples, Sample(tenant, method, cls, "guess", 0, 0)]
    auth = digest(challenge, method, uri, user, "Wrong-" + secrets.token_hex(8))
    second = client.send(method, uri, from_uri, to_uri, auth=auth)
    samples.append(Sample(tenant, method, cls, "guess", second.ns, second.status))
    return samples


# -- statistics, by hand --------------------------------------------------------------------------


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not sorted_values:
        return math.nan
    pos = (len(sorted_values) - 1) * q
    low = math.floor(pos)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (pos - low)


def median(values: Sequence[float]) -> float:
    return percentile(sorted(values), 0.5)


def _normal_sf(z: float) -> float:
    return 0.5 * math.erfc(z / math.sqrt(2))


def mann_whitney(a: Sequence[float], b: Sequence[float]) -> dict[str, float]:
    """Two-sided Mann-Whitney U, normal approximation with tie correction and continuity
    correction. ``u`` is the U of ``a``; ``auc`` = U / (n1 n2), the chance that a sample of
    ``a`` exceeds one of ``b`` (0.5: no difference)."""
    n1, n2 = len(a), len(b)
    pooled = sorted([(x, 0) for x in a] + [(x, 1) for x in b])
    ranks = [0.0] * len(pooled)
    ties = 0.0
    i = 0
    while i < len(pooled):
        j = i
        while j + 1 < len(pooled) and pooled[j + 1][0] == pooled[i][0]:
            j += 1
        rank = (i + j) / 2 + 1
        for k in range(i, j + 1):
            ranks[k] = rank
        t = j - i + 1
        ties += t**3 - t
        i = j + 1
    r1 = sum(r for r, (_, group) in zip(ranks, pooled, strict=True) if group == 0)
    u1 = r1 - n1 * (n1 + 1) / 2
    n = n1 + n2
    mean = n1 * n2 / 2
    var = n1 * n2 / 12 * ((n + 1) - ties / (n * (n - 1)))
    if var <= 0:
        return {"u": u1, "z": 0.0, "p": 1.0, "auc": u1 / (n1 * n2)}
    z = (abs(u1 - mean) - 0.5) / math.sqrt(var)
    z = max(z, 0.0)
    return {"u": u1, "z": round(z, 3), "p": min(1.0, 2 * _normal_sf(z)), "auc": u1 / (n1 * n2)}


def ks_2samp(a: Sequence[float], b: Sequence[float]) -> dict[str, float]:
    """Two-sample Kolmogorov-Smirnov: D = sup |F_a - F_b|, asymptotic two-sided p-value
    (Kolmogorov distribution, with Stephens' small-sample correction)."""
    xs, ys = sorted(a), sorted(b)
    n1, n2 = len(xs), len(ys)
    i = j = 0
    d = 0.0
    while i < n1 and j < n2:
        x = min(xs[i], ys[j])
        while i < n1 and xs[i] == x:
            i += 1
        while j < n2 and ys[j] == x:
            j += 1
        d = max(d, abs(i / n1 - j / n2))
    ne = n1 * n2 / (n1 + n2)
    lam = (math.sqrt(ne) + 0.12 + 0.11 / math.sqrt(ne)) * d
    if lam < 1e-3:
        p = 1.0
    else:
        p = 2 * sum((-1) ** (k - 1) * math.exp(-2 * k * k * lam * lam) for k in range(1, 101))
        p = min(1.0, max(0.0, p))
    return {"d": round(d, 4), "p": p}


def _us(ns: float) -> float:
    return round(ns / 1000, 1)


def describe(values: Sequence[int]) -> dict[str, Any]:
    ordered = sorted(values)
    return {
        "n": len(ordered),
        "median_us": _us(percentile(ordered, 0.5)),
        "p90_us": _us(percentile(ordered, 0.9)),
        "p99_us": _us(percentile(ordered, 0.99)),
    }


SPLITS = 200  # random split-halves per class for the noise bound
NOISE_QUANTILE = 0.95


def split_half_noise(values: Sequence[int], rng: random.Random) -> float:
    """The same-class spread: over ``SPLITS`` random splits of one class into two halves, the
    95th percentile of |median(half 1) - median(half 2)|. Two halves of n/2 differ a little
    more by chance than two classes of n each do, so this bound is on the cautious side: with
    no difference at all, about one comparison in a hundred falls outside it."""
    pool = list(values)
    half = len(pool) // 2
    spreads = []
    for _ in range(SPLITS):
        rng.shuffle(pool)
        spreads.append(abs(median(pool[:half]) - median(pool[half : 2 * half])))
    return percentile(sorted(spreads), NOISE_QUANTILE)


def compare(
    known: list[Sample], unknown: list[Sample], alpha: float, rng: random.Random
) -> dict[str, Any]:
    a = [s.ns for s in known if s.status]
    b = [s.ns for s in unknown if s.status]
    diff = median(a) - median(b)
    noise = {"known": split_half_noise(a, rng), "unknown": split_half_noise(b, rng)}
    # Drift: the first half of the run against the second (samples are in time order).
    drift = {
        cls: median(v[len(v) // 2 :]) - median(v[: len(v) // 2])
        for cls, v in (("known", a), ("unknown", b))
    }
    mw, ks = mann_whitney(a, b), ks_2samp(a, b)
    aa = ks_2samp(a[::2], a[1::2])
    statuses = {
        "known": dict(Counter(str(s.status) for s in known)),
        "unknown": dict(Counter(str(s.status) for s in unknown)),
    }
    return {
        "known": describe(a),
        "unknown": describe(b),
        "median_diff_us": _us(diff),
        "noise_us": {k: _us(v) for k, v in noise.items()},
        "within_noise": abs(diff) <= max(noise.values()),
        "drift_us": {k: _us(v) for k, v in drift.items()},
        "mann_whitney": {
            "z": mw["z"],
            "p": float(f"{mw['p']:.3g}"),
            "p_known_slower": round(mw["auc"], 4),
        },
        "ks": {"d": ks["d"], "p": float(f"{ks['p']:.3g}")},
        "aa_ks_known_halves": {"d": aa["d"], "p": float(f"{aa['p']:.3g}")},
        "significant": mw["p"] < alpha or ks["p"] < alpha,
        "statuses": statuses,
        "same_statuses": set(statuses["known"]) == set(statuses["unknown"]),
        "lost": len(known) - len(a) + len(unknown) - len(b),
    }


# -- the run --------------------------------------------------------------------------------------


def plan(
    tenants: Sequence[str],
    methods: Sequence[str],
    samples: int,
    rng: random.Random,
    *,
    unknown_range: tuple[int, int] = UNKNOWN_RANGE,
    unknown_pool: int = 0,
) -> list[tuple[str, str, str, str]]:
    """(tenant, method, class, user) in one random order. Unknown users are fresh each time,
    or (``unknown_pool`` > 0) drawn at random from that many names, as the known ones are."""
    callers = known_exts()[:-1]  # the last one is the callee
    out = []
    for t in tenants:
        if unknown_pool:
            pool = [str(n) for n in rng.sample(range(*unknown_range), unknown_pool)]
            names = iter([rng.choice(pool) for _ in range(samples * len(methods))])
        else:
            names = iter(str(n) for n in rng.sample(range(*unknown_range), samples * len(methods)))
        for m in methods:
            for _ in range(samples):
                out.append((t, m, "known", rng.choice(callers)))
                out.append((t, m, "unknown", next(names)))
    rng.shuffle(out)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=2000, help="per class, method and tenant")
    parser.add_argument("--warmup", type=int, default=200, help="untimed samples first")
    parser.add_argument("--tenants", default="ip,domain", help="ip (domain = 127.0.0.1), domain")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument(
        "--unknown-pool",
        type=int,
        default=0,
        help="0: a fresh unknown name every sample (an attacker walking names); N: unknown "
        "names drawn from N fixed ones, reused as the known ones are (a control)",
    )
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--json-only", action="store_true")
    args = parser.parse_args(argv)
    set_quiet(args.json_only)
    tenants = [t for t in args.tenants.split(",") if t]
    methods = [m.upper() for m in args.methods.split(",") if m]
    assert all(t in TENANTS for t in tenants), tenants
    assert all(m in METHODS for m in methods), methods
    seed = args.seed if args.seed is not None else secrets.randbits(32)
    rng = random.Random(seed)
    started = time.monotonic()
    load_at_start = [round(x, 2) for x in os.getloadavg()]
    comparisons = len(tenants) * len(methods) * len(STEPS)
    alpha = 0.01 / comparisons

    with tempfile.TemporaryDirectory(prefix="ringfence-enum-") as tmp:
        chosen = {k: TENANTS[k] for k in tenants}
        passwords = {(k, e): password() for k in chosen for e in known_exts()}
        service = Service(Path(tmp), chosen, passwords)
        say("provisioning ...")
        provision_s = service.provision()
        say(f"  {provision_s} s; starting ringfence serve on udp {HOST}:{service.port}")
        service.start()
        client = Client((HOST, service.port))
        results: list[Sample] = []
        try:
            # Sanity: a known extension with its right password does get in (so "known" is).
            for kind, (_, domain) in chosen.items():
                ext = known_exts()[0]
                host = f"{domain}:{service.port}" if domain == HOST else domain
                first = client.send(
                    "REGISTER", f"sip:{host}", f"sip:{ext}@{domain}", f"sip:{ext}@{domain}"
                )
                assert first.challenge is not None, first
                auth = digest(
                    first.challenge, "REGISTER", f"sip:{host}", ext, passwords[(kind, ext)]
                )
                ok = client.send(
                    "REGISTER",
                    f"sip:{host}",
                    f"sip:{ext}@{domain}",
                    f"sip:{ext}@{domain}",
                    auth=auth,
                )
                if ok.status != 200:
                    raise RuntimeError(f"{kind}: REGISTER with the right password got {ok.status}")
            per = max(1, args.warmup // (2 * len(methods) * len(tenants)))
            warm = plan(tenants, methods, per, rng, unknown_range=WARMUP_RANGE)
            say(f"warm-up: {len(warm)} samples")
            for tenant, method, cls, user in warm:
                take(
                    client,
                    port=service.port,
                    tenant=tenant,
                    domain=chosen[tenant][1],
                    method=method,
                    cls=cls,
                    user=user,
                )
            order = plan(tenants, methods, args.samples, rng, unknown_pool=args.unknown_pool)
            say(f"measuring: {len(order)} samples of two steps, in random order")
            cpu_before = service.cpu_seconds()
            measure_start = time.monotonic()
            gc.collect()
            gc.disable()
            try:
                for n, (tenant, method, cls, user) in enumerate(order, 1):
                    results += take(
                        client,
                        port=service.port,
                        tenant=tenant,
                        domain=chosen[tenant][1],
                        method=method,
                        cls=cls,
                        user=user,
                    )
                    if n % 5000 == 0:
                        say(f"  {n}/{len(order)}")
            finally:
                gc.enable()
            measure_s = time.monotonic() - measure_start
            cpu_after = service.cpu_seconds()
        finally:
            client.close()
            exit_code = service.stop()

    report: dict[str, Any] = {}
    outside: list[str] = []
    significant: list[str] = []
    status_mismatch: list[str] = []
    for tenant in tenants:
        per_method: dict[str, Any] = {}
        for method in methods:
            per_step: dict[str, Any] = {}
            for step in STEPS:
                rows = [
                    s for s in results if (s.tenant, s.method, s.step) == (tenant, method, step)
                ]
                known = [s for s in rows if s.cls == "known"]
                unknown = [s for s in rows if s.cls == "unknown"]
                found = compare(known, unknown, alpha, rng)
                per_step[step] = found
                key = f"{tenant}/{method}/{step}"
                if not found["within_noise"]:
                    outside.append(key)
                if found["significant"]:
                    significant.append(key)
                if not found["same_statuses"]:
                    status_mismatch.append(key)
            per_method[method] = per_step
        report[tenant] = {"domain": chosen[tenant][1], "methods": per_method}

    result = {
        "bench": "enumeration_timing",
        "question": "Does the time to answer tell a known extension with a wrong password from "
        "an unknown extension, for REGISTER, INVITE, OPTIONS, SUBSCRIBE and MESSAGE?",
        "within_noise_means": (
            "|median(known) - median(unknown)| <= noise_us, the larger of the two classes' "
            f"split-half spreads; a class's split-half spread is the {NOISE_QUANTILE:.0%} "
            f"quantile, over {SPLITS} random splits of its samples into two halves, of "
            "|median(half 1) - median(half 2)|: how far the same class lies from itself, run "
            "to run. With no real difference, fewer than 1 comparison in 100 falls outside it. "
            "drift_us (second half of the run minus the first) is shown for the machine's "
            "steadiness"
        ),
        "significance": {
            "tests": "Mann-Whitney U (normal approximation, tie- and continuity-corrected) and "
            "two-sample Kolmogorov-Smirnov (asymptotic), by hand (scipy is not installed)",
            "alpha_per_comparison": alpha,
            "comparisons": comparisons,
            "note": "alpha is 0.01 Bonferroni-corrected over the comparisons; "
            "mann_whitney.p_known_slower is P(a known sample > an unknown one), 0.5 = alike; "
            "aa_ks_known_halves is the KS test of the known class against itself (A/A), "
            "for scale",
        },
        "setup": {
            "samples_per_class": args.samples,
            "warmup_samples": len(warm),
            "seed": seed,
            "known": f"{KNOWN - 1} provisioned extensions (5 digits), chosen at random, "
            "wrong password",
            "unknown": "a fresh 5-digit name for every sample, never provisioned nor asked "
            "about before"
            if not args.unknown_pool
            else f"{args.unknown_pool} 5-digit names never provisioned, chosen at random (reused "
            "like the known ones: a control)",
            "steps": {
                "challenge": "request without credentials, to its final answer",
                "guess": "request with MD5 digest credentials for a wrong password over a "
                "fresh nonce, to its final answer (OPTIONS, SUBSCRIBE: a MESSAGE's nonce)",
            },
            "transport": "UDP over loopback, one socket, one request at a time",
            "source": f"{HOST}, allow-listed (--guard-allow): perimeter bookkeeping not measured",
            "server": f"ringfence serve, SQLite in a temporary data directory, {provision_s} s "
            "to provision",
        },
        "tenants": report,
        "summary": {
            "outside_noise": outside,
            "significant": significant,
            "status_mismatch": status_mismatch,
            "all_within_noise": not outside,
            "none_significant": not significant,
        },
        "run": {
            "measure_seconds": round(measure_s, 1),
            "server_cpu_seconds": None
            if cpu_before is None or cpu_after is None
            else round(cpu_after - cpu_before, 1),
            "seconds": round(time.monotonic() - started, 1),
            "server_exit_code": exit_code,
            "loadavg_at_start": load_at_start,
            "loadavg_at_end": [round(x, 2) for x in os.getloadavg()],
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
        },
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
