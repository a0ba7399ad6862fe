"""Calls through the tenant's trunk, with a SIPp gateway on 127.0.0.2, over UDP and TCP:
an extension dials out, and the gateway delivers a call to one of the tenant's numbers."""

from __future__ import annotations

import re
import time

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


def test_outbound_call_authenticates_to_the_gateway(
    service, phones, world, call_id, free_port, toolkit
):
    """A trunk with credentials answers its gateway's 401 (RFC 3261 §22.2) with a second INVITE
    that takes the next CSeq, and the caller's ACK and BYE follow that shift."""
    gateway_ip = "127.0.0.3"
    port = free_port(gateway_ip)
    service.cli("tenant", "add", "delta", "--domain", "d.example")
    service.cli("ext", "add", "delta", "4001", "--password", "Rb5-correct-staple")
    service.cli("number", "add", "delta", "+15559990001", "--ext", "4001")
    service.cli(
        "trunk", "add", "delta", "carrier", "--host", f"{gateway_ip}:{port}",
        "--transport", phones.transport, "--username", "gw-delta", "--password", "Tk7-gw-secret",
    )  # fmt: skip
    time.sleep(1.5)  # the running service picks admin changes up within a second
    dora = type(world.alice)("delta", "d.example", "4001", "Rb5-correct-staple")
    gateway = phones.sipp.start(
        "gateway_uas_auth.xml",
        transport=phones.transport,
        local_ip=gateway_ip,
        local_port=port,
        fill={"username": "gw-delta", "password": "Tk7-gw-secret"},
    )
    toolkit.wait_bound(gateway_ip, port, phones.transport)

    caller = phones.call(dora, world.dialled, call_id)
    caller, gateway = phones.conclude(caller, gateway)

    first, second = gateway.received("INVITE ")
    assert _header(first, "Authorization") is None
    assert 'username="gw-delta"' in _header(second, "Authorization")
    assert int(_header(second, "CSeq").split()[0]) == int(_header(first, "CSeq").split()[0]) + 1
    (bye,) = gateway.received("BYE ")
    assert int(_header(bye, "CSeq").split()[0]) > int(_header(second, "CSeq").split()[0])
    record = _record(service, "delta", call_id)
    assert (record["direction"], record["final_status"]) == ("outbound", 200)
