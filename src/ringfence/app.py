"""The composition root: the only module that knows every package and the real world.

The SIP core takes its clock, randomness and identifiers as arguments; here they are bound to the
system clock and the operating system's random source. :func:`run_service` builds the running
phone service from :class:`ringfence.config.Settings`. Nothing else imports this module except
the entry points (``cli.py``) and the tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
import os
import secrets
import signal
import socket
import ssl
import sys
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import structlog
from prometheus_client import start_http_server

from ringfence.accounts import Directory, Tenant, TenantId, unknown_password_ha1s
from ringfence.app_fraud import (
    BASELINE_RELEARN_EVERY,
    BASELINE_WEEKS,
    FraudResponder,
    learn_baselines,
    seed_baselines,
)
from ringfence.config import Settings
from ringfence.fraud import Detector, Response, UsageLedger, periods
from ringfence.guard import GuardSettings, Perimeter, shipped_fingerprints
from ringfence.pbx.auth import Authenticator
from ringfence.pbx.calls import CallTracker
from ringfence.pbx.engine import SipService
from ringfence.pbx.location import LocationStore
from ringfence.pbx.metrics import Metrics
from ringfence.pbx.registrar import RegistrarService, from_stored
from ringfence.pbx.router import Router
from ringfence.policy import normalise
from ringfence.sip.digest import DigestVerifier
from ringfence.sip.nonce import NonceFactory, ReplayTracker
from ringfence.sip.proxy import ProxyIdentity
from ringfence.sip.registrar import RegistrarSettings
from ringfence.sip.transaction import TransactionLayer
from ringfence.sip.uri import SipUri, canonical_host
from ringfence.store import USAGE_STALE, BindingsWrite, CallRecord, Store, StoredBinding
from ringfence.transport.network import Listen, Network

__all__ = [
    "RunningService",
    "SystemSources",
    "build_digest_verifier",
    "run_service",
    "start_service",
]

log = structlog.get_logger("ringfence.app")


@dataclass(frozen=True, slots=True)
class SystemSources:
    """Clock and randomness for production use."""

    def now(self) -> float:
        """Wall-clock seconds: digest nonces must stay valid across nodes and restarts."""
        return time.time()

    def random_bytes(self, size: int) -> bytes:
        return secrets.token_bytes(size)

    def token(self) -> str:
        """A short random token for branches, tags and Call-IDs (RFC 3261 §19.3)."""
        return secrets.token_urlsafe(12)


def build_digest_verifier(
    secret: bytes, sources: SystemSources, *, lifetime: float = 300.0
) -> DigestVerifier:
    """A digest verifier whose nonces are signed with ``secret`` and salted from the OS."""
    factory = NonceFactory(secret, lifetime=lifetime, random_bytes=sources.random_bytes)
    return DigestVerifier(nonces=factory, replay=ReplayTracker(lifetime=lifetime))


class GroupCommitPersistence:
    """Commits call-path writes on one worker thread, in groups, so that the event loop never
    waits on the disk and one transaction carries every write that queued up meanwhile.

    A registration or a call record is acknowledged only once its group is committed. When a
    group fails, its writes are retried one by one, so one bad write (an extension removed a
    moment ago, say) fails alone. Groups are capped so that latency stays bounded.
    """

    _MAX_GROUP = 256

    def __init__(self, store: Store, executor: ThreadPoolExecutor) -> None:
        self._store = store
        self._executor = executor
        self._queue: list[tuple[BindingsWrite | CallRecord, asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def replace_bindings(
        self, tenant: Tenant, ext: str, bindings: tuple[StoredBinding, ...]
    ) -> None:
        await self._submit(BindingsWrite(tenant_id=tenant.id, ext=ext, bindings=bindings))

    async def add_call_record(self, record: CallRecord) -> None:
        await self._submit(record)

    async def call(self, function: Any, *args: Any, **kwargs: Any) -> Any:
        """Run a store call (not a call-path write) on the same worker thread."""
        bound = functools.partial(function, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self._executor, bound)

    async def _submit(self, write: BindingsWrite | CallRecord) -> None:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        self._queue.append((write, done))
        if self._flusher is None or self._flusher.done():
            self._flusher = loop.create_task(self._flush())
        await done

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        while self._queue:
            group = self._queue[: self._MAX_GROUP]
            del self._queue[: self._MAX_GROUP]
            writes = [write for write, _ in group]
            try:
                await loop.run_in_executor(self._executor, self._store.write_batch, writes)
            except Exception:
                for write, done in group:
                    try:
                        await loop.run_in_executor(self._executor, self._store.write_batch, [write])
                    except Exception as error:
                        if not done.done():
                            done.set_exception(error)
                    else:
                        if not done.done():
                            done.set_result(None)
                continue
            for _, done in group:
                if not done.done():
                    done.set_result(None)


def configure_logging(log_format: str) -> None:
    """structlog to stderr: console lines for people, JSON lines for machines."""
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if log_format == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )


# The collector's full passes. Live transactions wait out their timers for 32 s and more, so under
# load the heap holds hundreds of thousands of objects; CPython's own trigger ran a full pass over
# them every few seconds, and each one stopped the event loop for 100-300 ms (measured with
# bench/sip_load.py). Those objects hold no reference cycles (the passes collected nothing), so
# reference counting frees them. Young generations are still collected as usual, which catches
# nearly every cycle; the full pass runs on a schedule instead, and is logged with its duration.
FULL_COLLECTION_EVERY = 600.0  # seconds
BANS_SYNC = 2.0  # seconds between a node's syncs of its bans with the store
BANS_REMEMBERED = 8 * 86400.0  # a lapsed ban still counts toward its address's ladder
_NEVER = 2**31 - 1
SWITCH_INTERVAL = 0.001  # seconds


def tune_collector() -> None:
    """Freeze what start-up built (it lives as long as the service) and leave the oldest
    generation to :func:`full_collection`."""
    gc.freeze()
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, _NEVER)
    # The store's worker thread shares the interpreter lock with the event loop. CPython makes
    # a thread wait up to the switch interval (5 ms) for it; at 1 ms the loop waits less behind
    # a commit in progress.
    sys.setswitchinterval(SWITCH_INTERVAL)


def full_collection() -> None:
    started = time.perf_counter()
    collected = gc.collect()
    log.info(
        "gc_full",
        collected=collected,
        ms=round((time.perf_counter() - started) * 1000, 1),
    )


def _advertised_host(bind_host: str) -> str:
    """The address to put in Via and Record-Route: the bind address, or for a wildcard bind the
    address the host would use to reach the outside (found without sending anything)."""
    if bind_host not in ("0.0.0.0", "::", ""):  # noqa: S104 - comparing, not binding
        return bind_host
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("192.0.2.1", 9))  # TEST-NET-1: nothing is sent on a UDP connect
        return str(probe.getsockname()[0])
    return "127.0.0.1"


@dataclass
class RunningService:
    """Handles to a started service, for :func:`run_service` and the tests."""

    network: Network
    service: SipService
    store: Store
    metrics: Metrics
    stop: asyncio.Event
    advertised: dict[str, tuple[str, int]]
    tasks: set[asyncio.Task[None]]
    loops: set[asyncio.Task[None]]
    executor: ThreadPoolExecutor
    disarm: Callable[[], None]

    async def close(self, *, drain: float = 5.0) -> None:
        """Stop cleanly: background loops end, work in flight (binding and call-record commits
        and the answers that wait on them) finishes within ``drain`` seconds, then the sockets
        close, then the store. A call that ended before the stop keeps its record."""
        self.stop.set()
        for task in list(self.loops):
            task.cancel()
        await asyncio.gather(*self.loops, return_exceptions=True)
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=drain)
        self.disarm()  # no transaction timer fires into closed sockets
        await self.network.close()
        for task in list(self.tasks):
            task.cancel()
        if self.tasks:
            await asyncio.gather(*self.tasks, return_exceptions=True)
        self.executor.shutdown(wait=True)
        self.store.close()


async def start_service(settings: Settings) -> RunningService:
    """Build everything from settings and start listening. The caller owns the result."""
    sources = SystemSources()
    loop = asyncio.get_running_loop()
    # WAL with synchronous=NORMAL: a commit survives a crash of the process (the WAL is on disk
    # before the commit returns); only a power cut can take the last few. One fsync per
    # registration would otherwise bound the registrar (see bench/sip_load.py).
    store = Store.open(settings.db_url, sqlite_synchronous="NORMAL")
    store.migrate()
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ringfence-store")
    persistence = GroupCommitPersistence(store, executor)
    directory_box: list[Directory] = [store.load_directory()]
    secret = settings.secret_path.read_bytes()
    verifier = build_digest_verifier(secret, sources)
    location = LocationStore()
    for stored in store.load_bindings():
        if stored.expires_at > sources.now():
            tenant_regs = location.lookup(stored.tenant_id, stored.ext, sources.now())
            location.replace(stored.tenant_id, stored.ext, (*tenant_regs, from_stored(stored)))
    metrics = Metrics()
    metrics.registrations.set(location.count(sources.now()))
    detector = Detector()
    calls = CallTracker(detector=detector)
    history = store.outbound_records_since(sources.now() - 32 * 86400)
    seeded = seed_usage(calls.ledger, directory_box[0], history)
    # The store's counters hold every node's spend; the records seeded the call rates. A store
    # without counters yet (just upgraded) is given the records' spend, by one node only.
    store.seed_spend(spend=calls.ledger.take_pending(), now=sources.now())
    calls.ledger.reset_spend(store.load_spend(since=sources.now() - 32 * 86400))
    node = f"{socket.gethostname()[:40]}-{os.getpid()}-{secrets.token_hex(3)}"
    learned = seed_baselines(detector, directory_box[0], history, now=sources.now())
    holds_box = [_hold_detector(detector, directory_box[0], None)]

    listens = [
        Listen(transport="UDP", host=settings.sip.host, port=settings.sip.port),
        Listen(transport="TCP", host=settings.sip.host, port=settings.sip.port),
    ]
    tls_server: ssl.SSLContext | None = None
    if settings.sips is not None:
        tls_server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls_server.load_cert_chain(settings.tls_cert_path, settings.tls_key_path)
        listens.append(Listen(transport="TLS", host=settings.sips.host, port=settings.sips.port))
    # Outgoing TLS goes to phones (whose certificates nobody can verify) or to trunks; trunk
    # certificate verification arrives with the trunk settings of a later issue.
    tls_client = ssl.create_default_context()
    tls_client.check_hostname = False
    tls_client.verify_mode = ssl.CERT_NONE

    tasks: set[asyncio.Task[None]] = set()

    def spawn(coroutine: Coroutine[Any, Any, None]) -> None:
        task = loop.create_task(coroutine)
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    holder: list[SipService] = []
    network = Network(
        lambda data, peer: holder[0].receive(data, peer),  # noqa: PLW0108 - bound later
        tls_context=tls_server,
        client_tls_context=tls_client,
    )
    await network.start(listens)
    host = _advertised_host(settings.sip.host)
    advertised = {spec.transport: (host, spec.port) for spec in network.bound}
    addresses = frozenset((canonical_host(h), p) for h, p in advertised.values())
    identity = ProxyIdentity(
        addresses=addresses,
        record_route=SipUri(host=host, port=advertised["UDP"][1], params=(("lr", None),)),
    )
    router = Router(
        directory=lambda: directory_box[0],
        location=location,
        authenticator=Authenticator(verifier),
        wall_clock=sources.now,
        local_hosts=frozenset({host, settings.sip.host, "localhost", "127.0.0.1"}),
        calls=calls,
        detector=detector,
    )
    registrar = RegistrarService(
        location,
        RegistrarSettings(
            min_expires=settings.min_expires,
            max_expires=settings.max_expires,
            default_expires=settings.default_expires,
        ),
    )
    service = SipService(
        layer=TransactionLayer(),
        wire=network,
        router=router,
        registrar=registrar,
        location=location,
        persistence=persistence,
        identity=identity,
        advertised=advertised,
        token=sources.token,
        monotonic=loop.time,
        wall_clock=sources.now,
        metrics=metrics,
        spawn=spawn,
        silence_seconds=settings.silence_seconds,
        perimeter=Perimeter(
            GuardSettings(allow=settings.guard_allow), fingerprints=shipped_fingerprints()
        ),
    )
    service.perimeter.set_trunks(*directory_box[0].trunk_sources())
    # Bans from before a restart and from the other nodes; lapsed ones keep their ladder.
    service.perimeter.bans.merge(
        store.load_bans(since=sources.now() - BANS_REMEMBERED), sources.now()
    )
    router.on_auth = service.auth_seen
    holder.append(service)
    responder = FraudResponder(
        store=store,
        offload=persistence,
        directory=lambda: directory_box[0],
        end_call=service.end_call,
        clock=sources.now,
        spawn=spawn,
        smtp=(settings.smtp.host, settings.smtp.port) if settings.smtp is not None else None,
        smtp_from=settings.smtp_from,
        new_ha1s=unknown_password_ha1s,
        forget_bindings=lambda tenant, ext: location.forget_tenant_extension(TenantId(tenant), ext),
    )
    router.on_fraud = responder.on_fraud
    service.on_guard_event = responder.on_guard_event
    router.on_pin = responder.on_pin
    timer: list[asyncio.TimerHandle | None] = [None]

    stopping = [False]

    def arm(deadline: float | None) -> None:
        if stopping[0]:
            return
        if timer[0] is not None and deadline is not None and timer[0].when() == deadline:
            return  # most requests leave the earliest deadline where it was
        if timer[0] is not None:
            timer[0].cancel()
            timer[0] = None
        if deadline is not None:
            timer[0] = loop.call_at(max(deadline, loop.time()), service.tick)

    service.set_deadline_callback(arm)
    stop = asyncio.Event()

    async def reload_directory() -> None:
        # Admin changes come from other processes (the CLI); one cheap query tells of them.
        while not stop.is_set():
            await asyncio.sleep(1.0)
            try:
                revision = await persistence.call(store.revision)
                if revision != directory_box[0].revision:
                    directory = await persistence.call(store.load_directory)
                    previous, directory_box[0] = directory_box[0], directory
                    holds_box[0] = _hold_detector(detector, directory, holds_box[0])
                    service.perimeter.set_trunks(*directory.trunk_sources())
                    # A removed extension is reached no more, even by its registered phones, nor
                    # one whose password changed (an admin, a reset on containment) by the
                    # phones that registered with the old one.
                    location.keep_only(functools.partial(_has_extension, directory))
                    for tenant_id, ext in _new_credentials(previous, directory):
                        location.forget_tenant_extension(tenant_id, ext)
                    log.info("directory_reloaded", revision=revision)
            except Exception as error:
                log.error("directory_reload_failed", error=str(error))

    async def prune() -> None:
        # The registrations gauge every 2 s; expired bindings out of memory and store every 30 s;
        # the collector's full pass every FULL_COLLECTION_EVERY seconds.
        ticks = 0
        while not stop.is_set():
            await asyncio.sleep(2.0)
            ticks += 1
            if ticks % round(FULL_COLLECTION_EVERY / 2.0) == 0:
                full_collection()
            if ticks % 15 == 0:
                location.prune(sources.now())
                # Spend of days and months no tenant's clock can still be in.
                now = sources.now()
                calls.ledger.forget_before(
                    (periods(now - 2 * 86400, "UTC")[0], periods(now - 40 * 86400, "UTC")[1])
                )
                with contextlib.suppress(Exception):
                    await persistence.call(store.delete_expired_bindings, sources.now())
            metrics.registrations.set(location.count(sources.now()))

    async def watch_calls() -> None:
        # Calls in progress, every second: those about to cross a budget are ended. Every
        # minute, notified incidents that stayed quiet close.
        tick = 0
        while not stop.is_set():
            await asyncio.sleep(1.0)
            tick += 1
            try:
                service.police_calls()
                now = sources.now()
                for assessment in detector.watch(now, calls.running(now)):
                    responder.on_fraud(assessment)
                if tick % 60 == 0:
                    for tenant_id, ext in detector.expire(now):
                        responder.on_quiet(tenant_id, ext)
            except Exception:
                log.exception("call_watch_failed")

    async def share_usage() -> None:
        # Every second: this node's new spend is added to the store's counters, its live calls
        # and call starts replace its last report, and the other nodes' come back.
        since = sources.now() - 32 * 86400
        while not stop.is_set():
            await asyncio.sleep(1.0)
            now = sources.now()
            pending = calls.ledger.take_pending()
            try:
                totals, others = await persistence.call(
                    store.sync_usage,
                    node=node,
                    spend=pending,
                    report=calls.usage_report(now),
                    now=now,
                    since=since,
                )
            except Exception as error:
                calls.ledger.give_back(pending)
                log.warning("usage_sync_failed", error=str(error))
                continue
            calls.ledger.absorb(totals)
            calls.ledger.set_others(others)
            since = now - USAGE_STALE

    async def share_bans() -> None:
        # Every BANS_SYNC seconds: this node's new bans and lifts go to the store, and every
        # ban changed since (by any node, or an operator's `bans add|remove`) comes back.
        since = sources.now() - BANS_SYNC
        syncs = 0
        while not stop.is_set():
            await asyncio.sleep(BANS_SYNC)
            syncs += 1
            now = sources.now()
            pending = service.perimeter.bans.take_pending()
            try:
                changed = await persistence.call(
                    store.sync_bans, bans=pending, now=now, since=since
                )
            except Exception as error:
                service.perimeter.bans.give_back(pending)
                log.warning("ban_sync_failed", error=str(error))
                continue
            service.perimeter.bans.merge(changed, sources.now())
            if syncs % 30 == 0:
                service.perimeter.bans.expire(sources.now())
            # A margin for the other nodes' clocks and for their commits still in flight.
            since = now - 5 * BANS_SYNC

    async def relearn_baselines() -> None:
        # Once a day every baseline learns the last four weeks afresh from the records: volume
        # and spend by hour, new contacts, what a minute costs where (a premium or overpriced
        # destination called without incident becomes the tenant's own only here). Read in the
        # store's thread, learned in another: the event loop never waits on it.
        while not stop.is_set():
            await asyncio.sleep(BASELINE_RELEARN_EVERY)
            now = sources.now()
            try:
                records = await persistence.call(
                    store.outbound_records_since, now - BASELINE_WEEKS * 7 * 86400
                )
                baselines, count = await asyncio.to_thread(
                    learn_baselines, directory_box[0], records, now=now
                )
            except Exception as error:
                log.warning("baseline_relearn_failed", error=str(error))
                continue
            for tenant_id, baseline in baselines.items():
                detector.learn(tenant_id, baseline)
            log.info("baselines_relearned", tenants=len(baselines), calls=count)

    loops = {
        loop.create_task(relearn_baselines()),
        loop.create_task(share_usage()),
        loop.create_task(share_bans()),
        loop.create_task(reload_directory()),
        loop.create_task(prune()),
        loop.create_task(watch_calls()),
        loop.create_task(responder.deliver_forever(stop)),
    }

    def disarm() -> None:
        stopping[0] = True
        if timer[0] is not None:
            timer[0].cancel()
            timer[0] = None

    tune_collector()
    log.info(
        "listening",
        listen=[f"{s.transport}:{s.host}:{s.port}" for s in network.bound],
        advertised=host,
        tenants=len(directory_box[0].tenants()),
        usage_records=seeded,
        baseline_calls=learned,
    )
    return RunningService(
        network=network,
        service=service,
        store=store,
        metrics=metrics,
        stop=stop,
        advertised=advertised,
        tasks=tasks,
        loops=loops,
        executor=executor,
        disarm=disarm,
    )


def seed_usage(ledger: UsageLedger, directory: Directory, records: list[CallRecord]) -> int:
    """Rebuild the throttles' call rates and spend from the outbound call records (oldest
    first), so that a restart does not hand a hacked extension a fresh budget. Returns how many
    records were read."""
    for record in records:
        tenant = directory.tenant(record.tenant_id)
        if tenant is None:
            continue
        international = normalise(record.callee, tenant.country).country not in (
            "",
            tenant.country,
        )
        ledger.started(tenant.id, record.caller, international=international, at=record.started_at)
        if record.cost is not None:
            ledger.spent(
                tenant.id, record.caller, record.cost, periods(record.started_at, tenant.timezone)
            )
    return len(records)


def _hold_detector(
    detector: Detector, directory: Directory, before: frozenset[tuple[int, str, int]] | None
) -> frozenset[tuple[int, str, int]]:
    """Bring the detector in line with the holds in the store: a hold recorded elsewhere (by
    another node, or before a restart) is taken on, so it is not raised again; one that is gone
    was released by an admin, and the detector starts that scope afresh."""
    now = frozenset((h.tenant_id, h.ext or "", int(h.level)) for h in directory.holds())
    for tenant_id, ext, level in now - (before or frozenset()):
        detector.hold(tenant_id, ext or None, Response(level))
    if before is not None:
        still = {(t, e) for t, e, _ in now}
        for tenant_id, ext, _ in before:
            if (tenant_id, ext) not in still:
                detector.release(tenant_id, ext or None)
    return now


def _new_credentials(before: Directory, after: Directory) -> list[tuple[TenantId, str]]:
    """The extensions whose SIP password changed between two directory snapshots."""
    changed = []
    for tenant in after.tenants():
        for extension in after.extensions(tenant.id):
            old = before.extension(tenant.id, extension.ext)
            if old is not None and old.ha1_sha256 != extension.ha1_sha256:
                changed.append((tenant.id, extension.ext))
    return changed


def _has_extension(directory: Directory, tenant: TenantId, ext: str) -> bool:
    return directory.extension(tenant, ext) is not None


def run_service(settings: Settings) -> None:
    """``ringfence serve``: run until SIGTERM or SIGINT, then stop cleanly."""
    configure_logging(settings.log_format)
    asyncio.run(_serve(settings))


async def _serve(settings: Settings) -> None:
    running = await start_service(settings)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, running.stop.set)
    metrics_server = None
    if settings.metrics is not None:
        metrics_server, _ = start_http_server(
            settings.metrics.port, addr=settings.metrics.host, registry=running.metrics.registry
        )
    try:
        await running.stop.wait()
    finally:
        log.info("stopping")
        if metrics_server is not None:
            metrics_server.shutdown()
        await running.close()
        log.info("stopped")
