"""The perimeter's decisions: admit a packet or drop it, and ban whoever earns it.

Pure: every method takes ``now`` (wall-clock seconds) and the source address, and the shell acts
on what comes back. What happened worth an operator's eye (a ban, a scanner, an extension
targeted) is queued as :class:`GuardEvent` for the shell to log and to tell the tenant.

Order of the checks on a packet (before it is parsed, DESIGN.md §1 step 2): the operator's
allow-list, bans, the source's own rates (all methods, then initial INVITEs and REGISTERs, read
off the first bytes), then the global budget, of which known-good sources (phones that
authenticated lately, trunks) keep a share of their own.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field
from enum import Enum
from ipaddress import ip_address

from ringfence.guard.bans import DEFAULT_LADDER, BanList
from ringfence.guard.counters import Buckets, Window
from ringfence.guard.model import Ban, Network, in_networks, parse_network, plain_address
from ringfence.guard.scanners import Fingerprints

__all__ = ["GuardEvent", "GuardSettings", "Perimeter", "Verdict"]


class Verdict(Enum):
    ADMIT = "admit"
    DROP = "drop"  # nothing sent back
    BUSY = "busy"  # a 503 with Retry-After: cheaper than the retransmissions a drop brings


@dataclass(frozen=True, slots=True, kw_only=True)
class GuardSettings:
    failures_per_source: int = 5  # failed authentications from one address ...
    failures_window: float = 600.0  # ... within this many seconds ban it
    #: An address where a phone authenticated lately may be a whole office behind NAT: it pays
    #: a fraction of this per packet against its rates (see also ``auth_failed``).
    known_factor: int = 4
    failures_per_extension: int = 20  # from anywhere, within the window: the tenant is told
    probe_users: int = 10  # distinct users refused (wrong password, unknown) ...
    probe_window: float = 60.0  # ... within this many seconds from one address: enumeration
    #: Distinct users challenged (no credentials yet) within ``probe_window`` without one
    #: getting in: higher, since a whole office behind one NAT boots at once.
    walk_users: int = 50
    options_users: int = 5  # OPTIONS to so many distinct users within ``probe_window``: a sweep
    malformed: int = 20  # messages that do not parse within ``probe_window``: a fuzzer
    source_rate: float = 50.0  # requests a second from one address, all methods
    source_burst: float = 100.0
    invite_rate: float = 5.0  # initial INVITEs a second from one address
    invite_burst: float = 20.0
    register_rate: float = 5.0  # REGISTERs a second from one address
    register_burst: float = 20.0
    global_rate: float = 2000.0  # what the node takes in, every source together
    global_burst: float = 4000.0
    known_share: float = 0.5  # of the global rate, kept for known-good sources
    flood_strikes: int = 200  # packets over its rates within ``probe_window`` ban an address
    busy_answers: float = 20.0  # 503s a second at most; past that, drop
    retry_after: int = 5  # seconds, in the 503
    known_for: float = 3900.0  # an address stays known-good this long after it authenticated
    ladder: tuple[float, ...] = DEFAULT_LADDER
    allow: tuple[str, ...] = ()  # operator's allow-list: addresses or networks never refused
    max_sources: int = 65_536  # per-address state kept at most (least recently seen goes)
    #: An IPv6 scanner rotates through its /64 at no cost: so many of its addresses banned at
    #: once ban the whole prefix.
    v6_prefix: int = 64
    v6_prefix_hosts: int = 4


@dataclass(frozen=True, slots=True, kw_only=True)
class GuardEvent:
    kind: str  # ban, scanner, brute_force, enumeration, options_sweep, flood, extension_targeted
    address: str
    detail: str
    at: float
    tenant_id: int | None = None
    ext: str | None = None
    ban: Ban | None = None


@dataclass(slots=True)
class _Seen:
    """Users one address asked for without getting in: user -> when first refused."""

    users: OrderedDict[str, float] = field(default_factory=OrderedDict)


class Perimeter:
    def __init__(
        self, settings: GuardSettings | None = None, fingerprints: Fingerprints | None = None
    ) -> None:
        s = self.settings = settings or GuardSettings()
        self.fingerprints = fingerprints or Fingerprints()
        self.bans = BanList(ladder=s.ladder)
        self._allow = [parse_network(a) for a in s.allow]
        self._failures = Window(
            limit=s.failures_per_source, seconds=s.failures_window, max_keys=s.max_sources
        )
        #: At a known address: failures per (address, extension), and the pairs muted.
        self._pair_failures = Window(
            limit=s.failures_per_source, seconds=s.failures_window, max_keys=s.max_sources
        )
        self._muted: OrderedDict[tuple[str, str], tuple[float, int]] = OrderedDict()
        self._failing: OrderedDict[str, _Seen] = OrderedDict()
        self._targeted = Window(
            limit=s.failures_per_extension, seconds=s.failures_window, max_keys=s.max_sources
        )
        self._all = Buckets(rate=s.source_rate, burst=s.source_burst, max_keys=s.max_sources)
        self._invites = Buckets(rate=s.invite_rate, burst=s.invite_burst, max_keys=s.max_sources)
        self._registers = Buckets(
            rate=s.register_rate, burst=s.register_burst, max_keys=s.max_sources
        )
        share = s.known_share
        self._global = Buckets(rate=s.global_rate * (1 - share), burst=s.global_burst * (1 - share))
        self._global_known = Buckets(rate=s.global_rate * share, burst=s.global_burst * share)
        self._busy = Buckets(rate=s.busy_answers, burst=s.busy_answers)
        self._strikes = Window(
            limit=s.flood_strikes, seconds=s.probe_window, max_keys=s.max_sources
        )
        self._malformed = Window(limit=s.malformed, seconds=s.probe_window, max_keys=s.max_sources)
        self._known: OrderedDict[str, float] = OrderedDict()  # address -> known until
        self._trunks: frozenset[str] = frozenset()
        self._trunk_networks: tuple[Network, ...] = ()
        self._probing: OrderedDict[str, _Seen] = OrderedDict()
        self._sweeping: OrderedDict[str, _Seen] = OrderedDict()
        self._walking: OrderedDict[str, _Seen] = OrderedDict()
        self._events: deque[GuardEvent] = deque(maxlen=10_000)

    # -- every packet ----------------------------------------------------------------------------

    def admit(self, host: str, head: bytes, now: float) -> Verdict:
        """Before parsing: whether a packet from ``host`` goes on. ``head`` is its first bytes
        (the method of a request, for the per-method rates)."""
        if self._allowed(host):
            return Verdict.ADMIT
        if self.bans.banned(host, now) is not None:
            return Verdict.DROP
        known = self.known(host, now)
        # A known address may be an office of phones behind one NAT: it pays less per packet.
        cost = 1 / self.settings.known_factor if known else 1.0
        if not self._all.take(host, now, cost):
            return self._strike(host, now, "requests")
        if head.startswith(b"INVITE ") and not self._invites.take(host, now, cost):
            return self._strike(host, now, "INVITEs")
        if head.startswith(b"REGISTER ") and not self._registers.take(host, now, cost):
            return self._strike(host, now, "REGISTERs")
        if known:
            if self._global_known.take("known", now) or self._global.take("all", now):
                return Verdict.ADMIT
        elif self._global.take("all", now):
            return Verdict.ADMIT
        # The node is at capacity: a polite few are told to come back, the rest dropped.
        return Verdict.BUSY if self._busy.take("busy", now) else Verdict.DROP

    def _strike(self, host: str, now: float, what: str) -> Verdict:
        if self._strikes.add(host, now):
            self._strikes.clear(host)
            self._ban(host, now, "flood", f"over its rate of {what} again and again")
        return Verdict.DROP

    # -- after parsing ---------------------------------------------------------------------------

    def scanner(
        self,
        host: str,
        user_agent: str | None,
        from_display: str | None,
        now: float,
        *,
        method: str = "",
    ) -> bool:
        """Whether a request naming a scanner is dropped; its source is banned either way.

        An OPTIONS is the exception: it is answered as any OPTIONS is (an open port shows a
        server to any scan anyway), and everything after it from there is dropped. A network
        scan thus reports a server whose address then goes dark to every tool that follows.
        """
        if self._allowed(host):
            return False
        tool = self.fingerprints.match(user_agent, from_display)
        if tool is None:
            return False
        self._ban(host, now, "scanner", f"{tool} (User-Agent {user_agent or '-'!r})")
        return method != "OPTIONS"

    def malformed(self, host: str, now: float) -> None:
        """A message from ``host`` that does not parse (answered 400 where it can be): a strike.
        A phone's odd message now and then is forgiven; a fuzzer's stream is banned."""
        if self._allowed(host):
            return
        if self._malformed.add(host, now):
            self._malformed.clear(host)
            limit, window = self.settings.malformed, self.settings.probe_window
            self._ban(host, now, "malformed", f"{limit} malformed messages in {window:g} s")

    def auth_failed(
        self,
        host: str,
        tenant_id: int | None,
        ext: str | None,
        now: float,
        *,
        exists: bool = True,
    ) -> None:
        """A wrong password (or an unknown user: the same to anyone outside) from ``host``.

        From an address nobody logged in from lately: five failures ban it. From one where
        phones did log in (an office behind one NAT), one phone's stale password must not shut
        out the others: five failures for one extension mute that extension from there (its
        requests from that address are dropped, the ladder's time); the address itself is
        banned only when five extensions failed from it.
        """
        if self._allowed(host):
            return
        s = self.settings
        if ext and self.known(host, now):
            pair = (host, ext)
            if self._pair_failures.add(pair, now):
                self._pair_failures.clear(pair)
                self._mute(pair, tenant_id, now)
            self._distinct(
                self._failing,
                host,
                ext,
                now=now,
                limit=s.failures_per_source,
                window=s.failures_window,
                kind="brute_force",
                what="users with failed logins",
            )
        else:
            self._failures.add(host, now)
            failed = self._failures.count(host, now)
            if failed >= s.failures_per_source:
                self._failures.clear(host)
                self._ban(
                    host, now, "brute_force", f"{failed} failed logins in {s.failures_window:g} s"
                )
        # ``exists``: the tenant has such an extension (a made-up name is nobody to warn).
        if exists and tenant_id is not None and ext and self._targeted.add((tenant_id, ext), now):
            self._targeted.clear((tenant_id, ext))
            self._emit(
                GuardEvent(
                    kind="extension_targeted",
                    address=host,
                    detail=f"{s.failures_per_extension} failed logins for it in "
                    f"{s.failures_window:g} s; its phones keep working",
                    at=now,
                    tenant_id=tenant_id,
                    ext=ext,
                )
            )

    @property
    def has_muted(self) -> bool:
        """Whether any (address, extension) is muted: the shell looks further only then."""
        return bool(self._muted)

    def muted(self, host: str, user: str, now: float) -> bool:
        """Whether requests claiming ``user`` from ``host`` are dropped (:meth:`auth_failed`)."""
        if not self._muted:
            return False
        entry = self._muted.get((host, user))
        return entry is not None and now < entry[0]

    def _mute(self, pair: tuple[str, str], tenant_id: int | None, now: float) -> None:
        _, offences = self._muted.pop(pair, (0.0, 0))
        offences += 1
        ladder = self.settings.ladder
        step = ladder[min(offences, len(ladder)) - 1]
        self._muted[pair] = (now + step, offences)
        if len(self._muted) > self.settings.max_sources:
            self._muted.popitem(last=False)
        host, ext = pair
        self._emit(
            GuardEvent(
                kind="wrong_password",
                address=host,
                detail=f"{self.settings.failures_per_source} wrong passwords for it from an "
                f"address where other phones log in: its requests from there are dropped for "
                f"{step:g} s, the other phones there go on",
                at=now,
                tenant_id=tenant_id,
                ext=ext,
            )
        )

    def refused(self, host: str, user: str, now: float, *, challenged: bool = False) -> None:
        """A request for ``user`` refused (``challenged``: asked for credentials it did not
        bring): one user after another from one address, none getting in, is somebody walking
        the extensions."""
        s = self.settings
        self._distinct(
            self._walking if challenged else self._probing,
            host,
            user,
            now=now,
            limit=s.walk_users if challenged else s.probe_users,
            kind="enumeration",
            what=f"users {'challenged' if challenged else 'tried'}, none logged in",
        )

    def options(self, host: str, user: str, now: float) -> None:
        """An OPTIONS to ``user``: a phone keeps pinging one address, a sweep walks many."""
        self._distinct(
            self._sweeping,
            host,
            user,
            now=now,
            limit=self.settings.options_users,
            kind="options_sweep",
            what="users swept with OPTIONS",
        )

    def authenticated(self, host: str, user: str, now: float) -> None:
        """A phone got in from ``host``: the address is known-good for a while, and the user
        is no longer one it tried in vain."""
        for table in (self._probing, self._walking, self._failing):
            seen = table.get(host)
            if seen is not None:
                seen.users.pop(user, None)
        self._pair_failures.clear((host, user))
        self._known.pop(host, None)
        self._known[host] = now + self.settings.known_for
        if len(self._known) > self.settings.max_sources:
            self._known.popitem(last=False)

    def known(self, host: str, now: float) -> bool:
        """A trunk, or an address where a phone authenticated lately."""
        if host in self._trunks:
            return True
        if self._trunk_networks and in_networks(host, self._trunk_networks):
            return True
        until = self._known.get(host)
        return until is not None and now < until

    def set_trunks(self, hosts: frozenset[str], networks: tuple[Network, ...] = ()) -> None:
        """The trunks' hosts and accepted networks: known-good, they keep a share under a
        flood."""
        self._trunks = hosts
        self._trunk_networks = networks

    def drain(self) -> list[GuardEvent]:
        """What happened since the last call, for the shell to log and pass on."""
        events = list(self._events)
        self._events.clear()
        return events

    # -- inside ----------------------------------------------------------------------------------

    def _allowed(self, host: str) -> bool:
        if not self._allow:
            return False
        try:
            address = ip_address(plain_address(host))
        except ValueError:
            return False
        return any(address.version == n.version and address in n for n in self._allow)

    def _distinct(
        self,
        table: OrderedDict[str, _Seen],
        host: str,
        user: str,
        *,
        now: float,
        limit: int,
        kind: str,
        what: str,
        window: float | None = None,
    ) -> None:
        if self._allowed(host):
            return
        seen = table.get(host)
        if seen is None:
            seen = table[host] = _Seen()
            if len(table) > self.settings.max_sources:
                table.popitem(last=False)
        else:
            table.move_to_end(host)
        window = self.settings.probe_window if window is None else window
        while seen.users and now - next(iter(seen.users.values())) > window:
            seen.users.popitem(last=False)
        seen.users.pop(user, None)
        seen.users[user] = now
        if len(seen.users) > limit:
            seen.users.popitem(last=False)
        if len(seen.users) >= limit:
            seen.users.clear()
            self._ban(host, now, kind, f"{limit} {what} in {window:g} s")

    def _ban(self, host: str, now: float, kind: str, detail: str) -> None:
        ban = self.bans.offend(host, now, kind)
        self._emit(GuardEvent(kind=kind, address=host, detail=detail, at=now, ban=ban))
        s = self.settings
        wide = self.bans.widen(host, now, prefix=s.v6_prefix, hosts=s.v6_prefix_hosts)
        if wide is not None:
            self._emit(
                GuardEvent(
                    kind=kind,
                    address=wide.network,
                    detail=f"{s.v6_prefix_hosts} addresses of one /{s.v6_prefix} banned at once",
                    at=now,
                    ban=wide,
                )
            )

    def _emit(self, event: GuardEvent) -> None:
        self._events.append(event)
