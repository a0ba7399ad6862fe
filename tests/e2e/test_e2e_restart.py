"""A registration survives a restart of the service, over UDP and TCP: a phone registers, the
service is stopped with SIGTERM (it exits 0) and started again on the same data directory, and a
call then reaches the phone, which kept running throughout.

The phone is two SIPp runs on one local port: ``register.xml`` (the REGISTER, from that port),
then ``uas_answer.xml`` listening there. Over TCP the registered connection dies with the
service, so the restarted service has to open a new one to the registered address, as it would
for any phone whose flow is gone.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow


def test_binding_survives_restart(phones, world, free_port):
    service, transport = phones.service, phones.transport
    alice, bob = world.alice, world.bob
    port = free_port()
    contact = f"sip:{bob.ext}@127.0.0.1:{port};transport={transport}"
    phones.sipp.run(
        "register.xml",
        transport=transport,
        remote=(service.host, service.sip_port),
        local_port=port,
        keys={"domain": bob.domain, "user": bob.ext, "contact": contact, "expires": "600"},
        auth=(bob.ext, bob.password, bob.domain),
    ).assert_ok()
    phone = phones.answering(bob, port)
    before = [b for b in service.registrations(bob.tenant) if b["ext"] == bob.ext]
    assert len(before) == 1, before

    service.restart()

    after = [b for b in service.registrations(bob.tenant) if b["ext"] == bob.ext]
    assert [b["contact"] for b in after] == [b["contact"] for b in before]
    call_id = phones.new_call_id()
    caller = phones.call(alice, bob.ext, call_id)
    caller, phone = phones.conclude(caller, phone)
    assert len(phone.received("INVITE ")) == 1
    assert len(phone.received("BYE ")) == 1

    records = service.wait_for_call(alice.tenant, call_id)
    assert [(r["final_status"], r["callee"]) for r in records] == [(200, bob.ext)]


@pytest.mark.parametrize("transport", ["tcp"])
def test_tcp_phone_reached_at_its_contact_after_restart(phones, world, free_port):
    """A TCP phone connects from one port and listens at the port its Contact names, as real
    phones do. After the restart its connection is gone, so the proxy has to connect to the
    Contact's address (RFC 3261 section 18.1.1; RFC 5626 section 5.3 without reg-id), not to the
    dead connection's source port."""
    service = phones.service
    alice, bob = world.alice, world.bob
    source_port, listen_port = free_port(), free_port()
    contact = f"sip:{bob.ext}@127.0.0.1:{listen_port};transport=tcp"
    phones.sipp.run(
        "register.xml",
        transport="tcp",
        remote=(service.host, service.sip_port),
        local_port=source_port,
        keys={"domain": bob.domain, "user": bob.ext, "contact": contact, "expires": "600"},
        auth=(bob.ext, bob.password, bob.domain),
    ).assert_ok()
    phone = phones.answering(bob, listen_port)

    service.restart()

    caller = phones.call(alice, bob.ext, phones.new_call_id())
    caller, phone = phones.conclude(caller, phone)
    assert len(phone.received("INVITE ")) == 1
