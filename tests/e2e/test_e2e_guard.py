"""The perimeter, seen from the network: the running service over UDP and TCP, SIPp phones.

Somebody at 127.0.3.1 guesses 1001's password with REGISTERs: each wrong guess is answered 403
(as an unknown user would be), and after the fifth the address is banned: its next REGISTER,
even with the right password, gets nothing back. 1001's own phone at 127.0.4.1 registers
throughout. The ban is a security event in the log, with a fixed line for fail2ban.
"""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.slow

ATTACKER_IP = "127.0.3.1"
PHONE_IP = "127.0.4.1"
FAILURES_TO_BAN = 5


def register(service: Any, sipp: Any, transport: str, phone: Any, source: str, *,
             password: str, status: str | None) -> Any:  # fmt: skip
    """A REGISTER of ``phone`` from ``source`` with ``password``: answered 200 (status None),
    the ``status`` given, or (``status`` "none") not at all."""
    scenario = "register.xml" if status is None else "register_refused.xml"
    return sipp.run(
        scenario,
        transport=transport,
        remote=(service.host, service.sip_port),
        local_ip=source,
        keys={
            "domain": phone.domain,
            "user": phone.ext,
            "contact": f"sip:{phone.ext}@{source}:45071;transport={transport}",
            "expires": "300",
        },
        fill={} if status is None else {"status": status if status != "none" else "403"},
        auth=(phone.ext, password, phone.domain),
        options=["-timeout", "4s"] if status == "none" else [],
    )


def test_guessing_a_password_bans_the_guesser_and_not_the_phone(
    service: Any, sipp: Any, transport: str, world: Any
) -> None:
    phone = world.alice
    for n in range(FAILURES_TO_BAN):
        register(service, sipp, transport, phone, ATTACKER_IP, password=f"guess{n}",
                 status="403").assert_ok()  # fmt: skip
    # Banned: even the right password gets no answer from here.
    silent = register(service, sipp, transport, phone, ATTACKER_IP, password=phone.password,
                      status="none")  # fmt: skip
    assert silent.returncode != 0
    assert silent.messages("sent")  # it did send ...
    assert silent.messages("received") == []  # ... and heard nothing back
    # The extension is not locked out: its phone elsewhere registers.
    register(service, sipp, transport, phone, PHONE_IP, password=phone.password,
             status=None).assert_ok()  # fmt: skip
    log = service.log_text()
    assert "security_event" in log
    assert "brute_force" in log
    assert f"ringfence ban {ATTACKER_IP} reason=brute_force" in log
    assert phone.password not in log


def test_an_options_sweep_over_users_bans_the_sweeper(
    service: Any, sipp: Any, transport: str, world: Any
) -> None:
    """OPTIONS to one user after another (svwar's -m OPTIONS): answered alike while it lasts,
    then the sweeper's address is banned; a phone pinging the server is never a sweep."""
    sweeper = "127.0.3.2"
    for n in range(5):
        sipp.run(
            "options.xml",
            transport=transport,
            remote=(service.host, service.sip_port),
            local_ip=sweeper,
            keys={"user": f"{100 + n}", "domain": world.alice.domain},
        ).assert_ok()
    assert f"ringfence ban {sweeper} reason=options_sweep" in service.log_text()
