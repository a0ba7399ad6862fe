"""Calls through the tenant's trunk, with a SIPp gateway on 127.0.0.2, over UDP and TCP:
an extension dials out, and the gateway delivers a call to one of the tenant's numbers."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.slow


def _record(service, tenant, call_id):
    records = service.wait_for_call(tenant, call_id)
    assert len(records) == 1, service.calls(tenant)
    return records[0]


def _header(message, name):
    match = re.search(rf"^{name}\s*:\s*(.*)$", message, re.M | re.I)
    return match.group(1) if match else None


def test_outbound_call_to_the_trunk(service, phones, world, call_id):
    alice = world.alice
    gateway = phones.gateway_answering(presented=world.alice_number, dialled=world.dialled)

    caller = phones.call(alice, world.dialled, call_id)
    caller, gateway = phones.conclude(caller, gateway)

    (invite,) = gateway.received("INVITE ")
    request_line = invite.splitlines()[0]
    assert request_line.startswith(f"INVITE sip:{world.dialled}@"), request_line
    # The gateway sees the number the tenant owns, never the extension (RFC 3325).
    assert f"sip:{world.alice_number}@" in _header(invite, "From")
    assert f"sip:{world.alice_number}@" in _header(invite, "P-Asserted-Identity")
    assert len(gateway.received("ACK ")) == 1
    assert len(gateway.received("BYE ")) == 1

    record = _record(service, alice.tenant, call_id)
    assert record["direction"] == "outbound"
    assert record["caller"] == alice.ext
    assert record["callee"] == world.dialled
    assert record["final_status"] == 200
    assert record["duration"] > 0


def test_inbound_call_from_the_trunk(service, phones, world, call_id):
    bob = world.bob
    callee = phones.registered(bob, call_id)

    gateway = phones.gateway_call(world.bob_number, "+442071838750", call_id)
    gateway, callee = phones.conclude(gateway, callee)

    (invite,) = callee.received("INVITE ")
    assert re.search(r"^Record-Route:", invite, re.M | re.I)
    assert len(callee.received("ACK ")) == 1
    assert len(callee.received("BYE ")) == 1

    record = _record(service, bob.tenant, call_id)
    assert record["direction"] == "inbound"
    assert record["callee"] == bob.ext
    assert record["final_status"] == 200
    assert record["duration"] > 0


def test_caller_credentials_are_not_relayed(service, phones, world, call_id):
    """The proxy consumes the Proxy-Authorization of its own realm (RFC 3261 §20.28, §22.3):
    neither the carrier's gateway nor the callee's phone receives the caller's digest response,
    with which either could try the caller's password offline."""
    alice, bob = world.alice, world.bob
    gateway = phones.gateway_answering(presented=world.alice_number, dialled=world.dialled)
    phones.conclude(phones.call(alice, world.dialled, call_id), gateway)
    internal_call = phones.new_call_id()
    callee = phones.registered(bob, internal_call)
    phones.conclude(phones.call(alice, bob.ext, internal_call), callee)

    for peer, result in (("trunk gateway", gateway.result), ("callee phone", callee.result)):
        (invite,) = result.received("INVITE ")
        relayed = _header(invite, "Proxy-Authorization")
        assert relayed is None, f"the {peer} received the caller's credentials: {relayed}"
