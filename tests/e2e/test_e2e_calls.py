"""Calls between two extensions through the proxy, driven by SIPp over UDP and TCP: answered
and hung up, and cancelled while ringing. The callee is a SIPp phone that registers first."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.slow


def _record(service, tenant, call_id):
    records = service.wait_for_call(tenant, call_id)
    assert len(records) == 1, service.calls(tenant)
    return records[0]


def test_call_answered_and_hung_up(service, phones, world, call_id):
    alice, bob = world.alice, world.bob
    callee = phones.registered(bob, call_id)

    caller = phones.call(alice, bob.ext, call_id)
    caller, callee = phones.conclude(caller, callee)

    # The caller authenticated as 1001 after a 407 whose realm is its tenant's domain.
    (challenge,) = caller.received("SIP/2.0 407")
    assert re.search(r'^Proxy-Authenticate:\s*Digest .*realm="a\.example"', challenge, re.M | re.I)
    # The proxy record-routed the call and relayed ACK and BYE along that route.
    (invite,) = callee.received("INVITE ")
    assert re.search(r"^Record-Route:", invite, re.M | re.I)
    assert len(callee.received("ACK ")) == 1
    assert len(callee.received("BYE ")) == 1
    answers = {_cseq(m) for m in caller.received("SIP/2.0 200")}
    assert answers == {"2 INVITE", "3 BYE"}, answers

    record = _record(service, alice.tenant, call_id)
    assert record["direction"] == "internal"
    assert (record["caller"], record["callee"]) == (alice.ext, bob.ext)
    assert record["final_status"] == 200
    assert record["answered_at"] is not None
    assert record["duration"] > 0
    assert record["started_at"] <= record["answered_at"] <= record["ended_at"]


def test_caller_cancels_while_ringing(service, phones, world, call_id):
    alice, bob = world.alice, world.bob
    callee = phones.registered(bob, call_id, "uas_registered_cancel.xml")

    caller = phones.call(alice, bob.ext, call_id, "uac_cancel.xml")
    caller, callee = phones.conclude(caller, callee)

    assert len(callee.received("CANCEL ")) == 1
    assert len(callee.received("ACK ")) == 1  # the proxy acknowledged the 487 hop by hop
    (terminated,) = {_first_line(m) for m in caller.received("SIP/2.0 487")}
    assert terminated.startswith("SIP/2.0 487")

    record = _record(service, alice.tenant, call_id)
    assert record["direction"] == "internal"
    assert record["final_status"] == 487
    assert record["answered_at"] is None
    assert record["duration"] == 0


def _cseq(message):
    match = re.search(r"^CSeq:\s*(.*?)\s*$", message, re.M | re.I)
    return match.group(1) if match else ""


def _first_line(message):
    return message.splitlines()[0]


def test_forked_call_cancels_the_branch_that_loses(service, phones, world, call_id):
    """Two phones of one extension ring in parallel; one answers and the other is cancelled
    (RFC 3261 §16.7 step 10), and the caller sees one answer."""
    alice, bob = world.alice, world.bob
    loser = phones.registered(bob, call_id, "uas_registered_cancel.xml")
    winner = phones.registered(bob, call_id)
    bound = [b for b in service.registrations(bob.tenant) if b["ext"] == bob.ext]
    assert len(bound) == 2, bound

    caller = phones.call(alice, bob.ext, call_id)
    caller, winner, loser = phones.conclude(caller, winner, loser)

    assert len(winner.received("INVITE ")) == 1
    assert len(loser.received("INVITE ")) == 1
    assert len(loser.received("CANCEL ")) == 1
    assert len({_cseq(m) for m in caller.received("SIP/2.0 200")}) == 2  # the INVITE and the BYE
    record = _record(service, alice.tenant, call_id)
    assert record["final_status"] == 200


def test_reinvite_inside_the_dialog_follows_the_route(service, phones, world, call_id):
    """A re-INVITE (hold: sendonly) travels the record-route to the callee and is answered."""
    alice, bob = world.alice, world.bob
    callee = phones.registered(bob, call_id, "uas_registered_reinvite.xml")

    caller = phones.call(alice, bob.ext, call_id, "uac_reinvite.xml")
    caller, callee = phones.conclude(caller, callee)

    invites = callee.received("INVITE ")
    assert len(invites) == 2
    assert "a=sendonly" in invites[1]
    answers = {_cseq(m) for m in caller.received("SIP/2.0 200")}
    assert answers == {"2 INVITE", "3 INVITE", "4 BYE"}, answers
    assert _record(service, alice.tenant, call_id)["final_status"] == 200
