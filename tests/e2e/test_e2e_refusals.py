"""Requests the service refuses, each with exactly the status the SIPp scenario expects, over
UDP and TCP: unknown extension 404, unregistered extension 480, a call across tenants 403, and a
REGISTER refused 403 (wrong password, or credentials of another tenant) or 423."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.slow

# case: (callee extension, callee's tenant domain or None for the caller's own, status, reason).
# The unknown extension is not all digits: digits are a dialled number and go to the trunk.
CALLS = {
    "unknown-extension": ("reception", None, 404, "unknown_extension"),
    "unregistered-extension": ("1003", None, 480, "not_registered"),
    "cross-tenant": ("2001", "b.example", 403, "cross_tenant"),
}


@pytest.mark.parametrize("case", list(CALLS))
def test_call_refused(service, phones, world, call_id, case):
    callee, domain, status, reason = CALLS[case]
    alice = world.alice
    target = None
    if case == "cross-tenant":
        # The other tenant's extension is registered and reachable: only the tenancy refuses.
        target = phones.registered(world.dave, call_id)

    result = phones.call(
        alice, callee, call_id, "uac_refused.xml", callee_domain=domain,
        fill={"status": str(status)},
    )  # fmt: skip
    if target is not None:
        target.terminate()
        assert target.result.received("INVITE ") == [], "the call crossed tenants"
    result.assert_ok()
    assert len({m.splitlines()[0] for m in result.received(f"SIP/2.0 {status}")}) == 1
    if case == "cross-tenant":
        return  # its call record: test_cross_tenant_attempt_is_recorded

    records = service.wait_for_call(alice.tenant, call_id)
    assert len(records) == 1, service.calls(alice.tenant)
    assert records[0]["final_status"] == status
    assert records[0]["reason"] == reason
    assert records[0]["answered_at"] is None


def test_cross_tenant_attempt_is_recorded(service, phones, world, call_id):
    """One record per call attempt, refused ones with their reason code (issue 3, item 5)."""
    callee, domain, status, reason = CALLS["cross-tenant"]
    result = phones.call(
        world.alice, callee, call_id, "uac_refused.xml", callee_domain=domain,
        fill={"status": str(status)},
    )  # fmt: skip
    result.assert_ok()

    records = service.wait_for_call(world.alice.tenant, call_id)
    assert len(records) == 1, (
        f"no call record of the refused attempt {call_id}; the tenant has "
        f"{service.calls(world.alice.tenant)}"
    )
    assert (records[0]["final_status"], records[0]["reason"]) == (status, reason)


# case: (the phone whose credentials are used, the domain registered at, password, Expires,
# status). At another tenant's domain the same credentials are unknown (realm b.example).
REGISTERS = {
    "wrong-password": ("alice", "a.example", "wrong", "300", 403),
    "other-tenant": ("alice", "b.example", "right", "300", 403),
    "interval-too-brief": ("alice", "a.example", "right", "10", 423),
}


@pytest.mark.parametrize("case", list(REGISTERS))
def test_register_refused(service, sipp, transport, world, case):
    who, domain, password, expires, status = REGISTERS[case]
    phone = getattr(world, who)
    result = sipp.run(
        "register_refused.xml",
        transport=transport,
        remote=(service.host, service.sip_port),
        keys={
            "domain": domain,
            "user": phone.ext,
            "contact": f"sip:{phone.ext}@127.0.0.1:45063;transport={transport}",
            "expires": expires,
        },
        fill={"status": str(status)},
        auth=(phone.ext, phone.password + ("x" if password == "wrong" else ""), domain),
    )
    result.assert_ok()
    (refusal,) = result.received(f"SIP/2.0 {status}")
    if status == 423:
        assert re.search(r"^Min-Expires:\s*\d+", refusal, re.M | re.I), refusal
    for tenant in ("alpha", "beta"):
        assert service.registrations(tenant) == []
