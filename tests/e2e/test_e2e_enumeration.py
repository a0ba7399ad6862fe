"""No enumeration, seen from the network: the running service, a raw SIP client over real UDP.

The requirement: for REGISTER, INVITE, OPTIONS, SUBSCRIBE and MESSAGE, the answer about an
unknown extension cannot be told apart from the answer about a known extension with a wrong
password, in status, headers and timing (within noise). A tenant whose SIP domain is the
server's own IP address is covered as well as one with a domain name.

For each tenant and method, two requests that differ only in the user are compared:

* without credentials: the first answers (a 100 Trying included, for an INVITE);
* with digest credentials (MD5, qop=auth, computed here with hashlib) for a wrong password,
  each over the nonce of a fresh challenge of its own. OPTIONS and SUBSCRIBE are never
  challenged, so they carry credentials over the nonce of a MESSAGE's challenge.

"The user" is the one the service authenticates (the REGISTER's To and digest username, the
From and digest username of the rest), and separately the Request-URI/To user while From stays
the same. Compared are the status and reason phrase, the header names in order, the header
values once the parts random by design are masked (the echoed From, To, Call-ID and Via are
checked to be echoes and then masked; the To tag and the nonce are masked, their length kept)
and the datagram sizes (the users compared have names of the same length).

The comparison could hold because nothing works at all, so the known extension with the right
password must get in (REGISTER 200, INVITE and MESSAGE past authentication), and a wrong
password must be refused (403), not challenged again.

The phones speak from 127.0.0.1, which the e2e service allow-lists (never banned), so that the
many failed logins here do not ban the socket. The perimeter itself is compared too: from
addresses that are not allow-listed, failed logins for a known extension and for an unknown one
lead to a ban after the same number of attempts.

Timing is a benchmark's job, not a test's (DESIGN.md): ``bench/enumeration_timing.py`` times
both steps of every method for both tenants, a known extension against a name never seen, and
says whether they differ beyond the noise.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

SERVER_IP = "127.0.0.1"  # where the e2e service listens: the IP tenant's domain
LOCAL_IP = "127.0.0.1"  # allow-listed by the e2e service: never banned
#: Not allow-listed; one address per comparison of the perimeter's bans.
OUTSIDE_NET = "127.0.12."
METHODS = ("REGISTER", "INVITE", "OPTIONS", "SUBSCRIBE", "MESSAGE")
ANSWER_TIMEOUT = 3.0  # seconds for a final answer
SILENCE = 0.6  # seconds without an answer that count as "dropped" (loopback answers in ms)
FAILURES_TO_BAN = 5  # the perimeter's default: failed logins from one address


@dataclass(frozen=True, slots=True)
class Account:
    tenant: str
    domain: str
    ext: str
    password: str


@dataclass(frozen=True, slots=True)
class Realm:
    """A tenant as the test sees it: its domain, two known extensions and two unknown ones
    (every name four characters long, so that echoes are the same size)."""

    name: str
    domain: str
    known: Account  # 1001: the caller whose password is wrong
    other: Account  # 1002: a known callee
    unknown: str  # 1009: no such extension
    unknown_other: str  # 1008: no such callee either


_PASSWORDS = {
    ("alpha", "1001"): "Vb7qLx2mNc9tRz4wKp6s",
    ("alpha", "1002"): "Hd3fGj8kWq5yTn2vXc7e",
    ("lan", "1001"): "Ys6pEa9rJm4uBk8zQh3w",
    ("lan", "1002"): "Ft2nCw7gLv5xDs9bMe4k",
}


def _realm(name: str, domain: str) -> Realm:
    def account(ext: str) -> Account:
        return Account(name, domain, ext, _PASSWORDS[(name, ext)])

    return Realm(name, domain, account("1001"), account("1002"), "1009", "1008")


REALMS = {
    "domain": _realm("alpha", "a.example"),
    # The tenant whose SIP domain is the address the service listens on (see the fixture).
    "ip": _realm("lan", SERVER_IP),
}


# -- the service ---------------------------------------------------------------------------------

_PROVISION = """
import contextlib, json, os, sys
from ringfence.cli import app
failed = 0
with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
    for args in json.loads(sys.stdin.read()):
        try:
            app(args, standalone_mode=False)
        except SystemExit as done:
            if done.code:
                print("exit", done.code, args[:4], file=sys.stderr)
                failed = 1
sys.exit(failed)
"""


def _provision(data_dir: Path, toolkit: Any) -> None:
    """The tenants and extensions, through the command line's own entry point in one process
    (one ``ringfence`` run per command if that fails)."""
    commands = [["init"]]
    for realm in REALMS.values():
        commands.append(["tenant", "add", realm.name, "--domain", realm.domain])
        for account in (realm.known, realm.other):
            commands.append(["ext", "add", realm.name, account.ext, "--password", account.password])
    batch = subprocess.run(
        [sys.executable, "-c", _PROVISION],
        input=json.dumps([[*c, "--data-dir", str(data_dir)] for c in commands]),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if batch.returncode != 0:
        shutil.rmtree(data_dir, ignore_errors=True)
        for command in commands:
            toolkit.run_cli(data_dir, *command)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, toolkit: Any) -> Iterator[Any]:
    """``ringfence serve`` on 127.0.0.1 (the ``service`` fixture's class, so its allow-list),
    with a tenant named by a domain and a tenant whose domain is 127.0.0.1 itself."""
    base = tmp_path_factory.mktemp("enumeration")
    data_dir = base / "data"
    _provision(data_dir, toolkit)
    service = toolkit.service(data_dir, base)
    assert service.host == SERVER_IP, "the IP tenant's domain must be the service's address"
    service.start()
    yield service
    service.stop_cleanly()  # exits 0 on SIGTERM, or fails with the service's log


# -- a small SIP client over UDP -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sent:
    method: str
    uri: str
    via: str
    from_: str
    to: str
    call_id: str


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]
    size: int

    def get(self, name: str) -> str | None:
        wanted = name.lower()
        return next((v for n, v in self.headers if n.lower() == wanted), None)


@dataclass(frozen=True, slots=True)
class Exchange:
    sent: Sent
    replies: tuple[Reply, ...]  # every answer up to the final one, provisional ones included
    seconds: float  # from sending to the final answer

    @property
    def final(self) -> Reply:
        assert self.replies, f"no answer to {self.sent.method} {self.sent.uri}"
        return self.replies[-1]


def parse_reply(data: bytes) -> Reply:
    head = data.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
    lines = head.split("\r\n")
    version, status, reason = lines[0].split(" ", 2)
    assert version == "SIP/2.0", lines[0]
    headers = []
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.append((name.strip(), value.strip()))
    return Reply(int(status), reason, tuple(headers), len(data))


def _call_id_of(data: bytes) -> str | None:
    match = re.search(rb"\r\n(?:Call-ID|i)[ \t]*:[ \t]*([^\r\n]+)", data, re.IGNORECASE)
    return match.group(1).decode().strip() if match else None


_SDP = (
    "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
)


class Phone:
    """One UDP socket from ``local_ip`` to the service; every request is a new transaction
    with random Call-ID, branch and From tag of fixed lengths."""

    def __init__(self, server: tuple[str, int], local_ip: str = LOCAL_IP) -> None:
        self.server = server
        self.local_ip = local_ip
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((local_ip, 0))
        self.port = self.sock.getsockname()[1]

    def close(self) -> None:
        self.sock.close()

    def request(
        self,
        method: str,
        *,
        uri: str,
        from_uri: str,
        to_uri: str,
        auth: str | None = None,
        expires: int = 60,
        timeout: float = ANSWER_TIMEOUT,
    ) -> Exchange:
        branch = "z9hG4bK" + secrets.token_hex(10)
        call_id = f"{secrets.token_hex(12)}@{self.local_ip}"
        via = f"SIP/2.0/UDP {self.local_ip}:{self.port};branch={branch};rport"
        from_ = f"<{from_uri}>;tag={secrets.token_hex(5)}"
        to = f"<{to_uri}>"
        user = from_uri.split(":", 1)[1].split("@", 1)[0]
        lines = [
            f"{method} {uri} SIP/2.0",
            f"Via: {via}",
            "Max-Forwards: 70",
            f"From: {from_}",
            f"To: {to}",
            f"Call-ID: {call_id}",
            f"CSeq: 1 {method}",
            f"Contact: <sip:{user}@{self.local_ip}:{self.port}>",
            "User-Agent: enumeration-e2e",
        ]
        body = ""
        if method == "REGISTER":
            lines.append(f"Expires: {expires}")
        elif method == "SUBSCRIBE":
            lines += ["Event: presence", "Expires: 60"]
        elif method == "INVITE":
            lines.append("Content-Type: application/sdp")
            body = _SDP
        elif method == "MESSAGE":
            lines.append("Content-Type: text/plain")
            body = "hello"
        if auth is not None:
            name = "Authorization" if method == "REGISTER" else "Proxy-Authorization"
            lines.append(f"{name}: {auth}")
        lines.append(f"Content-Length: {len(body.encode())}")
        data = ("\r\n".join(lines) + "\r\n\r\n" + body).encode()
        sent = Sent(method, uri, via, from_, to, call_id)
        replies: list[Reply] = []
        start = time.perf_counter()
        elapsed = 0.0
        self.sock.sendto(data, self.server)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.001, deadline - time.monotonic()))
            try:
                answer = self.sock.recv(65535)
            except TimeoutError:
                break
            if _call_id_of(answer) != call_id:
                continue  # a late retransmission of an earlier transaction
            reply = parse_reply(answer)
            replies.append(reply)
            if reply.status >= 200:
                elapsed = time.perf_counter() - start
                if method == "INVITE":
                    self._ack(sent, reply)
                break
        return Exchange(sent, tuple(replies), elapsed)

    def _ack(self, sent: Sent, final: Reply) -> None:
        """RFC 3261 §17.1.1.3: the ACK of a non-2xx final answer, in its transaction."""
        lines = [
            f"ACK {sent.uri} SIP/2.0",
            f"Via: {sent.via}",
            "Max-Forwards: 70",
            f"From: {sent.from_}",
            f"To: {final.get('To')}",
            f"Call-ID: {sent.call_id}",
            "CSeq: 1 ACK",
            "Content-Length: 0",
        ]
        self.sock.sendto(("\r\n".join(lines) + "\r\n\r\n").encode(), self.server)


# -- digest (RFC 2617 §3.2.2, RFC 3261 §22.4) -------------------------------------------------


_PARAM = re.compile(r'([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')


def challenge_of(reply: Reply) -> dict[str, str]:
    value = reply.get("WWW-Authenticate") or reply.get("Proxy-Authenticate")
    assert value is not None, f"{reply.status} {reply.reason} carries no challenge"
    scheme, _, rest = value.partition(" ")
    assert scheme.lower() == "digest", value
    return {
        m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3)
        for m in _PARAM.finditer(rest)
    }


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()  # noqa: S324 (SIP digest is MD5)


def digest(
    challenge: dict[str, str], *, method: str, uri: str, username: str, password: str
) -> str:
    """The credentials that answer ``challenge`` for ``username`` with ``password``."""
    assert challenge.get("algorithm", "MD5").upper() == "MD5", challenge
    realm, nonce = challenge["realm"], challenge["nonce"]
    ha1 = _md5(f"{username}:{realm}:{password}")
    ha2 = _md5(f"{method}:{uri}")
    params = [f'username="{username}"', f'realm="{realm}"', f'nonce="{nonce}"', f'uri="{uri}"']
    if "qop" in challenge:
        assert "auth" in challenge["qop"].split(","), challenge
        cnonce, nc = secrets.token_hex(8), "00000001"
        response = _md5(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}")
        params += [
            f'response="{response}"',
            "algorithm=MD5",
            f'cnonce="{cnonce}"',
            "qop=auth",
            f"nc={nc}",
        ]
    else:
        params += [f'response="{_md5(f"{ha1}:{nonce}:{ha2}")}"', "algorithm=MD5"]
    if "opaque" in challenge:
        params.append(f'opaque="{challenge["opaque"]}"')
    return "Digest " + ", ".join(params)


# -- who is asked about: the requests the test compares ------------------------------------------


@dataclass(frozen=True, slots=True)
class Ask:
    """One request shape: ``caller`` is the user the service authenticates (To and digest
    username of a REGISTER, From and digest username of the rest), ``callee`` the user of the
    Request-URI and To (a REGISTER's To is its caller; ``callee`` is then its To user)."""

    realm: Realm
    method: str
    caller: str
    callee: str

    def uris(self, port: int) -> tuple[str, str, str]:
        domain = self.realm.domain
        # The IP tenant's phones name the server with its port, as a phone set up with an
        # address does; the domain tenant's phones use the domain alone.
        host = f"{domain}:{port}" if domain == SERVER_IP else domain
        if self.method == "REGISTER":
            return f"sip:{host}", f"sip:{self.caller}@{domain}", f"sip:{self.callee}@{domain}"
        return (
            f"sip:{self.callee}@{host}",
            f"sip:{self.caller}@{domain}",
            f"sip:{self.callee}@{domain}",
        )


def ask(
    phone: Phone,
    q: Ask,
    *,
    auth: str | None = None,
    expires: int = 60,
    timeout: float = ANSWER_TIMEOUT,
) -> Exchange:
    uri, from_uri, to_uri = q.uris(phone.server[1])
    if q.method == "REGISTER":
        from_uri = to_uri  # a REGISTER's From and To name the address-of-record
    return phone.request(
        q.method,
        uri=uri,
        from_uri=from_uri,
        to_uri=to_uri,
        auth=auth,
        expires=expires,
        timeout=timeout,
    )


def challenge_for(phone: Phone, q: Ask) -> dict[str, str]:
    """A fresh challenge for ``q``: its own (REGISTER, INVITE, MESSAGE) or, for a method the
    service never challenges, that of a MESSAGE from the same caller."""
    first = ask(phone, q).final
    if first.status in (401, 407):
        return challenge_of(first)
    message = ask(phone, Ask(q.realm, "MESSAGE", q.caller, q.callee)).final
    assert message.status == 407, f"MESSAGE without credentials: {message.status}"
    return challenge_of(message)


def with_credentials(phone: Phone, q: Ask, password: str, *, expires: int = 60) -> Exchange:
    """``q`` carrying credentials for ``password`` over a fresh challenge's nonce."""
    challenge = challenge_for(phone, q)
    uri = q.uris(phone.server[1])[0]
    auth = digest(challenge, method=q.method, uri=uri, username=q.caller, password=password)
    return ask(phone, q, auth=auth, expires=expires)


# -- what may differ, and what may not -----------------------------------------------------------

_TAG = r"[A-Za-z0-9\-.!%*_+`'~]+"
_NONCE = re.compile(r'\b(nonce|opaque)="([^"]*)"')


def _mask(name: str, value: str, sent: Sent) -> str:
    key = name.lower()
    if key in ("from", "f") and value == sent.from_:
        return "<From as sent>"
    if key in ("to", "t"):
        if value == sent.to:
            return "<To as sent>"
        tagged = re.fullmatch(re.escape(sent.to) + f";tag=({_TAG})", value)
        if tagged:
            return f"<To as sent>;tag=<{len(tagged.group(1))} chars>"
    if key in ("call-id", "i") and value == sent.call_id:
        return "<Call-ID as sent>"
    if key in ("via", "v") and value.startswith(sent.via):
        return "<Via as sent>" + value[len(sent.via) :]
    if key in ("www-authenticate", "proxy-authenticate"):
        return _NONCE.sub(lambda m: f'{m.group(1)}="<{len(m.group(2))} chars>"', value)
    return value


def masked(exchange: Exchange) -> list[tuple[Any, ...]]:
    """Each answer as (status, reason, size, header names and masked values). What the
    request chose is checked to be echoed, then masked; what the service draws at random
    (the To tag, the nonce, an opaque) is masked with its length kept."""
    sent = exchange.sent
    return [
        (r.status, r.reason, r.size, tuple((n, _mask(n, v, sent)) for n, v in r.headers))
        for r in exchange.replies
    ]


def assert_alike(known: Exchange, unknown: Exchange, what: str) -> None:
    assert known.replies, f"{what}: no answer about the known extension"
    assert unknown.replies, f"{what}: no answer about the unknown extension"
    a, b = masked(known), masked(unknown)
    if a != b:
        lines = [f"{what}: the answers tell a known extension from an unknown one"]
        for n, (x, y) in enumerate(zip(a, b, strict=False)):
            if x != y:
                lines.append(f"  answer {n + 1}, known:   {x}")
                lines.append(f"  answer {n + 1}, unknown: {y}")
        if len(a) != len(b):
            lines.append(f"  {len(a)} answers about the known one, {len(b)} about the unknown one")
        raise AssertionError("\n".join(lines))


@pytest.fixture
def phone(server: Any) -> Iterator[Phone]:
    p = Phone((server.host, server.sip_port))
    yield p
    p.close()


# -- the sanity checks: the comparisons below are not vacuous ----------------------------------


@pytest.mark.parametrize("kind", REALMS)
def test_the_known_extension_gets_in_with_its_password(phone: Phone, kind: str) -> None:
    realm = REALMS[kind]
    me = realm.known
    register = Ask(realm, "REGISTER", me.ext, me.ext)
    done = with_credentials(phone, register, me.password, expires=60)
    assert done.final.status == 200, f"REGISTER with the right password: {done.final}"
    done = with_credentials(phone, register, me.password, expires=0)  # unregister again
    assert done.final.status == 200, f"REGISTER with the right password: {done.final}"
    for method in ("INVITE", "MESSAGE"):
        # Past authentication, the callee decides: known but not registered, or unknown.
        reached = with_credentials(phone, Ask(realm, method, me.ext, realm.other.ext), me.password)
        assert reached.final.status == 480, f"{method} to a known callee: {reached.final}"
        missing = with_credentials(
            phone, Ask(realm, method, me.ext, realm.unknown_other), me.password
        )
        assert missing.final.status == 404, f"{method} to an unknown callee: {missing.final}"


# -- the comparisons -----------------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("kind", REALMS)
def test_a_known_and_an_unknown_caller_get_the_same_answers(
    phone: Phone, kind: str, method: str
) -> None:
    realm = REALMS[kind]
    callee = realm.known.ext if method == "REGISTER" else realm.other.ext
    known = Ask(realm, method, realm.known.ext, callee)
    unknown = Ask(realm, method, realm.unknown, realm.unknown if method == "REGISTER" else callee)
    order = [known, unknown]
    random.shuffle(order)  # neither one is always asked first
    first = {q.caller: ask(phone, q) for q in order}
    assert_alike(first[known.caller], first[unknown.caller], f"{kind} {method} without credentials")
    wrong = "Wrong-" + secrets.token_hex(6)
    guessed = {q.caller: with_credentials(phone, q, wrong) for q in order}
    assert_alike(
        guessed[known.caller], guessed[unknown.caller], f"{kind} {method} with a wrong password"
    )
    if method in ("REGISTER", "INVITE", "MESSAGE"):
        # The credentials were read and refused, not ignored or challenged again.
        assert first[known.caller].final.status == (401 if method == "REGISTER" else 407)
        assert guessed[known.caller].final.status == 403, guessed[known.caller].final


@pytest.mark.parametrize("caller", ["known", "unknown"])
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("kind", REALMS)
def test_a_known_and_an_unknown_callee_get_the_same_answers(
    phone: Phone, kind: str, method: str, caller: str
) -> None:
    """The same caller asks about a known and an unknown Request-URI/To user (for a REGISTER:
    the To user, its digest username staying the caller's)."""
    realm = REALMS[kind]
    who = realm.known.ext if caller == "known" else realm.unknown
    known = Ask(realm, method, who, realm.other.ext)
    unknown = Ask(realm, method, who, realm.unknown_other)
    first = (ask(phone, known), ask(phone, unknown))
    assert_alike(*first, f"{kind} {method} from a {caller} caller, without credentials")
    wrong = "Wrong-" + secrets.token_hex(6)
    guessed = (with_credentials(phone, known, wrong), with_credentials(phone, unknown, wrong))
    assert_alike(*guessed, f"{kind} {method} from a {caller} caller, with a wrong password")


@pytest.mark.parametrize(
    ("kind", "method", "net"),
    [
        ("domain", "REGISTER", 1),
        ("domain", "INVITE", 3),
        ("ip", "REGISTER", 5),
        ("ip", "MESSAGE", 7),
    ],
)
def test_failed_logins_for_known_and_unknown_users_are_banned_alike(
    server: Any, kind: str, method: str, net: int
) -> None:
    """From addresses that are not allow-listed: the perimeter counts a wrong password and an
    unknown user alike, so both are answered the same number of times before the ban."""
    realm = REALMS[kind]
    answered: dict[str, list[int]] = {}
    for offset, user in enumerate((realm.known.ext, realm.unknown)):
        outsider = Phone((server.host, server.sip_port), f"{OUTSIDE_NET}{net + offset}")
        q = Ask(realm, method, user, user if method == "REGISTER" else realm.other.ext)
        statuses: list[int] = []  # 0: nothing came back
        try:
            while len(statuses) < 2 * (FAILURES_TO_BAN + 2) and 0 not in statuses:
                first = ask(outsider, q, timeout=SILENCE)
                statuses.append(first.final.status if first.replies else 0)
                if not first.replies:
                    break
                uri = q.uris(server.sip_port)[0]
                auth = digest(
                    challenge_of(first.final),
                    method=method,
                    uri=uri,
                    username=user,
                    password="Wrong-" + secrets.token_hex(6),
                )
                guess = ask(outsider, q, auth=auth, timeout=SILENCE)
                statuses.append(guess.final.status if guess.replies else 0)
        finally:
            outsider.close()
        answered[user] = statuses
    known, unknown = answered[realm.known.ext], answered[realm.unknown]
    assert known == unknown, f"{kind} {method}: known {known}, unknown {unknown}"
    assert 0 in known, f"{kind} {method}: never banned: {known}"
