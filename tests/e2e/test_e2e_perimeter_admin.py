"""The perimeter's admin side, against the running service over UDP: bans an operator adds or
lifts with the command line reach the running node, a ban outlives a restart, the phones of an
extension behind the firewall register only from inside its networks, and a tenant whose
extension is being guessed at from many addresses hears of it by e-mail.
"""

from __future__ import annotations

import os
import re
import socket
import time
from email import message_from_bytes
from typing import Any

import pytest
from tests.e2e.test_e2e_fraud import (  # noqa: F401 - fixtures
    CONTACT,
    Mailbox,
    mailbox,
    service,
    transport,
)
from tests.e2e.test_e2e_guard import register

pytestmark = pytest.mark.slow

BAN_SYNC = 2.0  # the service's sync of bans with the store
RELOAD_TIMEOUT = 6.0
NOTICE_TIMEOUT = 12.0


def answers(service: Any, source: str, timeout: float = 1.0) -> bool:  # noqa: F811
    """Whether an OPTIONS from ``source`` is answered at all."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind((source, 0))
        probe.settimeout(timeout)
        port = probe.getsockname()[1]
        call_id = f"probe-{os.getpid()}-{time.monotonic_ns()}"
        probe.sendto(
            (
                f"OPTIONS sip:{service.host}:{service.sip_port} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP {source}:{port};branch=z9hG4bK-{call_id};rport\r\n"
                "Max-Forwards: 70\r\n"
                f"From: <sip:probe@{source}>;tag=p1\r\nTo: <sip:{service.host}>\r\n"
                f"Call-ID: {call_id}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
            ).encode(),
            (service.host, service.sip_port),
        )
        try:
            while True:
                if call_id.encode() in probe.recv(65535):
                    return True
        except TimeoutError:
            return False


def eventually(check: Any, timeout: float, what: str, service: Any) -> None:  # noqa: F811
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} within {timeout}s\n{service.log_text()[-4000:]}")
        time.sleep(0.2)


def test_an_operators_ban_and_its_lifting_reach_the_running_node(service: Any) -> None:  # noqa: F811
    source = "127.0.6.9"
    assert answers(service, source)
    service.cli("bans", "add", "127.0.6.0/24", "--for", "1h")
    eventually(lambda: not answers(service, source, 0.5), 3 * BAN_SYNC, "banned", service)
    assert answers(service, "127.0.7.9")  # outside the network: answered
    listed = service.cli_json("bans", "list")
    assert [b["address"] for b in listed] == ["127.0.6.0/24"]
    service.cli("bans", "remove", "127.0.6.0/24")
    eventually(lambda: answers(service, source, 0.5), 3 * BAN_SYNC, "lifted", service)


def test_a_ban_outlives_a_restart_of_the_service(
    service: Any,  # noqa: F811
    sipp: Any,
    world: Any,
) -> None:
    guesser = "127.0.6.20"
    for n in range(5):
        register(service, sipp, "udp", world.alice, guesser, password=f"guess{n}",
                 status="403").assert_ok()  # fmt: skip
    assert not answers(service, guesser)
    # The node writes its bans to the store within a sync; then it stops and starts again.
    eventually(
        lambda: any(b["address"] == guesser for b in service.cli_json("bans", "list")),
        3 * BAN_SYNC,
        "the ban in the store",
        service,
    )
    service.restart()
    assert not answers(service, guesser)
    (ban,) = [b for b in service.cli_json("bans", "list") if b["address"] == guesser]
    assert ban["reason"] == "brute_force"


def test_an_extension_behind_the_firewall_registers_only_from_inside(
    service: Any,  # noqa: F811
    sipp: Any,
    world: Any,
) -> None:
    phone = world.alice
    start = len(service.log_text())
    service.cli("acl", "set", phone.tenant, "127.0.8.0/24", "--ext", phone.ext)
    eventually(
        lambda: "directory_reloaded" in service.log_text()[start:],
        RELOAD_TIMEOUT,
        "the ACL loaded",
        service,
    )
    register(service, sipp, "udp", phone, "127.0.8.1", password=phone.password,
             status=None).assert_ok()  # fmt: skip
    # From outside, the right password is refused as a wrong one would be.
    register(service, sipp, "udp", phone, "127.0.9.1", password=phone.password,
             status="403").assert_ok()  # fmt: skip
    assert "source_not_allowed" in service.log_text()[start:]


def test_a_tenant_hears_when_an_extension_is_guessed_at_from_many_addresses(
    service: Any,  # noqa: F811
    sipp: Any,
    world: Any,
    mailbox: tuple[Mailbox, int],  # noqa: F811
) -> None:
    received, _ = mailbox
    phone = world.alice
    service.cli("contact", "add", phone.tenant, "--email", CONTACT)
    # Four wrong passwords from each of five addresses: none of them is banned (five are
    # needed), but the extension was tried twenty times.
    for host in range(5):
        for n in range(4):
            register(service, sipp, "udp", phone, f"127.0.10.{host + 1}",
                     password=f"guess{host}{n}", status="403").assert_ok()  # fmt: skip
    eventually(lambda: received.messages, NOTICE_TIMEOUT, "an e-mail", service)
    time.sleep(1.0)
    (message,) = [m for m in received.messages if CONTACT in m[1]]
    mail = message_from_bytes(message[2])
    assert f"password guessing on extension {phone.ext} of {phone.tenant}" in mail["Subject"]
    text = mail.get_payload(decode=True)
    assert b"ringfence ext passwd" in (text or mail.as_bytes())
    assert re.search(rb"guess\d", mail.as_bytes()) is None  # no password tried is repeated
    # Its phone still registers.
    register(service, sipp, "udp", phone, "127.0.4.1", password=phone.password,
             status=None).assert_ok()  # fmt: skip


def test_one_stale_password_behind_an_office_nat_does_not_shut_out_the_office(
    service: Any,  # noqa: F811
    sipp: Any,
    world: Any,
) -> None:
    office = "127.0.11.1"
    register(service, sipp, "udp", world.bob, office, password=world.bob.password,
             status=None).assert_ok()  # fmt: skip
    for n in range(5):  # alice's phone there has an old password
        register(service, sipp, "udp", world.alice, office, password=f"old{n}",
                 status="403").assert_ok()  # fmt: skip
    silent = register(service, sipp, "udp", world.alice, office, password="old5",
                      status="none")  # fmt: skip
    assert silent.messages("received") == []  # alice from there: dropped for a while
    register(service, sipp, "udp", world.bob, office, password=world.bob.password,
             status=None).assert_ok()  # fmt: skip
    assert answers(service, office)
    log = service.log_text()
    assert "wrong_password" in log
    assert f"ringfence ban {office}" not in log
