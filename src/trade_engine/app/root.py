"""The composition root. Nothing else wires: the core behind its port, the read model
attached to it, the readers of each committed batch (from the table below, in order),
the native and Binance gateways, the HTTP application (http.py).

The service listens before the core is recovered (so `/health` answers and `/ready`
reports progress); `start` recovers in the background and makes the gateway ready,
`stop` drains and closes. A process runs one role: "serve" is the single-process
service, every component in one process; "gateway" is the same service with the core
in another process, reached over NATS (cluster/remote.py); "core" is that other process
(app/core_process.py). Both roles here build the same read model, readers and APIs.
"""

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from trade_engine.api.audit import AuditTrail
from trade_engine.app.process import long_lived
from trade_engine.binance.limits import BinanceLimits
from trade_engine.binance.streams import StreamPublisher
from trade_engine.binance.subscriptions import UserDataSubscriptions
from trade_engine.cluster.gateway import connect_gateway, share_revocations
from trade_engine.cluster.metrics import gateway_metrics
from trade_engine.cluster.remote import NatsCore
from trade_engine.config import Config, ConfigError
from trade_engine.core.bootstrap import Core, recover_core
from trade_engine.core.local import LocalCore
from trade_engine.domain.lifecycle import OrderChange
from trade_engine.edge.gateway import Gateway
from trade_engine.marketdata.depth import DepthBook
from trade_engine.marketdata.live import LiveMarketData
from trade_engine.readmodel.views import Reader, ReadModel, ViewBatch
from trade_engine.storage.apikeys import ApiKeyStore
from trade_engine.storage.database import is_unavailable, normalise_url, open_database
from trade_engine.storage.listen_keys import ListenKeyStore
from trade_engine.storage.market_reads import MarketHistory
from trade_engine.ws.streams import Streams

log = logging.getLogger(__name__)
# Recovery at start-up while the database is unavailable: retried, waiting this long
# at first, doubling up to the most.
RECOVERY_RETRY_SECONDS: Final = (0.5, 5.0)


@dataclass
class Service:
    """Every component of a running service, built once (`build`)."""

    config: Config
    gateway: Gateway
    streams: Streams  # the native WebSocket API
    user_data: UserDataSubscriptions  # Binance user-data subscriptions, by API key
    # Binance's weights and order counts: one per process, for REST and the WebSocket API.
    binance_limits: BinanceLimits
    audit: AuditTrail  # the operators' actions, kept while the database is away
    role: str = "serve"  # or "gateway"
    core: LocalCore | NatsCore | None = None
    view: ReadModel | None = None
    binance: StreamPublisher | None = None
    readers: list[str] = field(default_factory=list)  # the names of the readers attached
    # Set when the service stops: a recovery waiting for the database gives up.
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    # The core stopped for good: once drained, the process starts afresh (app/server.py).
    restart_requested: bool = False
    exit_code: int = 0  # the process's, once stopped (2: a setting could not work)
    watch: "asyncio.Task[None] | None" = None  # waits for the core to stop for good


def build(config: Config, role: str = "serve") -> Service:
    gateway = Gateway(config)
    limits = BinanceLimits(config.binance, enforce=config.rate_limits.enabled)
    audit = AuditTrail(gateway.database)
    return Service(config, gateway, Streams(gateway), UserDataSubscriptions(), limits, audit, role=role)


# The readers of every committed batch's views, in the order they get it: depth and the
# live market data first (the streams read both), then the metrics, then each API's
# streams. Each entry names the reader and says how to make it from the service.
READERS: Final[tuple[tuple[str, Callable[[Service], Reader]], ...]] = (
    ("depth", lambda service: service.gateway.depth.on_view),
    ("market data", lambda service: service.gateway.live.on_view),
    ("metrics", lambda service: CommitMetrics(service).on_view),
    ("native streams", lambda service: service.streams.channels.on_view),
    ("binance streams", lambda service: _binance(service).on_view),
    # Binance's order count per account, the same in every gateway (binance/ordercounts.py).
    ("binance order counts", lambda service: service.binance_limits.orders.on_view),
)


def _binance(service: Service) -> StreamPublisher:
    assert service.view is not None
    gateway = service.gateway
    service.binance = StreamPublisher(
        service.view, gateway.depth, gateway.live, gateway.hub, service.user_data
    )
    service.binance.start()
    return service.binance


async def start(service: Service) -> None:
    """Recover the core and make the gateway ready; called in the background at start-up."""
    config, gateway = service.config, service.gateway
    try:
        port: LocalCore | NatsCore
        keys: list[ApiKeyStore] = []  # the gateway's, once made (dropped on a reconnection)
        if service.role == "gateway":
            database = open_database(normalise_url(config.database.url), pool_size=config.database.pool_size)
            port = await connect_gateway(
                config.cluster, database, lambda: keys[0] if keys else None, _restart
            )
            recovered: dict[str, object] = {"seq": port.seq}
        else:
            core = await _recover(service)
            if core is None:
                return  # stopped before the database came back
            port, database = LocalCore(core, roundtrip=config.core.port_roundtrip), core.database
            recovered = {}
        service.core = port
        # No command has been taken yet: the state is the committed one, and every
        # batch after it reaches the read model.
        view = service.view = ReadModel()
        with long_lived():  # a million open orders after a restart
            state = port.attach(view.on_commit)
            view.start_from(state)
        symbols = [market.market.symbol for market in state.markets]
        if isinstance(port, LocalCore):
            # Market data starts from the tables: once they hold what recovery replayed.
            await port.core.settled()
        live = await LiveMarketData.load(MarketHistory(database), symbols, time.time_ns())
        gateway.depth, gateway.live = DepthBook.of_state(state), live
        service.streams.start(view, gateway.depth, live)
        for name, make in READERS:
            view.subscribe(make(service))
            service.readers.append(name)
        if isinstance(port, LocalCore):
            # Verified and started once every reader is in place: each batch from now
            # on, the configured markets the store lacked first, reaches them all.
            await _start_local(service, port.core, recovered)
    except ConfigError as error:  # a setting that cannot work (NATS unreachable ...): exit 2
        log.error("configuration error", extra={"error": str(error)})
        gateway.failed_to_start(error)
        service.exit_code = 2
        os.kill(os.getpid(), signal.SIGTERM)
        return
    except Exception as error:
        gateway.failed_to_start(error)
        log.exception("start-up failed; the service will not become ready")
        return
    api_keys = ApiKeyStore(database, config.auth.api_key_encryption_key)
    # Revoking a key also ends the Binance user-data subscriptions it signed.
    api_keys.on_revoke(service.user_data.revoked)
    keys.append(api_keys)
    if isinstance(port, NatsCore):
        await share_revocations(port, config.cluster, api_keys)
        gateway_metrics(gateway.metrics.registry, port)
    validity = int(config.binance.listen_key_validity_seconds * 1_000_000_000)
    listen_keys = ListenKeyStore(database, validity)
    # Closing a listen key ends this process's streams of it at once.
    listen_keys.on_close(service.user_data.expired)
    gateway.ready(
        port=port,
        database=database,
        view=view,
        depth=gateway.depth,
        live=live,
        api_keys=api_keys,
        listen_keys=listen_keys,
    )
    log.info("ready", extra={**recovered, "role": service.role, "readers": service.readers})
    if isinstance(port, LocalCore):
        service.watch = asyncio.create_task(_restart_when_stopped(service, port), name="core-watch")


async def _recover(service: Service) -> Core | None:
    """Recover the core, again and again while the database is unavailable: a service
    started during an outage (or restarted after one, below) becomes ready once the
    database is back. None: the service was stopped meanwhile."""
    config = service.config
    delay, most = RECOVERY_RETRY_SECONDS
    while True:
        try:
            return await recover_core(
                config.database.url,
                markets=config.validated_markets(),
                max_queue=config.sequencer.max_queue,
                max_batch=config.sequencer.max_batch,
                retry_total_seconds=config.sequencer.retry_total_seconds,
                max_projection_lag=config.sequencer.max_projection_lag,
                snapshot_every=config.sequencer.snapshot_every_commands,
            )
        except Exception as error:
            if not is_unavailable(error):
                raise
            log.warning(
                "the database is unavailable: recovery waits for it",
                extra={"error": f"{type(error).__name__}: {error}", "retry_in_seconds": delay},
            )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(service.stopping.wait(), delay)
            return None
        delay = min(delay * 2, most)


async def _restart_when_stopped(service: Service, port: LocalCore) -> None:
    """The sequencer stopped for good (the database stayed away longer than
    `sequencer.retry_total_seconds`): its engine may hold state the database lacks, so
    the service starts afresh from the database, as after a crash. It drains like a
    SIGTERM, then the process replaces itself (app/server.py) and recovers as soon as the
    database answers: trading resumes by itself."""
    error = await port.stopped_for_good()
    log.error("the core stopped for good: restarting from the database", extra={"error": repr(error)})
    service.restart_requested = True
    os.kill(os.getpid(), signal.SIGTERM)


async def _start_local(service: Service, core: Core, recovered: dict[str, object]) -> None:
    try:
        await core.start()
    except BaseException:
        service.core = None  # abandoned here: nothing for `stop` to close
        await core.abandon()
        raise
    recovered.update(
        markets=core.recovery.markets,
        accounts=core.recovery.accounts,
        open_orders=core.recovery.open_orders,
        recovery_seconds=round(core.recovery_seconds, 3),
        from_snapshot=None if core.recovered_from is None else core.recovered_from.seq,
    )


def _restart(reason: str) -> None:
    """This gateway missed committed batches no stream holds any more: it keeps no
    state, so it shuts down (its supervisor starts it again, on a fresh state)."""
    log.error("committed batches were missed: restarting", extra={"reason": reason})
    os.kill(os.getpid(), signal.SIGTERM)


async def stop(service: Service) -> None:
    """Stop taking orders, commit what is queued, close the database."""
    service.stopping.set()
    if service.watch is not None:
        service.watch.cancel()
        await asyncio.gather(service.watch, return_exceptions=True)
    service.gateway.metrics.ready.set(0)
    await service.streams.stop()
    if service.binance is not None:
        await service.binance.close()
    await service.user_data.close()
    await service.audit.close()
    if service.core is None:
        return
    if service.restart_requested:
        # Its engine is abandoned (the database may lack what it holds) and closing it
        # would wait for the database: the process is replaced at once and recovers.
        log.info("stopped: the core is left to the restart")
        return
    await service.core.close()
    log.info("stopped: queued commands committed")


class CommitMetrics:
    """Metrics of committed batches: orders accepted, trades, the core's batch figures."""

    def __init__(self, service: Service) -> None:
        self._gateway = service.gateway
        self._retries_seen = 0

    def on_view(self, view: ViewBatch) -> None:
        metrics = self._gateway.metrics
        for update in view.orders:
            if update.change is OrderChange.NEW:
                metrics.orders.labels(update.order.market, "accepted").inc()
        for trade in view.trades:
            metrics.trades.labels(trade.market).inc()
        status = self._gateway.core_status()
        if status is None:
            return
        metrics.batch_size.observe(status.last_batch_size)
        if status.last_batch_size:
            metrics.matching_seconds.observe(status.last_apply_seconds / status.last_batch_size)
        retries = status.commit_retries - self._retries_seen
        if retries > 0:
            metrics.commit_retries.inc(retries)
            self._retries_seen = status.commit_retries
        metrics.commit_seconds.observe(status.last_commit_seconds)
        metrics.settlement_lag.set(status.last_settlement_lag_seconds)
        metrics.queue_wait_seconds.observe(status.last_queue_wait_seconds)
        metrics.projection_lag.set(status.projection_lag)
        metrics.queue_depth.set(status.queue_depth)
