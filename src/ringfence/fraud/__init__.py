"""Toll-fraud guard: throttles, anomaly detection and graded responses; decisions are pure.

:mod:`ringfence.fraud.limits` holds the limits and the safe defaults of a new tenant;
:func:`check_usage` decides whether one more outbound call may start, from the concurrent
calls, the call rates and the spend of its tenant and extension (:class:`UsageLedger`).
:class:`Detector` scores call events against each tenant's :class:`Baseline` and says which
graded :class:`Response` is due (notify, PIN, contain), with the signals behind it.
"""

from ringfence.fraud.baseline import Baseline, PastCall, is_off_hours
from ringfence.fraud.detect import Detector, DetectorSettings
from ringfence.fraud.events import (
    Assessment,
    AuthFailure,
    CallEnded,
    Hit,
    InboundCall,
    OutboundAttempt,
    Registered,
    Response,
    RunningCall,
    Scope,
    Signal,
    number_range,
)
from ringfence.fraud.incidents import Hold, Incident, IncidentStatus
from ringfence.fraud.limits import (
    LIMIT_NAMES,
    SAFE_DEFAULTS,
    Limits,
    limits_from_json,
    limits_to_json,
)
from ringfence.fraud.throttles import (
    BUDGET_LOOKAHEAD,
    PricedCall,
    ThrottleReason,
    Usage,
    UsageLedger,
    UsageVerdict,
    budget_breaches,
    check_usage,
    periods,
    usage_key,
)

__all__ = [
    "BUDGET_LOOKAHEAD",
    "LIMIT_NAMES",
    "SAFE_DEFAULTS",
    "Assessment",
    "AuthFailure",
    "Baseline",
    "CallEnded",
    "Detector",
    "DetectorSettings",
    "Hit",
    "Hold",
    "InboundCall",
    "Incident",
    "IncidentStatus",
    "Limits",
    "OutboundAttempt",
    "PastCall",
    "PricedCall",
    "Registered",
    "Response",
    "RunningCall",
    "Scope",
    "Signal",
    "ThrottleReason",
    "Usage",
    "UsageLedger",
    "UsageVerdict",
    "budget_breaches",
    "check_usage",
    "is_off_hours",
    "limits_from_json",
    "limits_to_json",
    "number_range",
    "periods",
    "usage_key",
]
