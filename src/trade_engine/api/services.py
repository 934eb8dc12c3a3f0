"""What the HTTP layer needs, in one object: configuration, the core, auth, limits.

The service starts listening before recovery is done (so `/health` answers and
`/ready` says "not yet"); `require_core` turns every trading request away with 503
until the engine is rebuilt and verified.
"""

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import text

from trade_engine.binance.streams import StreamPublisher
from trade_engine.binance.subscriptions import UserDataSubscriptions
from trade_engine.bootstrap import Core, start_core
from trade_engine.config import Config
from trade_engine.domain.errors import ErrorCode, TradeEngineError
from trade_engine.domain.lifecycle import OrderChange
from trade_engine.domain.market import Market
from trade_engine.edge.auth import Authenticator
from trade_engine.edge.ratelimit import RateLimiter
from trade_engine.engine import CommandRejected, Event, FundsDeposited, FundsWithdrawn, OrderAccepted
from trade_engine.engine.commands import Command
from trade_engine.marketdata.depth import DepthBook
from trade_engine.marketdata.live import LiveMarketData
from trade_engine.observability.metrics import Metrics
from trade_engine.readmodel.orders import model_of_open
from trade_engine.readmodel.views import ReadModel, ViewBatch
from trade_engine.sequencer import Busy, OutcomeUnknown, Unavailable
from trade_engine.storage.apikeys import ApiKeyStore
from trade_engine.ws.streams import Streams

log = logging.getLogger(__name__)


@dataclass
class Services:
    config: Config
    metrics: Metrics = field(default_factory=Metrics)
    core: Core | None = None
    depth: DepthBook = field(default_factory=DepthBook)
    live: LiveMarketData = field(default_factory=LiveMarketData)
    startup_error: BaseException | None = None
    api_keys: ApiKeyStore | None = None
    binance: StreamPublisher | None = None
    user_data: UserDataSubscriptions = field(default_factory=UserDataSubscriptions)
    ready_event: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        # Shutting down: readiness is false and every new request is refused (service.py).
        self.draining = False
        self.requests_in_flight = 0
        self.openapi = b"{}"  # the API's description (api/app.py)
        self._retries_seen = 0
        self.view: ReadModel | None = None
        self.auth = Authenticator(self.config)
        limits = self.config.rate_limits
        self.limiter = RateLimiter(
            enabled=limits.enabled,
            per_user_per_second=limits.per_user_per_second,
            per_user_burst=limits.per_user_burst,
            per_ip_per_second=limits.per_ip_per_second,
            per_ip_burst=limits.per_ip_burst,
        )
        self.streams = Streams(
            self.config.websocket,
            self.auth,
            self.limiter,
            self.metrics,
            token_leeway_seconds=self.config.auth.leeway_seconds,
        )

    # -- lifecycle --

    async def start(self) -> None:
        """Recover and start the core; called in the background at start-up."""
        config = self.config
        try:
            core = await start_core(
                config.database.url,
                markets=config.validated_markets(),
                max_queue=config.sequencer.max_queue,
                max_batch=config.sequencer.max_batch,
                retry_total_seconds=config.sequencer.retry_total_seconds,
            )
        except Exception as error:
            self.startup_error = error
            log.exception("start-up failed; the service will not become ready")
            return
        self.api_keys = ApiKeyStore(core.database, config.auth.api_key_encryption_key)
        # Revoking a key also ends the Binance user-data subscriptions it signed.
        self.api_keys.on_revoke(self.user_data.revoked)
        engine = core.engine
        # At start the engine holds exactly the committed state: the read models begin
        # there and follow every committed batch.
        view = ReadModel.starting_from(
            engine.markets(), (model_of_open(order) for order in engine.all_open_orders()), engine.balances()
        )
        core.sequencer.subscribe(view.on_commit)
        self.depth = DepthBook.from_engine(engine)
        view.subscribe(self.depth.on_view)
        view.subscribe(self._count)
        try:
            # Before `core` is set no request is served, so no trade commits meanwhile.
            symbols = [market.symbol for market in core.engine.markets()]
            self.live = await LiveMarketData.load(core.database, symbols, time.time_ns())
        except Exception as error:
            self.startup_error = error
            log.exception("start-up failed: market data could not be loaded")
            return
        view.subscribe(self.live.on_view)
        failed = lambda: core.sequencer.failure is not None  # noqa: E731
        self.streams.start(view, self.depth, self.live, failed=failed)  # after the depth view
        # After the depth view: Binance diffs and REST snapshots share its sequence.
        self.binance = StreamPublisher(view, self.depth, self.live, self.streams.hub)
        view.subscribe(self.binance.on_view)
        self.binance.start()
        self.view = view
        self.core = core
        self.metrics.ready.set(1)
        self.ready_event.set()
        log.info(
            "ready",
            extra={
                "markets": core.recovery.markets,
                "accounts": core.recovery.accounts,
                "open_orders": core.recovery.open_orders,
                "recovery_seconds": round(core.recovery_seconds, 3),
            },
        )

    def begin_drain(self) -> None:
        """Shutdown has begun: report not ready, refuse new requests."""
        self.draining = True
        self.metrics.ready.set(0)

    async def stop(self) -> None:
        """Stop taking orders, commit what is queued, close the database."""
        self.metrics.ready.set(0)
        await self.streams.stop()
        if self.binance is not None:
            await self.binance.close()
        if self.core is not None:
            await self.core.close()
            log.info("stopped: queued commands committed")

    # -- requests --

    def require_core(self) -> Core:
        core = self.core
        if core is None:
            if self.startup_error is not None:
                raise TradeEngineError(ErrorCode.UNAVAILABLE, "the service failed to start; see its log")
            raise TradeEngineError(ErrorCode.NOT_READY, "the service is recovering; retry shortly")
        if not core.sequencer.available:
            raise TradeEngineError(
                ErrorCode.UNAVAILABLE, "the service is not taking orders (storage unavailable or stopping)"
            )
        return core

    def key_store(self) -> ApiKeyStore:
        self.require_core()
        assert self.api_keys is not None
        return self.api_keys

    def read_model(self) -> ReadModel:
        """The committed state the APIs render from (markets, open orders, balances)."""
        self.require_core()
        assert self.view is not None
        return self.view

    def market(self, symbol: str) -> Market:
        """A market as last committed (rules and status)."""
        return self.read_model().markets.require(symbol)

    def current_market(self, symbol: str) -> Market:
        """A market with its current (committed) status."""
        return self.market(symbol)

    def asset_decimals(self) -> dict[str, int]:
        return self.read_model().markets.assets()

    def rules(self, symbol: str) -> Market | None:
        return self.read_model().markets.get(symbol)

    async def submit(self, command: Command) -> list[Event]:
        core = self.require_core()
        try:
            events = await core.sequencer.submit(command)
        except Busy as error:
            raise TradeEngineError(ErrorCode.BUSY, "too many orders in flight; retry shortly") from error
        except Unavailable as error:
            raise TradeEngineError(ErrorCode.UNAVAILABLE, f"the order was not taken: {error}") from error
        except OutcomeUnknown as unknown:
            raise TradeEngineError(
                ErrorCode.OUTCOME_UNKNOWN,
                "the database could not confirm whether this was committed; look it up by the "
                "ids in `details` once the service answers again",
                details=_lookup_ids(command, unknown.events),
            ) from unknown
        # A command can cause no event at all (cancel-all with nothing open).
        first = events[0] if events else None
        if isinstance(first, CommandRejected):
            market = getattr(command, "market", None)
            if isinstance(market, str):
                self.metrics.orders.labels(market, "rejected").inc()
            if first.duplicate_of is None:
                raise TradeEngineError(first.code, first.message)
            raise TradeEngineError(first.code, first.message, duplicate_of=first.duplicate_of)
        return events

    async def database_reachable(self) -> bool:
        core = self.core
        if core is None:
            return False
        try:
            async with asyncio.timeout(2):
                async with core.database.connect() as connection:
                    await connection.execute(text("SELECT 1"))
        except Exception:
            return False
        return True

    def _count(self, view: ViewBatch) -> None:
        """Metrics from committed batches."""
        metrics = self.metrics
        for update in view.orders:
            if update.change is OrderChange.NEW:
                metrics.orders.labels(update.order.market, "accepted").inc()
        for trade in view.trades:
            metrics.trades.labels(trade.market).inc()
        core = self.core
        if core is not None:
            stats = core.sequencer.stats
            metrics.batch_size.observe(stats.last_batch_size)
            if stats.last_batch_size:
                metrics.matching_seconds.observe(stats.last_apply_seconds / stats.last_batch_size)
            retries = stats.commit_retries - self._retries_seen
            if retries > 0:
                metrics.commit_retries.inc(retries)
                self._retries_seen = stats.commit_retries
            metrics.commit_seconds.observe(stats.last_commit_seconds)
            metrics.settlement_lag.set(stats.last_settlement_lag_seconds)
            metrics.queue_depth.set(core.sequencer.queue_depth())


def _lookup_ids(command: Command, events: Sequence[Event]) -> dict[str, object]:
    """The ids a command whose outcome is unknown can be looked up by."""
    ids: dict[str, object] = {}
    client_order_id = getattr(command, "client_order_id", None)
    if client_order_id is not None:
        ids["client_order_id"] = client_order_id
    for event in events:
        if isinstance(event, OrderAccepted):
            ids["order_id"] = event.order_id
        elif isinstance(event, FundsDeposited | FundsWithdrawn):
            ids["transfer_id"] = event.transfer_id
    reference = getattr(command, "reference", None)
    if reference is not None:
        ids["reference"] = reference
    return ids
