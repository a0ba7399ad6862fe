"""A tenant that requires encryption refuses an offer of plain RTP with 488 (issue 3, item 4)."""

from __future__ import annotations

import time

import pytest

pytestmark = pytest.mark.slow


def test_plain_rtp_offer_refused_when_encryption_is_required(service, phones, world, call_id):
    service.cli("tenant", "add", "gamma", "--domain", "c.example", "--encryption-required")
    service.cli("ext", "add", "gamma", "3001", "--password", "Mv6-battery-staple")
    service.cli("ext", "add", "gamma", "3002", "--password", "Kx4-battery-staple")
    time.sleep(1.5)  # a running service picks admin changes up within a second
    phone = type(world.alice)  # the Phone value of the conftest
    eve = phone("gamma", "c.example", "3001", "Mv6-battery-staple")

    result = phones.call(eve, "3002", call_id, "uac_offer_refused.xml", fill={"status": "488"})

    result.assert_ok()
    (refusal,) = {m.splitlines()[0] for m in result.received("SIP/2.0 488")}
    assert refusal.startswith("SIP/2.0 488")
    records = service.wait_for_call("gamma", call_id)
    assert [(r["final_status"], r["reason"]) for r in records] == [(488, "encryption_required")]
