"""What the anomaly detector is told, and what it answers: events in, assessments out.

Values only. The router tells :class:`~ringfence.fraud.detect.Detector` of every outbound call
attempt (refused ones too: an attacker probing for open destinations is itself a sign), every
call end, every inbound call, and every REGISTER and authentication failure. The detector
answers with an :class:`Assessment`: a score, the signals that produced it, and the graded
response, explainable in one line.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import IntEnum, StrEnum

__all__ = [
    "Assessment",
    "AuthFailure",
    "CallEnded",
    "Hit",
    "InboundCall",
    "OutboundAttempt",
    "Registered",
    "Response",
    "RunningCall",
    "Scope",
    "Signal",
    "number_range",
]


class Signal(StrEnum):
    """What the detector noticed. Each hit adds points to the call's and the extension's
    score."""

    NEW_COUNTRY = "new_country"
    NEW_RANGE = "new_range"
    HIGH_RISK = "high_risk"
    HIGH_COST = "high_cost"
    OVERPRICED = "overpriced"
    OFF_HOURS = "off_hours"
    VELOCITY = "velocity"
    MANY_CALLEES = "many_callees"
    TEST_CALLS = "test_calls"
    PARALLEL_SOURCES = "parallel_sources"
    NEW_NETWORK = "new_network"
    NEW_NETWORK_AFTER_FAILURES = "new_network_after_failures"
    REFUSED_ATTEMPTS = "refused_attempts"
    WANGIRI_CALLBACK = "wangiri_callback"
    RANGE_IN_INCIDENT = "range_in_incident"
    SPEND_VELOCITY = "spend_velocity"
    SPEND_IN_INCIDENT = "spend_in_incident"
    SPREAD = "spread"
    PIN_NOT_GIVEN = "pin_not_given"
    PIN_WRONG = "pin_wrong"


class Response(IntEnum):
    """The graded responses, in order: each includes the ones below it."""

    NONE = 0
    NOTIFY = 1
    PIN = 2  # the next international call needs the extension's PIN
    CONTAIN = 3  # international calling suspended, international calls in progress ended


class Scope(StrEnum):
    EXTENSION = "extension"
    TENANT = "tenant"


def number_range(e164: str) -> str:
    """The number range a destination belongs to: ``+`` and its first six digits (the
    country code and the start of the national number: an operator's block, roughly)."""
    return e164[:7]


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboundAttempt:
    """A call toward the public network, decided or about to be.

    ``allowed`` is whether the call policy and the throttles let it through (a refused attempt
    is scored but never costs anything). ``high_risk`` is whether the destination is a premium
    or shared-cost type or in a high-risk range, allowed by the tenant or not. ``price`` is per
    minute in the rate table's currency (``None``: unpriced); ``country_price`` that of an
    ordinary number of its country (the rate of the calling code alone). ``source`` is the
    phone's address.
    """

    tenant_id: int
    ext: str
    call_key: str
    at: float
    number: str
    country: str
    home_country: str
    timezone: str
    international: bool
    price: Decimal | None = None
    country_price: Decimal | None = None
    high_risk: bool = False
    source: str = ""
    allowed: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class CallEnded:
    """An outbound call that the detector was told of has ended."""

    tenant_id: int
    ext: str
    call_key: str
    at: float
    answered: bool
    duration: float
    cost: Decimal | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class InboundCall:
    """A call from the public network. A short unanswered call from abroad is the bait of a
    wangiri ("one ring and cut") scheme: calling its range back is what costs money."""

    tenant_id: int
    caller: str
    caller_country: str
    home_country: str
    at: float
    answered: bool
    rang_for: float


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthFailure:
    tenant_id: int
    ext: str | None
    source: str
    at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Registered:
    tenant_id: int
    ext: str
    source: str
    at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class RunningCall:
    """An answered outbound call in progress, for :meth:`Detector.watch`."""

    tenant_id: int
    ext: str
    call_key: str
    international: bool
    cost: Decimal


@dataclass(frozen=True, slots=True, kw_only=True)
class Hit:
    signal: Signal
    points: int
    detail: str

    def __str__(self) -> str:
        return f"{self.signal.value} +{self.points} ({self.detail})"


@dataclass(frozen=True, slots=True, kw_only=True)
class Assessment:
    """The detector's answer for one event.

    ``score`` is what this event added; ``extension_score`` and ``tenant_score`` the running
    scores after it. ``response`` is the graded response now due at ``scope`` (``NONE`` when
    nothing new is due: an open incident is not notified twice). ``refuse`` says whether the
    call this assessment is about must not go out as it is: it is contained, or (``pin``) it
    needs the extension's PIN first.
    ``blocked`` is set when the call is refused for its destination alone (a range that just
    rang the tenant in a wangiri wave), whatever the extension's state.
    ``end_calls`` lists call keys to end now (international calls of a contained extension or
    tenant).
    """

    tenant_id: int
    ext: str | None
    at: float
    score: int = 0
    extension_score: int = 0
    tenant_score: int = 0
    hits: tuple[Hit, ...] = ()
    response: Response = Response.NONE
    scope: Scope = Scope.EXTENSION
    refuse: bool = False
    pin: bool = False
    blocked: bool = False
    end_calls: tuple[str, ...] = ()

    def explain(self) -> str:
        """One line: the score and each signal with its points and why."""
        head = f"score {self.score} (extension {self.extension_score}, tenant {self.tenant_score})"
        if not self.hits:
            return head
        return head + ": " + "; ".join(str(hit) for hit in self.hits)
