"""Toll-fraud throttles (and, to come, detectors, scoring and containment); decisions are pure.

:mod:`ringfence.fraud.limits` holds the limits and the safe defaults of a new tenant;
:func:`check_usage` decides whether one more outbound call may start, from the concurrent
calls, the call rates and the spend of its tenant and extension (:class:`UsageLedger`).
"""

from ringfence.fraud.limits import (
    LIMIT_NAMES,
    SAFE_DEFAULTS,
    Limits,
    limits_from_json,
    limits_to_json,
)
from ringfence.fraud.throttles import (
    ThrottleReason,
    Usage,
    UsageLedger,
    UsageVerdict,
    check_usage,
    periods,
)

__all__ = [
    "LIMIT_NAMES",
    "SAFE_DEFAULTS",
    "Limits",
    "ThrottleReason",
    "Usage",
    "UsageLedger",
    "UsageVerdict",
    "check_usage",
    "limits_from_json",
    "limits_to_json",
    "periods",
]
