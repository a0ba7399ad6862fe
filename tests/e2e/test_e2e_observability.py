"""Logs and metrics of the running service (issue 3, item 8): one structured line per request
decision with Call-ID, tenant and reason code; never a password, an HA1 or credentials; and
Prometheus metrics for requests, responses by code, calls and registrations."""

from __future__ import annotations

import re
import time
import urllib.request

import pytest

pytestmark = pytest.mark.slow


def test_logs_carry_decisions_but_no_secrets_and_metrics_count(service, sipp, transport, world):
    alice = world.alice
    contact = f"sip:{alice.ext}@127.0.0.1:45062;transport={transport}"
    sipp.run(
        "register.xml",
        transport=transport,
        remote=(service.host, service.sip_port),
        keys={"domain": alice.domain, "user": alice.ext, "contact": contact, "expires": "300"},
        auth=(alice.ext, alice.password, alice.domain),
    ).assert_ok()

    log = service.log_text()
    decisions = [line for line in log.splitlines() if " register " in f" {line} "]
    assert decisions, log
    assert any("tenant=alpha" in line and "reason=registered" in line for line in decisions)
    assert all("call_id=" in line for line in decisions)
    # Never a secret: not the password, not an HA1, not a digest response or a whole header.
    assert alice.password not in log
    assert "Authorization" not in log
    assert not re.search(r'response="?[0-9a-f]{32}', log)
    assert not re.search(r"\b[0-9a-f]{64}\b", log)

    def scrape() -> str:
        url = f"http://{service.host}:{service.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as answer:
            return str(answer.read().decode())

    deadline = time.monotonic() + 6  # the registrations gauge is refreshed every 2 s
    metrics = scrape()
    while not re.search(r"^ringfence_registrations 1\.0$", metrics, re.M):
        assert time.monotonic() < deadline, metrics
        time.sleep(0.5)
        metrics = scrape()
    assert re.search(r'^ringfence_sip_requests_total\{method="REGISTER"\} 2\.0$', metrics, re.M)
    assert re.search(r'^ringfence_sip_responses_total\{code="401"\} 1\.0$', metrics, re.M)
    assert re.search(r'^ringfence_sip_responses_total\{code="200"\} [1-9]', metrics, re.M)
    assert re.search(r"^ringfence_registrations 1\.0$", metrics, re.M)
    assert re.search(r"^ringfence_active_calls 0\.0$", metrics, re.M)
