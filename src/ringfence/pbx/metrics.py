"""Prometheus metrics of the phone service, in a registry of their own (no global state)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

__all__ = ["Metrics"]


class Metrics:
    """Requests, responses by code, active calls and live registrations."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "ringfence_sip_requests",
            "SIP requests received, by method",
            ["method"],
            registry=self.registry,
        )
        self.responses = Counter(
            "ringfence_sip_responses",
            "SIP responses sent, by status code",
            ["code"],
            registry=self.registry,
        )
        self.parse_errors = Counter(
            "ringfence_sip_parse_errors", "Messages that failed to parse", registry=self.registry
        )
        self.guard_drops = Counter(
            "ringfence_guard_drops",
            "Packets the perimeter kept out: dropped (banned or over a rate), busy (503), scanner",
            ["verdict"],
            registry=self.registry,
        )
        self.calls = Gauge("ringfence_active_calls", "Calls in progress", registry=self.registry)
        self.registrations = Gauge(
            "ringfence_registrations", "Live registrations", registry=self.registry
        )
