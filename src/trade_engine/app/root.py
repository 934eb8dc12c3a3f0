"""The composition root. Nothing else wires: the core behind its port, the read model
attached to it, the readers of each committed batch (from the table below, in order),
the native and Binance gateways, the HTTP application (http.py).

The service listens before the core is recovered (so `/health` answers and `/ready`
reports progress); `start` recovers in the background and makes the gateway ready,
`stop` drains and closes. A process runs one role: "serve" is the single-process
service, every component in one process; "gateway" is the same service with the core
in another process, reached over NATS (cluster/remote.py); "core" is that other process
(app/core_process.py). Both roles here build the same read model, readers and APIs;
what differs between them is a table of roles (app/roles.py).
"""

import asyncio
import logging
import os
import signal
import time
from collections.abc import Callable
from typing import Final

from trade_engine.api.audit import AuditTrail
from trade_engine.app.process import long_lived, register_build
from trade_engine.app.roles import ROLES
from trade_engine.app.service import Service
from trade_engine.binance.limits import BinanceLimits
from trade_engine.binance.streams import StreamPublisher
from trade_engine.binance.subscriptions import UserDataSubscriptions
from trade_engine.config import Config, ConfigError
from trade_engine.domain.lifecycle import OrderChange
from trade_engine.edge.gateway import Gateway
from trade_engine.marketdata.depth import DepthBook
from trade_engine.marketdata.live import LiveMarketData
from trade_engine.observability.collections import CollectionPauses
from trade_engine.readmodel.views import Reader, ReadModel, ViewBatch
from trade_engine.storage.apikeys import ApiKeyStore
from trade_engine.storage.listen_keys import ListenKeyStore
from trade_engine.storage.market_reads import MarketHistory
from trade_engine.ws.streams import Streams

log = logging.getLogger(__name__)


def build(config: Config, role: str = "serve") -> Service:
    gateway = Gateway(config)
    limits = BinanceLimits(config.binance, enforce=config.rate_limits.enabled)
    audit = AuditTrail(gateway.database)
    streams, user_data = Streams(gateway), UserDataSubscriptions()
    service = Service(config, ROLES[role](), gateway, streams, user_data, limits, audit)
    service.collections = CollectionPauses()
    gateway.metrics.registry.register(service.collections)
    register_build(gateway.metrics.registry)
    service.collections.install()
    return service


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
    """Open the core (the role's way) and make the gateway ready; called in the
    background at start-up."""
    config, gateway, role = service.config, service.gateway, service.role
    try:
        opened = await role.open(service)
        if opened is None:
            return
        port, database = opened.port, opened.database
        service.core = port
        # The committed state, and every batch after it to the read model, once the
        # role has started (below): until then the readers' state is made as of `state`,
        # the market data from the tables once they hold it.
        # The readers run after the answers a batch brings (readmodel/views.py).
        view = service.view = ReadModel(defer=asyncio.get_running_loop().call_soon)
        with long_lived():  # a million open orders after a restart
            state = port.attach(view.on_commit)
            view.start_from(state)
        if not await role.settled(state.seq, service.stopping):
            return  # stopped meanwhile
        live = await LiveMarketData.load(MarketHistory(database), state, time.time_ns())
        gateway.depth, gateway.live = DepthBook.of_state(state), live
        service.streams.start(view, gateway.depth, live)
        for name, make in READERS:
            view.subscribe(make(service))
            service.readers.append(name)
        await role.started(service, opened)
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
    await role.keys_made(service, api_keys)
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
    log.info("ready", extra={**opened.recovered, "role": role.name, "readers": service.readers})
    role.serving(service)


async def stop(service: Service) -> None:
    """Stop taking orders, commit what is queued, close the database."""
    service.stopping.set()
    if service.watch is not None:
        service.watch.cancel()
        await asyncio.gather(service.watch, return_exceptions=True)
    service.gateway.metrics.ready.set(0)
    if service.collections is not None:
        service.collections.remove()
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
        # Where commands' time went: read from the core's status when scraped.
        self._gateway.metrics.stage_seconds = self._stage_seconds

    def _stage_seconds(self) -> dict[str, float]:
        status = self._gateway.core_status()
        return {} if status is None else status.stage_seconds

    def on_view(self, view: ViewBatch) -> None:
        metrics = self._gateway.metrics
        for update in view.orders:
            if update.change is OrderChange.NEW:
                metrics.order_outcome(update.order.market, "accepted").inc()
        for trade in view.trades:
            metrics.market_trades(trade.market).inc()
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
