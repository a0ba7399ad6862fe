"""Customer-controlled call policy, pure: ``evaluate(attempt, effective_rules, now) -> Decision``.

Dialled forms are normalised once (:func:`normalise`, phonenumbers); the rules in effect for an
extension merge the service defaults, its tenant's settings and its own
(:func:`effective_rules`); :func:`evaluate` decides, with a reason code for every refusal.
"""

from ringfence.policy.book import PolicyBook
from ringfence.policy.evaluate import (
    Attempt,
    Decision,
    Direction,
    Reason,
    check_inbound,
    check_outbound,
    evaluate,
)
from ringfence.policy.model import (
    DEFAULT_BLOCKED_TYPES,
    SERVICE_DEFAULTS,
    SETTING_NAMES,
    BlockTreatment,
    CallerBlock,
    EffectiveRules,
    PolicySettings,
    TimeWindow,
    effective_rules,
    settings_from_json,
    settings_to_json,
)
from ringfence.policy.numbers import Destination, DestinationKind, NumberType, normalise
from ringfence.policy.tables import (
    GLOBAL_RATES,
    MAX_TABLE_BYTES,
    HighRiskRange,
    HighRiskRanges,
    Rate,
    RateTable,
    TableError,
    load_packaged_high_risk,
    parse_high_risk_csv,
    parse_rates_csv,
)

__all__ = [
    "DEFAULT_BLOCKED_TYPES",
    "GLOBAL_RATES",
    "MAX_TABLE_BYTES",
    "SERVICE_DEFAULTS",
    "SETTING_NAMES",
    "Attempt",
    "BlockTreatment",
    "CallerBlock",
    "Decision",
    "Destination",
    "DestinationKind",
    "Direction",
    "EffectiveRules",
    "HighRiskRange",
    "HighRiskRanges",
    "NumberType",
    "PolicyBook",
    "PolicySettings",
    "Rate",
    "RateTable",
    "Reason",
    "TableError",
    "TimeWindow",
    "check_inbound",
    "check_outbound",
    "effective_rules",
    "evaluate",
    "load_packaged_high_risk",
    "normalise",
    "parse_high_risk_csv",
    "parse_rates_csv",
    "settings_from_json",
    "settings_to_json",
]
