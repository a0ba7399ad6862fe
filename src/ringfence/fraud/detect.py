"""Anomaly detection over call events, per tenant and per extension; pure state, no I/O.

:class:`Detector` is told of every outbound attempt, call end, inbound call, REGISTER and
authentication failure. Each event may raise signals (:class:`~ringfence.fraud.events.Signal`);
each signal adds points to the call's score and to running scores of its extension and tenant,
which decay with a half-life of half an hour. The running score picks the graded response:

======================  ===========================================================
extension score         response
======================  ===========================================================
``notify_at`` (45)      open an incident and notify the tenant's contacts, once
``pin_at`` (60)         the next international call needs the extension's PIN
``contain_at`` (80)     suspend international calling, end international calls
======================  ===========================================================

The tenant has its own thresholds (``tenant_notify_at``, ``tenant_contain_at``) for traffic
spread thin over many extensions, and is contained as a whole once two of its extensions were
contained within a day. Responses only escalate; an admin's release
(:meth:`Detector.release`) or a correct PIN (:meth:`Detector.pin_given`) brings them back.

The weights are chosen so that one unusual thing (a new country in office hours, a call at
night to a country the tenant calls by day) never notifies on its own, while the marks of toll
fraud (a new, expensive or high-risk destination at night, probing refused destinations,
calling back a wangiri range, test calls, a phone that appears on a new network after a burst
of failed logins) contain within the first calls. A number priced far above what a minute to
its country usually costs (``overpriced``: where revenue-share fraud terminates) asks for the
PIN before its first call.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from ipaddress import IPv6Address, ip_address, ip_network
from typing import Any

from ringfence.fraud.baseline import Baseline, hour_of_week, is_off_hours
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

__all__ = ["Detector", "DetectorSettings"]

_HOUR_S = 3600.0
_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True, kw_only=True)
class DetectorSettings:
    notify_at: int = 45
    pin_at: int = 60
    contain_at: int = 80
    tenant_notify_at: int = 80
    tenant_contain_at: int = 160
    contained_extensions_for_tenant: int = 2
    half_life: float = 1800.0
    weights: dict[Signal, int] = field(
        default_factory=lambda: {
            Signal.NEW_COUNTRY: 15,
            Signal.NEW_RANGE: 10,
            Signal.HIGH_RISK: 30,
            Signal.HIGH_COST: 15,
            Signal.OVERPRICED: 35,
            Signal.OFF_HOURS: 10,
            Signal.VELOCITY: 25,
            Signal.MANY_CALLEES: 20,
            Signal.TEST_CALLS: 30,
            Signal.PARALLEL_SOURCES: 50,
            Signal.NEW_NETWORK: 20,
            Signal.NEW_NETWORK_AFTER_FAILURES: 50,
            Signal.REFUSED_ATTEMPTS: 25,
            Signal.WANGIRI_CALLBACK: 30,
            Signal.RANGE_IN_INCIDENT: 40,
            Signal.SPEND_VELOCITY: 25,
            Signal.SPEND_IN_INCIDENT: 80,
            Signal.SPREAD: 40,
            Signal.PIN_NOT_GIVEN: 80,  # containment on its own: the PIN decided
            Signal.PIN_WRONG: 80,
        }
    )
    high_cost_price: Decimal = Decimal("0.25")  # per minute
    #: A dear number priced this many times what a minute to its country usually costs is
    #: overpriced: where revenue-share fraud terminates.
    overpriced_factor: Decimal = Decimal(2)
    short_call: float = 10.0  # seconds: an answered call this short is a "test" call
    test_calls: int = 3  # short calls within ``test_window`` that make a run
    test_window: float = 1800.0
    many_callees: int = 6  # distinct international numbers from one extension in an hour
    velocity_factor: float = 4.0
    velocity_margin: float = 10.0
    extension_burst: int = 8  # calls out from one extension within ten minutes
    refused_run: int = 3  # refused international numbers (distinct) within half an hour
    failures_burst: int = 5  # failed logins within ten minutes
    suspect_for: float = 86400.0
    incident_spend_cap: Decimal = Decimal("2")
    spend_velocity_min: Decimal = Decimal("15")
    spend_velocity_factor: float = 5.0
    wangiri_ring: float = 6.0  # seconds: an unanswered call from abroad this short is bait
    wangiri_wave: int = 3  # distinct callers of one range, each short and unanswered, make a wave
    wangiri_wave_window: float = _HOUR_S
    #: A wave's range stays blocked for so long: people return missed calls after a long
    #: weekend or a holiday too.
    wangiri_window: float = 14 * 86400.0
    incident_range_for: float = 86400.0  # a suspect range of an incident stays suspect so long
    incident_quiet: float = 86400.0  # a notified incident with no new signal closes after this
    spread_extensions: int = 3
    #: By day, a spread is new dear destinations (distinct numbers) called from so many
    #: extensions within this window; at night, any new destination within the hour.
    spread_day_window: float = 1800.0
    spread_day_extensions: int = 2
    spread_spend_cap: Decimal = Decimal("2")  # what a spread's calls may cost before containment
    new_network_for: float = 86400.0  # a network the extension first used this lately is new
    pin_trust: float = 3600.0  # after a right PIN, the PIN is not asked again for this long
    #: Calls abroad to so many numbers, each refused for want of the PIN, with the PIN not
    #: given in between (within ``pin_not_given_window``), contain the extension.
    pin_not_given: int = 3
    pin_not_given_window: float = 6 * _HOUR_S
    pin_wrong: int = 3  # wrong PINs within ``pin_not_given_window`` that contain


@dataclass(slots=True)
class _Call:
    number: str
    country: str
    international: bool
    source: str
    at: float
    price: Decimal | None
    suspect: bool  # somewhere new or dear: what it costs is watched
    premium: bool = False  # high-risk or overpriced: never learned as the tenant's own
    spread: bool = False  # one of the calls of a spread over the tenant's extensions
    vouched: bool = False  # let out on its user's PIN: not counted against the incident
    cut: bool = False  # ended by the detector, its cost counted: no longer watched
    cost: Decimal = _ZERO  # what it had cost when last watched
    base: Decimal = _ZERO  # what it had cost when the extension's incident opened


@dataclass(slots=True)
class _Ext:
    score: float = 0.0
    score_at: float = 0.0
    level: Response = Response.NONE
    incident_at: float | None = None
    incident_spend: Decimal = Decimal(0)
    calls: dict[str, _Call] = field(default_factory=dict)  # outbound calls in progress
    #: An hour of calls out: when, the number, whether it is abroad in a range never called.
    recent: deque[tuple[float, str, bool]] = field(default_factory=deque)
    refused: deque[tuple[float, str]] = field(default_factory=deque)
    unanswered: deque[tuple[float, str]] = field(default_factory=deque)  # refused for the PIN
    wrong_pins: deque[float] = field(default_factory=deque)
    short: deque[float] = field(default_factory=deque)
    spend: deque[tuple[float, Decimal]] = field(default_factory=deque)  # six hours of costs
    spend_flagged_at: float = float("-inf")
    failures: deque[float] = field(default_factory=deque)
    networks: dict[str, float] = field(default_factory=dict)  # network: first seen
    suspect_until: float = float("-inf")
    pin_trusted_until: float = float("-inf")
    signal_at: float = float("-inf")  # the last event that scored
    new_network_at: float = float("-inf")  # when a new network last scored
    behaviour_at: float = float("-inf")  # the last that scored for what it did (_CIRCUMSTANCE)
    strong_at: float = float("-inf")  # ... for more than being on a new network


@dataclass(slots=True)
class _Tenant:
    baseline: Baseline
    score: float = 0.0
    score_at: float = 0.0
    level: Response = Response.NONE
    recent: deque[float] = field(default_factory=deque)  # an hour of calls out
    rings: dict[str, deque[tuple[float, str]]] = field(default_factory=dict)  # short, abroad
    wangiri: dict[str, float] = field(default_factory=dict)  # ranges of a wave, when it was
    #: Suspect ranges called in an open incident: when, and by which extension.
    incident_ranges: dict[str, tuple[float, str]] = field(default_factory=dict)
    new_at_night: deque[tuple[float, str]] = field(default_factory=deque)
    #: Calls to new dear destinations at any hour, for the spread: when, extension, number,
    #: and its country (or "!" for a high-risk number).
    new_dear: deque[tuple[float, str, str, str]] = field(default_factory=deque)
    spread_at: float = float("-inf")  # when a spread was last seen
    spread_spend: Decimal = _ZERO  # what the spread's ended calls cost
    contained: deque[tuple[float, str]] = field(default_factory=deque)
    scorers: deque[tuple[float, str]] = field(default_factory=deque)  # who scored, an hour
    #: Countries and ranges first called in the last day: "new" scores once, not every call.
    fresh: dict[str, float] = field(default_factory=dict)
    velocity_flagged_at: float = float("-inf")
    signal_at: float = float("-inf")
    exts: dict[str, _Ext] = field(default_factory=dict)


_HOUR = _HOUR_S
_SPEND_WINDOW = 6 * _HOUR
_MAX_BAIT = 2000
_MAX_NETWORKS = 32


def _network(source: str) -> str:
    """The network a source address belongs to: its /24 (IPv4, also when mapped into IPv6)
    or /48 (IPv6)."""
    try:
        address = ip_address(source.strip("[]"))
    except ValueError:
        return source
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    prefix = 24 if address.version == 4 else 48
    return str(ip_network(f"{address}/{prefix}", strict=False))


class Detector:
    """The anomaly detector of every tenant. Each method takes the event's own time."""

    def __init__(self, settings: DetectorSettings | None = None) -> None:
        self.settings = settings or DetectorSettings()
        self._tenants: dict[int, _Tenant] = {}

    # -- state ------------------------------------------------------------------------------

    def learn(self, tenant_id: int, baseline: Baseline) -> None:
        """Give a tenant the baseline learned from its records (at start)."""
        self._tenant(tenant_id, baseline.timezone).baseline = baseline

    def baseline(self, tenant_id: int) -> Baseline | None:
        tenant = self._tenants.get(tenant_id)
        return tenant.baseline if tenant is not None else None

    def _tenant(self, tenant_id: int, timezone: str = "UTC") -> _Tenant:
        tenant = self._tenants.get(tenant_id)
        if tenant is None:
            tenant = self._tenants[tenant_id] = _Tenant(baseline=Baseline(timezone=timezone))
        return tenant

    def _decayed(self, score: float, since: float, now: float) -> float:
        if score <= 0 or now <= since:
            return score
        factor: float = 0.5 ** ((now - since) / self.settings.half_life)
        return score * factor

    def level(self, tenant_id: int, ext: str | None = None) -> Response:
        """The response in force: the extension's, or the tenant's when it is higher."""
        tenant = self._tenants.get(tenant_id)
        if tenant is None:
            return Response.NONE
        own = tenant.exts[ext].level if ext is not None and ext in tenant.exts else Response.NONE
        whole = Response.CONTAIN if tenant.level is Response.CONTAIN else Response.NONE
        return max(own, whole)

    def release(self, tenant_id: int, ext: str | None = None) -> None:
        """An admin's release: the extension (or the tenant and all its extensions) starts
        again from a clean score."""
        tenant = self._tenants.get(tenant_id)
        if tenant is None:
            return
        targets = [tenant.exts[ext]] if ext is not None and ext in tenant.exts else []
        if ext is None:
            tenant.level, tenant.score = Response.NONE, 0.0
            tenant.contained.clear()
            tenant.new_at_night.clear()
            self._end_spread(tenant)
            targets = list(tenant.exts.values())
        for state in targets:
            state.level, state.score, state.incident_at = Response.NONE, 0.0, None
            state.incident_spend = Decimal(0)
            state.refused.clear()
            state.unanswered.clear()
            state.wrong_pins.clear()
            state.short.clear()
            state.suspect_until = float("-inf")
        if not any(e.level for e in tenant.exts.values()) and tenant.level is Response.NONE:
            tenant.incident_ranges.clear()

    def hold(self, tenant_id: int, ext: str | None, level: Response) -> None:
        """Take on a response decided elsewhere (another node, or before a restart), so that
        it is not raised again."""
        tenant = self._tenant(tenant_id)
        if ext is None:
            tenant.level = max(tenant.level, level)
            return
        state = tenant.exts.setdefault(ext, _Ext())
        state.level = max(state.level, level)
        if state.incident_at is None and level >= Response.NOTIFY:
            state.incident_at = self._now_of(state)
            state.signal_at = max(state.signal_at, state.score_at)
            # Cautious: what opened it is not known here, so spending is capped by containment.
            state.behaviour_at = max(state.behaviour_at, state.incident_at)
            state.strong_at = max(state.strong_at, state.incident_at)

    @staticmethod
    def _now_of(state: _Ext) -> float:
        """When a held incident counts from: the extension's last event (spend since then
        counts against the incident's cap)."""
        return state.score_at

    def pin_given(self, tenant_id: int, ext: str, at: float) -> None:
        """The extension's user proved who they are: its score drops below the PIN threshold
        (the incident stays open, and is not notified again), and the destinations its
        incident made suspect are no longer suspect."""
        tenant = self._tenants.get(tenant_id)
        if tenant is None or ext not in tenant.exts:
            return
        state = tenant.exts[ext]
        if state.level is Response.PIN:
            state.level = Response.NOTIFY
        state.pin_trusted_until = at + self.settings.pin_trust
        state.unanswered.clear()
        state.wrong_pins.clear()
        # The destinations its incident made suspect are its user's: vouched for with the PIN.
        for rng in [r for r, (_, who) in tenant.incident_ranges.items() if who == ext]:
            del tenant.incident_ranges[rng]
        state.score = min(self._decayed(state.score, state.score_at, at), self.settings.notify_at)
        state.score_at = at

    def expire(self, now: float) -> list[tuple[int, str | None]]:
        """Close the notified incidents that stayed quiet for ``incident_quiet`` (every minute
        or so): the extension, or the tenant, is watched afresh, and a later alarm is a new
        incident. Incidents that hold calls (a PIN not given yet, a containment) wait for the
        PIN or an admin. Returns the ``(tenant, extension or None)`` closed."""
        quiet = now - self.settings.incident_quiet
        closed: list[tuple[int, str | None]] = []
        for tenant_id, tenant in self._tenants.items():
            if tenant.level is Response.NOTIFY and tenant.signal_at <= quiet:
                tenant.level = Response.NONE
                self._end_spread(tenant)
                closed.append((tenant_id, None))
            if tenant.level is Response.CONTAIN:
                continue  # its extensions are held with it
            for name, ext in tenant.exts.items():
                if ext.level is Response.NOTIFY and ext.signal_at <= quiet:
                    ext.level, ext.incident_at, ext.incident_spend = Response.NONE, None, _ZERO
                    closed.append((tenant_id, name))
        return closed

    def pin_wrong(self, attempt: OutboundAttempt) -> Assessment:
        """A wrong PIN for the attempt: the few a user mistypes are forgiven, a guesser's
        third within the window contains the extension."""
        s = self.settings
        tenant = self._tenant(attempt.tenant_id, attempt.timezone)
        ext = tenant.exts.setdefault(attempt.ext, _Ext())
        ext.wrong_pins.append(attempt.at)
        _trim(ext.wrong_pins, attempt.at - s.pin_not_given_window)
        hits: list[Hit] = []
        if len(ext.wrong_pins) >= s.pin_wrong:
            hits.append(
                Hit(
                    signal=Signal.PIN_WRONG,
                    points=s.weights[Signal.PIN_WRONG],
                    detail=f"{len(ext.wrong_pins)} wrong PINs",
                )
            )
        return self._conclude(tenant, ext, replace(attempt, allowed=False), hits, track=False)

    def admit(self, attempt: OutboundAttempt) -> None:
        """A call let out on the extension's PIN (after :meth:`pin_given`): tracked like any
        call in progress, so that its cost counts and a containment ends it, but not scored a
        second time (its first attempt, refused for the PIN, was). Its cost counts against the
        extension's open incident, unless that incident rests on nothing but a new network:
        there the PIN is the proof asked for."""
        tenant = self._tenant(attempt.tenant_id, attempt.timezone)
        ext = tenant.exts.setdefault(attempt.ext, _Ext())
        self._conclude(tenant, ext, attempt, [], track=True, suspect=_suspect(tenant, attempt))
        call = ext.calls.get(attempt.call_key)
        if call is not None and _on_network_only(ext):
            call.vouched = True

    # -- events -------------------------------------------------------------------------------

    def assess(self, attempt: OutboundAttempt) -> Assessment:
        """Score one outbound attempt and say what is due. An allowed attempt that is not
        refused here is tracked as a call in progress until :meth:`ended`."""
        s = self.settings
        w = s.weights
        tenant = self._tenant(attempt.tenant_id, attempt.timezone)
        ext = tenant.exts.setdefault(attempt.ext, _Ext())
        at = attempt.at
        _trim(tenant.recent, at - _HOUR)
        _trim_pairs(ext.recent, at - _HOUR)
        hits: list[Hit] = []
        risky = attempt.international or attempt.high_risk
        baseline = tenant.baseline
        how = hour_of_week(at, attempt.timezone)
        if not attempt.allowed:
            if risky:
                # Probing: several destinations tried, not one number dialled again and again.
                ext.refused.append((at, attempt.number))
                _trim_pairs(ext.refused, at - 1800)
                tried = {n for _, n in ext.refused}
                if len(tried) >= s.refused_run:
                    hits.append(
                        Hit(
                            signal=Signal.REFUSED_ATTEMPTS,
                            points=w[Signal.REFUSED_ATTEMPTS],
                            detail=f"{len(tried)} international numbers refused in 30 min",
                        )
                    )
            return self._conclude(tenant, ext, attempt, hits, track=False)
        rng = number_range(attempt.number)
        off, when = is_off_hours(at, attempt.timezone, attempt.home_country)
        costly = attempt.high_risk or (
            attempt.price is not None and attempt.price >= s.high_cost_price
        )
        dearest = _overpriced(baseline, attempt, s.high_cost_price, s.overpriced_factor)
        premium = attempt.high_risk or dearest is not None
        bait = tenant.wangiri.get(rng)
        if risky and bait is not None and at - bait <= s.wangiri_window:
            return self._block(
                tenant, attempt, f"{rng} rang the tenant in a wave of one-ring calls"
            )
        rings = tenant.rings.get(rng)
        if risky and premium and rings and at - rings[-1][0] <= s.wangiri_window:
            # One ring is enough from a premium or overpriced range: nobody rings from there
            # for a few seconds and hangs up but to be called back.
            return self._block(
                tenant,
                attempt,
                f"{rng}, a premium or overpriced range, rang the tenant for seconds and hung up",
            )
        flagged_at, flagger = tenant.incident_ranges.get(rng, (float("-inf"), ""))
        if (
            risky
            and ext.level is Response.PIN
            and flagger == attempt.ext
            and at - flagged_at <= s.incident_range_for
        ):
            # Its own incident's destination dialled again while the PIN is asked: the PIN
            # decides this call, and a user redialling is not a further offence.
            return self._conclude(tenant, ext, attempt, [], track=True)
        network = _network(attempt.source) if attempt.source else ""
        if network:
            _remember_network(ext, network, at)
        # Somewhere new counts where it can cost: a cheap destination is not worth the fraud.
        novel = costly or attempt.price is None
        if risky:
            # From a network new to the extension: once an hour, and on every call somewhere
            # the tenant never called (a traveller calling the usual contacts is not it).
            elsewhere = not baseline.knows_range(attempt.number)
            if (
                network
                and (elsewhere or at - ext.new_network_at >= _HOUR)
                and _is_new_network(ext, network, at, s.new_network_for)
            ):
                ext.new_network_at = at
                hits.append(
                    Hit(
                        signal=Signal.NEW_NETWORK,
                        points=w[Signal.NEW_NETWORK],
                        detail=f"from {network}, first seen lately",
                    )
                )
            if not novel:
                pass
            elif attempt.international and not baseline.knows_country(attempt.country):
                if _first(tenant.fresh, attempt.country, at):
                    hits.append(
                        Hit(
                            signal=Signal.NEW_COUNTRY,
                            points=w[Signal.NEW_COUNTRY],
                            detail=f"{attempt.country}, never called before",
                        )
                    )
            elif not baseline.knows_range(attempt.number) and _first(tenant.fresh, rng, at):
                hits.append(
                    Hit(
                        signal=Signal.NEW_RANGE,
                        points=w[Signal.NEW_RANGE],
                        detail=f"{rng}, never called before",
                    )
                )
            if attempt.high_risk:
                hits.append(
                    Hit(
                        signal=Signal.HIGH_RISK,
                        points=w[Signal.HIGH_RISK],
                        detail=f"{attempt.number} is a premium or high-risk number",
                    )
                )
            dear = attempt.price is not None and attempt.price >= s.high_cost_price
            if dear and (premium or not baseline.knows_range(attempt.number)):
                # Dear and somewhere new: the tenant's usual dear destinations are its business.
                hits.append(
                    Hit(
                        signal=Signal.HIGH_COST,
                        points=w[Signal.HIGH_COST],
                        detail=f"{attempt.price} a minute",
                    )
                )
            if dearest is not None:
                # Priced far above anything the tenant pays to that country: not its mobiles,
                # a number on a high-cost network, which is where revenue-share fraud ends.
                hits.append(
                    Hit(
                        signal=Signal.OVERPRICED,
                        points=w[Signal.OVERPRICED],
                        detail=f"{attempt.price} a minute to {attempt.country}, where a minute "
                        f"usually costs {dearest}",
                    )
                )
            if off and baseline.quiet(how):
                hits.append(Hit(signal=Signal.OFF_HOURS, points=w[Signal.OFF_HOURS], detail=when))
            if at - flagged_at <= s.incident_range_for and at >= ext.pin_trusted_until:
                hits.append(
                    Hit(
                        signal=Signal.RANGE_IN_INCIDENT,
                        points=w[Signal.RANGE_IN_INCIDENT],
                        detail=f"{rng} was called in an open incident",
                    )
                )
            # Many numbers abroad, in ranges the tenant never called: a busy day calling its
            # usual contacts is not it.
            callees = {n for _, n, novel in ext.recent if novel}
            if attempt.international and not baseline.knows_range(attempt.number):
                callees.add(attempt.number)
                if len(callees) >= s.many_callees:
                    hits.append(
                        Hit(
                            signal=Signal.MANY_CALLEES,
                            points=w[Signal.MANY_CALLEES],
                            detail=f"{len(callees)} new numbers abroad in an hour",
                        )
                    )
            _trim(ext.short, at - s.test_window)
            if len(ext.short) >= s.test_calls:
                hits.append(
                    Hit(
                        signal=Signal.TEST_CALLS,
                        points=w[Signal.TEST_CALLS],
                        detail=f"after {len(ext.short)} answered calls under {s.short_call:g} s",
                    )
                )
            # At once from two places, one of them new to the extension: a phone and a second
            # device it has long used are not it.
            others = {c.source for c in ext.calls.values() if c.source}
            fresh = [
                _is_new_network(ext, _network(a), at, s.new_network_for)
                for a in others | {attempt.source}
            ]
            if attempt.source and others - {attempt.source} and any(fresh):
                hits.append(
                    Hit(
                        signal=Signal.PARALLEL_SOURCES,
                        points=w[Signal.PARALLEL_SOURCES],
                        detail=f"calls at once from {len(others | {attempt.source})} addresses",
                    )
                )
            if at < ext.suspect_until:
                hits.append(
                    Hit(
                        signal=Signal.NEW_NETWORK_AFTER_FAILURES,
                        points=w[Signal.NEW_NETWORK_AFTER_FAILURES],
                        detail="registered from a new network after failed logins",
                    )
                )
        expected = baseline.expected_calls(how)
        if at - tenant.velocity_flagged_at < _HOUR:
            pass  # velocity is a fact about the hour: it scores once, not on every call in it
        elif len(tenant.recent) + 1 > max(
            s.velocity_factor * expected, expected + s.velocity_margin
        ):
            tenant.velocity_flagged_at = at
            hits.append(
                Hit(
                    signal=Signal.VELOCITY,
                    points=w[Signal.VELOCITY],
                    detail=f"{len(tenant.recent) + 1} calls in an hour, usually {expected:.1f}",
                )
            )
        elif sum(1 for t, _, _ in ext.recent if t > at - 600) + 1 >= s.extension_burst:
            hits.append(
                Hit(
                    signal=Signal.VELOCITY,
                    points=w[Signal.VELOCITY],
                    detail=f"{s.extension_burst} or more calls from it in 10 min",
                )
            )
        unknown = (
            attempt.international and not baseline.knows_country(attempt.country)
        ) or not baseline.knows_range(attempt.number)
        if risky and (unknown or premium):
            # Night is the hours the clock calls night and the tenant is quiet: a tenant
            # that works round the clock is held to the day's rule at night too.
            night = off and baseline.quiet(how)
            spread = self._spread(tenant, attempt, off=night, novel=novel, premium=premium)
            if spread:
                hits.append(Hit(signal=Signal.SPREAD, points=w[Signal.SPREAD], detail=spread))
        return self._conclude(
            tenant, ext, attempt, hits, track=True, suspect=premium or _suspect(tenant, attempt)
        )

    def _spread(
        self, tenant: _Tenant, attempt: OutboundAttempt, *, off: bool, novel: bool, premium: bool
    ) -> str:
        """Whether a call somewhere new makes a spread: leaked credentials of several
        extensions, each making a call or two so that none looks busy. At night, new
        destinations from several extensions within the hour; by day, when the tenant's
        users call new places all the time, new *dear* destinations (distinct numbers: not
        colleagues calling one new customer) from several extensions within half an hour.
        Returns what it saw, or "" when it is not one."""
        s = self.settings
        at = attempt.at
        if off:
            tenant.new_at_night.append((at, attempt.ext))
        _trim_pairs(tenant.new_at_night, at - _HOUR)
        if novel:
            where = "!" if premium else attempt.country
            tenant.new_dear.append((at, attempt.ext, attempt.number, where))
        _trim_pairs(tenant.new_dear, at - s.spread_day_window)
        if off and len({e for _, e in tenant.new_at_night}) >= s.spread_extensions:
            many = len({e for _, e in tenant.new_at_night})
            seen = f"{many} extensions call new destinations at night"
        elif not novel:
            return ""
        else:
            exts = {e for _, e, _, _ in tenant.new_dear}
            numbers = {n for _, _, n, _ in tenant.new_dear}
            places = {c for _, _, _, c in tenant.new_dear}
            # One new country called by many: the tenant's new market, not a spread. Several,
            # or premium or overpriced numbers (a new market is called at its usual prices),
            # are.
            few = min(len(exts), len(numbers)) < s.spread_day_extensions
            if few or places == {attempt.country}:
                return ""
            seen = (
                f"{len(exts)} extensions call new dear destinations "
                f"within {s.spread_day_window / 60:g} min"
            )
        if not self._spreading(tenant, at):
            # A new spread. Its calls so far are its calls: what they cost counts from their
            # start.
            tenant.spread_spend = _ZERO
            since = at - (_HOUR if off else s.spread_day_window)
            for state in tenant.exts.values():
                for call in state.calls.values():
                    if call.international and call.suspect and call.at >= since:
                        call.spread = True
        tenant.spread_at = at
        return seen

    def _block(self, tenant: _Tenant, attempt: OutboundAttempt, why: str) -> Assessment:
        """A call back to a range that baited the tenant with one-ring calls (``why``):
        refused, whoever calls. The tenant hears of it once; the caller was fooled, not hacked,
        so nobody's score rises."""
        at = attempt.at
        hit = Hit(
            signal=Signal.WANGIRI_CALLBACK,
            points=self.settings.weights[Signal.WANGIRI_CALLBACK],
            detail=f"{why}; call-backs are refused",
        )
        response = Response.NONE
        if tenant.level < Response.NOTIFY:
            tenant.level = response = Response.NOTIFY
        tenant.signal_at = at
        return Assessment(
            tenant_id=attempt.tenant_id,
            ext=None,
            at=at,
            score=hit.points,
            extension_score=round(
                self._decayed(tenant.exts[attempt.ext].score, tenant.exts[attempt.ext].score_at, at)
            ),
            tenant_score=round(self._decayed(tenant.score, tenant.score_at, at)),
            hits=(hit,),
            response=response,
            scope=Scope.TENANT,
            refuse=True,
            blocked=True,
        )

    def _conclude(
        self,
        tenant: _Tenant,
        ext: _Ext,
        attempt: OutboundAttempt,
        hits: list[Hit],
        *,
        track: bool,
        suspect: bool = False,
    ) -> Assessment:
        at = attempt.at
        if (
            attempt.allowed
            and (attempt.international or attempt.high_risk)
            and ext.level is Response.PIN
            and self.level(attempt.tenant_id, attempt.ext) is not Response.CONTAIN
        ):
            hits = [*hits, *self._pin_not_given(ext, attempt)]
        score = sum(h.points for h in hits)
        ext.score = self._decayed(ext.score, ext.score_at, at) + score
        ext.score_at = at
        # The tenant adds up what its extensions do, not where they call: many users calling
        # a new, dear country is the tenant's business; several behaving oddly at once is not.
        behaviour = any(h.signal not in _CIRCUMSTANCE for h in hits)
        tenant.score = self._decayed(tenant.score, tenant.score_at, at) + (
            score if behaviour else 0
        )
        tenant.score_at = at
        if score:
            ext.signal_at = tenant.signal_at = at
        if behaviour:
            ext.behaviour_at = at
            if any(
                h.signal not in _CIRCUMSTANCE and h.signal is not Signal.NEW_NETWORK for h in hits
            ):
                ext.strong_at = at
        if behaviour:
            tenant.scorers.append((at, attempt.ext))
            _trim_pairs(tenant.scorers, at - _HOUR)
        response, scope = self._escalate(tenant, ext, attempt.ext, at)
        risky = attempt.international or attempt.high_risk
        contained = self.level(attempt.tenant_id, attempt.ext) is Response.CONTAIN
        pin = risky and not contained and ext.level is Response.PIN and attempt.allowed
        refuse = attempt.allowed and risky and (contained or pin)
        end_calls: tuple[str, ...] = ()
        if response is Response.CONTAIN:
            end_calls = self._international_calls(tenant, None if scope is Scope.TENANT else ext)
        if refuse and attempt.number and any(h.signal in _DESTINATION for h in hits):
            # A suspect destination tried by a held extension stays suspect for the others.
            tenant.incident_ranges[number_range(attempt.number)] = (at, attempt.ext)
        if track and not refuse:
            tenant.recent.append(at)
            novel = attempt.international and not tenant.baseline.knows_range(attempt.number)
            ext.recent.append((at, attempt.number, novel))
            ext.calls[attempt.call_key] = _Call(
                number=attempt.number,
                country=attempt.country,
                international=attempt.international,
                source=attempt.source,
                at=at,
                price=attempt.price,
                suspect=suspect,
                premium=attempt.high_risk or any(h.signal is Signal.OVERPRICED for h in hits),
                spread=suspect and attempt.international and self._spreading(tenant, at),
            )
            if ext.level >= Response.NOTIFY and any(h.signal in _DESTINATION for h in hits):
                # A destination that was itself suspect, called in an open incident: other
                # extensions calling it are suspect too. Ordinary destinations are not.
                tenant.incident_ranges[number_range(attempt.number)] = (at, attempt.ext)
        return Assessment(
            tenant_id=attempt.tenant_id,
            ext=attempt.ext if scope is Scope.EXTENSION else None,
            at=at,
            score=score,
            extension_score=round(ext.score),
            tenant_score=round(tenant.score),
            hits=tuple(hits),
            response=response,
            scope=scope,
            refuse=refuse,
            pin=pin,
            end_calls=end_calls,
        )

    def _pin_not_given(self, ext: _Ext, attempt: OutboundAttempt) -> list[Hit]:
        """An attempt about to be refused for the PIN: the third number abroad tried so,
        with the PIN never given, is somebody who does not know it (its own user, asked,
        gives it or stops)."""
        s = self.settings
        ext.unanswered.append((attempt.at, attempt.number))
        _trim_pairs(ext.unanswered, attempt.at - s.pin_not_given_window)
        tried = {n for _, n in ext.unanswered}
        if len(tried) < s.pin_not_given:
            return []
        return [
            Hit(
                signal=Signal.PIN_NOT_GIVEN,
                points=s.weights[Signal.PIN_NOT_GIVEN],
                detail=f"{len(tried)} numbers abroad tried without the PIN asked for",
            )
        ]

    def _escalate(self, tenant: _Tenant, ext: _Ext, name: str, at: float) -> tuple[Response, Scope]:
        """The response newly due, if any, and for whom."""
        s = self.settings
        tenant_notice = False
        if tenant.level is not Response.CONTAIN:
            _trim_pairs(tenant.contained, at - 86400)
            contained = {e for _, e in tenant.contained}
            due = Response.NONE
            # The tenant's own score counts once several of its extensions add to it: one
            # extension's run is that extension's incident.
            several = len({e for _, e in tenant.scorers}) >= 2
            if (several and tenant.score >= s.tenant_contain_at) or (
                len(contained | ({name} if ext.score >= s.contain_at else set()))
                >= s.contained_extensions_for_tenant
            ):
                due = Response.CONTAIN
            elif (several and tenant.score >= s.tenant_notify_at) or tenant.spread_at == at:
                due = Response.NOTIFY  # a spread is the tenant's incident from its first sight
            if due > tenant.level:
                tenant.level = due
                if due is Response.CONTAIN:
                    for state in tenant.exts.values():
                        state.level = max(state.level, Response.NOTIFY)
                    return due, Scope.TENANT
                tenant_notice = True
        due = Response.NONE
        if ext.score >= s.contain_at:
            due = Response.CONTAIN
        elif ext.score >= s.pin_at:
            due = Response.PIN
        elif ext.score >= s.notify_at:
            due = Response.NOTIFY
        if due is Response.PIN and at < ext.pin_trusted_until:
            due = Response.NOTIFY  # the PIN was given lately: not asked again so soon
        if due <= ext.level:
            if tenant_notice and ext.level < Response.NOTIFY:
                return Response.NOTIFY, Scope.TENANT
            return Response.NONE, Scope.EXTENSION
        if ext.incident_at is None:
            ext.incident_at = at
            ext.incident_spend = Decimal(0)
            for call in ext.calls.values():
                call.base = call.cost  # the incident counts what its calls cost from now on
        ext.level = due
        if due is Response.CONTAIN:
            tenant.contained.append((at, name))
        return due, Scope.EXTENSION

    def _stop_spread(
        self, tenant_id: int, tenant: _Tenant, now: float, spent: Decimal
    ) -> list[Assessment]:
        """A spread's calls cost the cap: each extension with a call of it still running ends
        that call and needs the PIN for its next one. A user who gives the PIN goes on (a
        colleague calling the same new market is not held up for long); an attacker with
        leaked passwords gets no further."""
        out: list[Assessment] = []
        for name, ext in tenant.exts.items():
            keys = tuple(k for k, c in ext.calls.items() if c.spread)
            if not keys or now < ext.pin_trusted_until or ext.level is Response.CONTAIN:
                continue
            for key in keys:  # ended now: what they cost so far is the spread's already
                call = ext.calls[key]
                call.spread = False
                tenant.spread_spend += call.cost
            hit = Hit(
                signal=Signal.SPREAD,
                points=0,
                detail=f"{spent.quantize(Decimal('0.01'))} spent on the calls of a spread over "
                "extensions; its calls are ended and the PIN asked",
            )
            out.append(self._ask_pin(tenant_id, tenant, name, now=now, hit=hit, keys=keys))
        return out

    def _ask_pin(
        self,
        tenant_id: int,
        tenant: _Tenant,
        name: str,
        *,
        now: float,
        hit: Hit,
        keys: tuple[str, ...],
    ) -> Assessment:
        """End the extension's calls ``keys`` and hold it at the PIN: its next call abroad
        needs the PIN, which its own user knows and an attacker does not."""
        ext = tenant.exts[name]
        response = Response.PIN if ext.level < Response.PIN else Response.NONE
        ext.level = max(ext.level, Response.PIN)
        pin_at = float(self.settings.pin_at)
        ext.score = max(self._decayed(ext.score, ext.score_at, now), pin_at)
        ext.score_at = ext.signal_at = tenant.signal_at = now
        if ext.incident_at is None:
            ext.incident_at, ext.incident_spend = now, _ZERO
        return Assessment(
            tenant_id=tenant_id,
            ext=name,
            at=now,
            score=0,
            extension_score=round(ext.score),
            tenant_score=round(tenant.score),
            hits=(hit,),
            response=response,
            scope=Scope.EXTENSION,
            end_calls=keys,
        )

    @staticmethod
    def _end_spread(tenant: _Tenant) -> None:
        """Forget the tenant's spread (released, or quiet): its calls cost as any others."""
        tenant.new_dear.clear()
        tenant.spread_at, tenant.spread_spend = float("-inf"), _ZERO
        for state in tenant.exts.values():
            for call in state.calls.values():
                call.spread = False

    def _spreading(self, tenant: _Tenant, at: float) -> bool:
        """Whether the tenant has a spread on (seen within the hour): its suspect calls
        abroad count against the spread's spend cap."""
        return at - tenant.spread_at <= _HOUR

    def _international_calls(self, tenant: _Tenant, ext: _Ext | None) -> tuple[str, ...]:
        states = [ext] if ext is not None else list(tenant.exts.values())
        return tuple(key for state in states for key, c in state.calls.items() if c.international)

    def ended(self, event: CallEnded) -> None:
        """An outbound call ended: learn it when its extension was above suspicion, and keep
        what it cost and whether it was a short "test" call."""
        tenant = self._tenants.get(event.tenant_id)
        if tenant is None or event.ext not in tenant.exts:
            return
        ext = tenant.exts[event.ext]
        call = ext.calls.pop(event.call_key, None)
        if call is None:
            return
        if event.answered and event.duration <= self.settings.short_call and call.international:
            ext.short.append(event.at)
        cost = event.cost or Decimal(0)
        if cost > 0 and call.international and call.suspect:
            ext.spend.append((event.at, cost))
            _trim_pairs(ext.spend, event.at - _SPEND_WINDOW)
        if cost > 0 and _in_incident(ext, call):
            ext.incident_spend += max(_ZERO, cost - call.base)
        if cost > 0 and call.spread:
            tenant.spread_spend += cost
        if ext.level is Response.NONE and tenant.level is not Response.CONTAIN and not call.premium:
            # Only where it called: the volume and spend per hour are learned from the records
            # at start, over whole weeks, so that today's calls do not raise today's bar. A
            # premium or overpriced number is never learned from one quiet call: a careful
            # attacker's first call would make the next ones look like the tenant's own.
            tenant.baseline.know(call.number, call.country, call.price)

    def inbound(self, event: InboundCall) -> None:
        """Watch for a wangiri wave: several numbers of one range abroad ring the tenant within
        the hour and hang up within a few seconds. One missed call is just a missed call; a
        wave's range is blocked for a few days, since calling it back is what costs."""
        s = self.settings
        if event.answered or event.caller_country in ("", event.home_country):
            return
        if event.rang_for > s.wangiri_ring or not event.caller.startswith("+"):
            return
        tenant = self._tenant(event.tenant_id)
        rng = number_range(event.caller)
        rings = tenant.rings.get(rng)
        if rings is None:
            rings = tenant.rings[rng] = deque()
            if len(tenant.rings) > _MAX_BAIT:
                del tenant.rings[next(iter(tenant.rings))]
        rings.append((event.at, event.caller))
        _trim_pairs(rings, event.at - s.wangiri_wave_window)
        if len({caller for _, caller in rings}) >= s.wangiri_wave:
            tenant.wangiri.pop(rng, None)
            tenant.wangiri[rng] = event.at
            if len(tenant.wangiri) > _MAX_BAIT:
                del tenant.wangiri[next(iter(tenant.wangiri))]

    def auth_failed(self, event: AuthFailure) -> None:
        if event.ext is None:
            return
        ext = self._tenant(event.tenant_id).exts.setdefault(event.ext, _Ext())
        ext.failures.append(event.at)
        _trim(ext.failures, event.at - 600)

    def registered(self, event: Registered, *, timezone: str = "UTC") -> Assessment:
        """A successful REGISTER. From a network the extension never used, right after a
        burst of failed logins, it is probably the attacker's: the extension is suspect for a
        day, and that alone opens an incident."""
        s = self.settings
        tenant = self._tenant(event.tenant_id, timezone)
        ext = tenant.exts.setdefault(event.ext, _Ext())
        network = _network(event.source)
        _trim(ext.failures, event.at - 600)
        hits: list[Hit] = []
        fresh = network not in ext.networks and bool(ext.networks)
        _remember_network(ext, network, event.at)
        if fresh and len(ext.failures) >= s.failures_burst:
            ext.suspect_until = event.at + s.suspect_for
            hits.append(
                Hit(
                    signal=Signal.NEW_NETWORK_AFTER_FAILURES,
                    points=s.weights[Signal.NEW_NETWORK_AFTER_FAILURES],
                    detail=f"{network} after {len(ext.failures)} failed logins in 10 min",
                )
            )
        if not hits:
            return Assessment(tenant_id=event.tenant_id, ext=event.ext, at=event.at)
        ext.failures.clear()
        attempt = OutboundAttempt(
            tenant_id=event.tenant_id,
            ext=event.ext,
            call_key="",
            at=event.at,
            number="",
            country="",
            home_country="",
            timezone=timezone,
            international=False,
            allowed=False,
        )
        return self._conclude(tenant, ext, attempt, hits, track=False)

    def watch(self, now: float, running: Iterable[RunningCall]) -> list[Assessment]:
        """Look at the answered calls in progress (every second or so): an extension under an
        incident that keeps spending is contained, and spend far above the tenant's usual for
        the last six hours raises an incident."""
        s = self.settings
        # Per extension: what its suspect calls cost so far, and its calls of the incident.
        by_ext: dict[tuple[int, str], tuple[Decimal, Decimal]] = {}
        spreads: dict[int, Decimal] = {}  # per tenant: what its spread's calls cost so far
        for call in running:
            if not call.international:
                continue
            tenant = self._tenants.get(call.tenant_id)
            ext = tenant.exts.get(call.ext) if tenant is not None else None
            if ext is None:
                continue
            state = ext.calls.get(call.call_key)
            suspect = state is None or state.suspect
            since = _ZERO
            if state is not None:
                state.cost = call.cost
                if _in_incident(ext, state):
                    since = max(_ZERO, call.cost - state.base)
                if state.spread:
                    spreads[call.tenant_id] = spreads.get(call.tenant_id, _ZERO) + call.cost
            key = (call.tenant_id, call.ext)
            watched, in_incident = by_ext.get(key, (_ZERO, _ZERO))
            by_ext[key] = (watched + (call.cost if suspect else _ZERO), in_incident + since)
        out: list[Assessment] = []
        for tenant_id, cost in spreads.items():
            tenant = self._tenants[tenant_id]
            spent = tenant.spread_spend + cost
            if not self._spreading(tenant, now):
                self._end_spread(tenant)  # it lapsed below the cap: its calls go on
            elif tenant.level is not Response.CONTAIN and spent >= s.spread_spend_cap:
                out.extend(self._stop_spread(tenant_id, tenant, now, spent))
        for (tenant_id, name), (cost, incident_cost) in by_ext.items():
            tenant = self._tenants[tenant_id]
            ext = tenant.exts[name]
            if self.level(tenant_id, name) is Response.CONTAIN:
                continue
            hits: list[Hit] = []
            incident_spend = ext.incident_spend + incident_cost
            if (
                ext.incident_at is not None
                and ext.behaviour_at >= ext.incident_at - _HOUR
                and incident_spend >= s.incident_spend_cap
            ):
                spent_abroad = f"{incident_spend.quantize(Decimal('0.01'))} spent abroad"
                keys = tuple(k for k, c in ext.calls.items() if _in_incident(ext, c))
                if (
                    ext.level is Response.NOTIFY
                    and _on_network_only(ext)
                    and now >= ext.pin_trusted_until
                ):
                    # An incident only worth telling, on nothing but a new network (a user
                    # on a hotel network calling somewhere new, say): its calls are cut and
                    # the PIN decides whether they go on. Past the PIN, or on stronger
                    # evidence (probing, test calls, parallel calls), spending is containment.
                    hit = Hit(
                        signal=Signal.SPEND_IN_INCIDENT,
                        points=0,
                        detail=f"{spent_abroad} since the incident opened; its calls are ended and "
                        "the PIN asked",
                    )
                    # Settled by the PIN: the incident counts afresh from here, so that each
                    # cap's worth of spending asks for the PIN again.
                    ext.incident_spend = _ZERO
                    for k in keys:
                        ext.calls[k].cut = True
                    out.append(self._ask_pin(tenant_id, tenant, name, now=now, hit=hit, keys=keys))
                    continue
                hits.append(
                    Hit(
                        signal=Signal.SPEND_IN_INCIDENT,
                        points=s.weights[Signal.SPEND_IN_INCIDENT],
                        detail=f"{spent_abroad} since the incident opened",
                    )
                )
            elif cost and now - ext.spend_flagged_at > _SPEND_WINDOW:
                _trim_pairs(ext.spend, now - _SPEND_WINDOW)
                spent = sum((c for _, c in ext.spend), Decimal(0)) + cost
                how = hour_of_week(now, tenant.baseline.timezone)
                usual = tenant.baseline.expected_spend(range(how - 5, how + 1))
                floor = max(
                    Decimal(str(round(usual * s.spend_velocity_factor, 2))), s.spend_velocity_min
                )
                if spent >= floor:
                    ext.spend_flagged_at = now
                    hits.append(
                        Hit(
                            signal=Signal.SPEND_VELOCITY,
                            points=s.weights[Signal.SPEND_VELOCITY],
                            detail=f"{spent.quantize(Decimal('0.01'))} in 6 h, usually {usual:.2f}",
                        )
                    )
            if not hits:
                continue
            attempt = OutboundAttempt(
                tenant_id=tenant_id,
                ext=name,
                call_key="",
                at=now,
                number="",
                country="",
                home_country="",
                timezone=tenant.baseline.timezone,
                international=False,
                allowed=False,
            )
            out.append(self._conclude(tenant, ext, attempt, hits, track=False))
        return out


_MAX_FRESH = 1000
_DESTINATION = frozenset(
    {
        Signal.NEW_COUNTRY,
        Signal.NEW_RANGE,
        Signal.HIGH_RISK,
        Signal.HIGH_COST,
        Signal.OVERPRICED,
        Signal.RANGE_IN_INCIDENT,
    }
)
#: Where and when a call goes, as against what the extension does (a new network, probing,
#: test calls, parallel calls, failed logins, spending fast). Circumstances alone open an
#: incident to tell the tenant, but only behaviour cuts calls for what they cost, and only
#: behaviour adds to the tenant's own score.
_CIRCUMSTANCE = _DESTINATION | {Signal.OFF_HOURS, Signal.SPEND_VELOCITY}


def _remember_network(ext: _Ext, network: str, at: float) -> None:
    """Keep the networks an extension registers or calls from, with when each was first seen
    (the oldest are forgotten first)."""
    if network in ext.networks:
        return
    ext.networks[network] = at
    if len(ext.networks) > _MAX_NETWORKS:
        del ext.networks[min(ext.networks, key=ext.networks.__getitem__)]


def _is_new_network(ext: _Ext, network: str, at: float, within: float) -> bool:
    """Whether the extension first appeared on this network lately, having been seen on
    another one before it (a restart forgets networks: nothing is new until one is known)."""
    first = ext.networks.get(network)
    if first is None or at - first > within:
        return False
    return any(seen < first for seen in ext.networks.values())


def _overpriced(
    baseline: Baseline, attempt: OutboundAttempt, dear: Decimal, factor: Decimal
) -> Decimal | None:
    """What a minute to the call's country usually costs, when the call is dear and priced
    ``factor`` times that or more; else ``None``. Usually is the dearest minute the tenant has
    paid there (its mobiles too: what it paid before is never overpriced), and at least the
    rate table's price of an ordinary number there (for a country it never called)."""
    price = attempt.price
    if price is None or price < dear:
        return None
    usual = max(
        (p for p in (baseline.dearest(attempt.country), attempt.country_price) if p is not None),
        default=None,
    )
    if usual is None or price < usual * factor:
        return None
    return usual


def _suspect(tenant: _Tenant, attempt: OutboundAttempt) -> bool:
    """Whether what a call costs is watched: somewhere the tenant never called, or high-risk."""
    baseline = tenant.baseline
    unknown_country = attempt.international and not baseline.knows_country(attempt.country)
    return attempt.high_risk or unknown_country or not baseline.knows_range(attempt.number)


def _on_network_only(ext: _Ext) -> bool:
    """Whether the extension's open incident rests, for what it did, on nothing but a new
    network: a traveller looks like that; probing, test calls or parallel calls do not."""
    return ext.incident_at is not None and ext.strong_at < ext.incident_at - _HOUR


def _in_incident(ext: _Ext, call: _Call) -> bool:
    """Whether what the call costs counts against the extension's open incident (from when
    it opened): a call abroad to somewhere new or dear."""
    return (
        ext.incident_at is not None
        and call.international
        and call.suspect
        and not (call.vouched or call.cut)
    )


def _first(fresh: dict[str, float], key: str, at: float) -> bool:
    """Whether ``key`` is called for the first time in a day (and remember that it was)."""
    seen = fresh.get(key)
    if seen is not None and at - seen < 86400:
        return False
    fresh.pop(key, None)
    fresh[key] = at
    if len(fresh) > _MAX_FRESH:
        del fresh[next(iter(fresh))]
    return True


def _trim(times: deque[float], before: float) -> None:
    while times and times[0] <= before:
        times.popleft()


def _trim_pairs(items: deque[Any], before: float) -> None:
    while items and items[0][0] <= before:
        items.popleft()
