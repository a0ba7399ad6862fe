"""The decision: may this call go ahead? Pure: facts and ``now`` in, a :class:`Decision` out.

Every way a call leaves the system (direct dialling today; forwarding, transfer and voicemail
call-back when they arrive) builds an :class:`Attempt` and asks :func:`evaluate`; the router's
outbound step is the only place that sends a call to a trunk, and it takes a ``Decision``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from functools import lru_cache
from zoneinfo import ZoneInfo

from ringfence.policy.model import BlockTreatment, EffectiveRules
from ringfence.policy.numbers import Destination, DestinationKind, NumberType, normalise
from ringfence.policy.tables import Rate

__all__ = [
    "Attempt",
    "Decision",
    "Direction",
    "Reason",
    "check_inbound",
    "check_outbound",
    "evaluate",
]


class Direction(StrEnum):
    OUTBOUND = "outbound"
    INBOUND = "inbound"


class Reason(StrEnum):
    """Reason codes of the call policy, as they appear in responses, call records and logs."""

    INVALID_NUMBER = "invalid_number"
    OUTBOUND_DISABLED = "outbound_disabled"
    INTL_DISABLED = "intl_disabled"
    COUNTRY_NOT_ALLOWED = "country_not_allowed"
    OUTSIDE_WINDOW = "outside_window"
    HIGH_RISK_RANGE = "high_risk_range"
    PREMIUM_RATE = "premium_rate"
    SHARED_COST = "shared_cost"
    UAN = "uan"
    PERSONAL_NUMBER = "personal_number"
    INTERNATIONAL_NETWORK = "international_network"
    NUMBER_TYPE_BLOCKED = "number_type_blocked"
    NO_RATE = "no_rate"
    RATE_TOO_HIGH = "rate_too_high"
    CALLER_ID_NOT_OWNED = "caller_id_not_owned"
    CALLER_BLOCKED = "caller_blocked"


_TYPE_REASONS = {
    NumberType.PREMIUM: Reason.PREMIUM_RATE,
    NumberType.SHARED_COST: Reason.SHARED_COST,
    NumberType.UAN: Reason.UAN,
    NumberType.PERSONAL: Reason.PERSONAL_NUMBER,
    NumberType.INTERNATIONAL_NETWORK: Reason.INTERNATIONAL_NETWORK,
}

# What a blocked caller hears (RFC 3261 §21): busy, a decline, or nothing until it gives up.
_TREATMENT_STATUS = {
    BlockTreatment.BUSY: 486,
    BlockTreatment.REJECT: 603,
    BlockTreatment.SILENCE: 480,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Attempt:
    """One call attempt, as the policy sees it.

    Outbound: ``destination`` (normalised), ``presented`` (the caller ID the call would carry)
    and ``owned_numbers`` (the tenant's numbers). Inbound: ``caller_id`` (E.164, or ``None``
    when withheld or not a number) and ``callee_ext``.
    """

    direction: Direction
    destination: Destination | None = None
    presented: str | None = None
    owned_numbers: frozenset[str] = frozenset()
    caller_id: str | None = None
    callee_ext: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    """``allowed``, or refused with a ``reason`` code, the SIP ``status`` to answer with and a
    ``detail`` for the caller's own tenant. ``alert`` names an event an operator must hear of
    (an emergency call) even though the call goes ahead."""

    allowed: bool
    reason: str = ""
    status: int = 200
    detail: str = ""
    alert: str | None = None
    treatment: BlockTreatment | None = None
    rate: Rate | None = None
    #: The price of an ordinary number of the destination's country: the rate of its calling
    #: code alone (the anomaly detector compares the call's rate with it).
    country_rate: Rate | None = None
    normalized: str = ""

    @classmethod
    def refuse(
        cls, reason: Reason, detail: str, *, status: int = 403, normalized: str = ""
    ) -> Decision:
        return cls(
            allowed=False, reason=reason.value, status=status, detail=detail, normalized=normalized
        )


def evaluate(attempt: Attempt, rules: EffectiveRules, now: float) -> Decision:
    """Decide one attempt against the rules in effect at ``now`` (epoch seconds)."""
    if attempt.direction is Direction.INBOUND:
        return _inbound(attempt, rules)
    destination = attempt.destination
    if destination is None:
        return Decision.refuse(Reason.INVALID_NUMBER, "no destination", status=404)
    return _outbound(attempt, destination, rules, now)


def _outbound(
    attempt: Attempt, destination: Destination, rules: EffectiveRules, now: float
) -> Decision:
    kind = destination.kind
    if kind is DestinationKind.EMERGENCY:
        # Emergency calls are always allowed, whatever else the rules say, and raise an alert.
        return Decision(allowed=True, alert="emergency_call", normalized=destination.dialled)
    if kind is DestinationKind.EXTENSION:
        return Decision(allowed=True, normalized=destination.dialled)
    if kind is DestinationKind.INVALID:
        return Decision.refuse(
            Reason.INVALID_NUMBER, f"{destination.dialled}: {destination.detail}", status=404
        )
    e164 = destination.e164
    if not rules.outbound:
        return Decision.refuse(Reason.OUTBOUND_DISABLED, "outbound calls are off", normalized=e164)
    if destination.number_type in rules.blocked_types:
        reason = _TYPE_REASONS.get(destination.number_type, Reason.NUMBER_TYPE_BLOCKED)
        return Decision.refuse(
            reason, f"{destination.number_type.value} numbers are blocked", normalized=e164
        )
    if rules.block_high_risk and rules.high_risk is not None:
        hit = rules.high_risk.match(e164)
        if hit is not None:
            return Decision.refuse(
                Reason.HIGH_RISK_RANGE,
                f"+{hit.prefix} ({hit.label}) is a high-risk range",
                normalized=e164,
            )
    if destination.country != rules.country:
        if not rules.international:
            return Decision.refuse(
                Reason.INTL_DISABLED, "international calls are off", normalized=e164
            )
        if rules.countries is not None and destination.country not in rules.countries:
            return Decision.refuse(
                Reason.COUNTRY_NOT_ALLOWED,
                f"calls to {destination.country} are not allowed",
                normalized=e164,
            )
        if rules.windows:
            minute = _local_minute(now, rules.timezone)
            for window in rules.windows:
                if not window.contains(minute):
                    return Decision.refuse(
                        Reason.OUTSIDE_WINDOW,
                        f"international calls only {window} {rules.timezone}",
                        normalized=e164,
                    )
    rate = rules.rates.lookup(e164) if rules.rates is not None else None
    if rules.max_rate is not None:
        if rate is None:
            return Decision.refuse(Reason.NO_RATE, "no rate known for this number", normalized=e164)
        if rate.price > rules.max_rate:
            return Decision.refuse(
                Reason.RATE_TOO_HIGH,
                f"{rate.price} {rate.currency}/min is over the limit of {rules.max_rate}",
                normalized=e164,
            )
    if attempt.presented is not None and attempt.presented not in attempt.owned_numbers:
        return Decision.refuse(
            Reason.CALLER_ID_NOT_OWNED,
            "the caller ID is not a number of the tenant",
            normalized=e164,
        )
    country_rate = None
    if rules.rates is not None and destination.country_code:
        country_rate = rules.rates.lookup("+" + destination.country_code)
    return Decision(allowed=True, rate=rate, country_rate=country_rate, normalized=e164)


def _inbound(attempt: Attempt, rules: EffectiveRules) -> Decision:
    caller = attempt.caller_id
    block = rules.block_index.match(caller, attempt.callee_ext)
    if block is not None:
        return Decision(
            allowed=False,
            reason=Reason.CALLER_BLOCKED.value,
            status=_TREATMENT_STATUS[block.treatment],
            detail=f"caller {caller or 'anonymous'} matches block {block.pattern}",
            treatment=block.treatment,
            normalized=caller or "",
        )
    return Decision(allowed=True, normalized=caller or "")


def check_outbound(
    dialled: str,
    rules: EffectiveRules,
    now: float,
    *,
    presented: str | None = None,
    owned_numbers: frozenset[str] = frozenset(),
) -> tuple[Destination, Decision]:
    """The one outbound gate: normalise what was dialled in the tenant's country, then decide.

    Every way a call leaves the system (dialling, and forwarding, transfer and voicemail
    call-back when they arrive) calls this; the router sends nothing to a trunk without an
    allowed :class:`Decision` from it.
    """
    destination = normalise(dialled, rules.country)
    attempt = Attempt(
        direction=Direction.OUTBOUND,
        destination=destination,
        presented=presented,
        owned_numbers=owned_numbers,
    )
    return destination, evaluate(attempt, rules, now)


def check_inbound(caller: str | None, callee_ext: str, rules: EffectiveRules) -> Decision:
    """May ``caller`` (a number as presented, or ``None`` when withheld) ring ``callee_ext``?

    The caller ID is normalised in the tenant's country first, so that a block on ``+4420*``
    matches a gateway that sends ``00442079460018`` or a national form.
    """
    caller_id: str | None = None
    if caller is not None:
        destination = normalise(caller, rules.country)
        caller_id = destination.e164 or caller
    attempt = Attempt(direction=Direction.INBOUND, caller_id=caller_id, callee_ext=callee_ext)
    return evaluate(attempt, rules, 0.0)


@lru_cache(maxsize=512)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _local_minute(now: float, timezone: str) -> int:
    local = datetime.fromtimestamp(now, UTC).astimezone(_zone(timezone))
    return local.hour * 60 + local.minute
