"""SIPp registers a phone with digest authentication, over UDP and TCP, and removes it again."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.slow


def test_register_with_digest_then_unregister(service, sipp, transport, world):
    alice = world.alice
    # The contact is what the phone asks to be reached at; it need not be SIPp's own address.
    contact = f"sip:{alice.ext}@127.0.0.1:45062;transport={transport}"
    proxy = (service.host, service.sip_port)
    common = {
        "transport": transport,
        "remote": proxy,
        "keys": {"domain": alice.domain, "user": alice.ext, "contact": contact, "expires": "300"},
        "auth": (alice.ext, alice.password, alice.domain),
    }

    registered = sipp.run("register.xml", **common).assert_ok()

    (challenge,) = registered.received("SIP/2.0 401")
    assert re.search(r'^WWW-Authenticate:\s*Digest .*realm="a\.example"', challenge, re.M | re.I)
    (ok,) = registered.received("SIP/2.0 200")
    listed = [line for line in ok.splitlines() if re.match(r"(Contact|m)\s*:", line, re.I)]
    assert any(contact in line and re.search(r";\s*expires=\d+", line) for line in listed), ok

    bindings = [b for b in service.registrations(alice.tenant) if b["ext"] == alice.ext]
    assert len(bindings) == 1, bindings
    assert contact in bindings[0]["contact"]
    assert 0 < bindings[0]["expires_in"] <= 300
    assert bindings[0]["source"].startswith(f"{transport}:127.0.0.1:")

    unregistered = sipp.run("unregister.xml", **common).assert_ok()
    (ok,) = unregistered.received("SIP/2.0 200")
    assert contact not in ok

    assert [b for b in service.registrations(alice.tenant) if b["ext"] == alice.ext] == []
