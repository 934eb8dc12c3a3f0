"""What every API handler reaches, and nothing more: the core port, the committed read
models, reads of committed history, auth, limits and metrics.

The composition root (app/) builds one gateway and hands it to the routes of every API;
the service listens before the core is recovered, so until `ready` is called every
trading or reading request is turned away with 503 (`NOT_READY`, or `UNAVAILABLE` if
start-up failed). The gateway never sees the engine, the sequencer or the storage
writer: commands go through the port and come back as outcomes, which become events
or the error table's errors here, in one place.
"""

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from trade_engine.config import Config
from trade_engine.core.messages import Committed, CoreStatus, Rejected, Unavailable
from trade_engine.core.port import CorePort
from trade_engine.domain.errors import ErrorCode, TradeEngineError
from trade_engine.domain.market import Market
from trade_engine.edge.auth import Authenticator
from trade_engine.edge.hub import Hub
from trade_engine.edge.ratelimit import RateLimiter
from trade_engine.engine import Command, Event
from trade_engine.marketdata.depth import DepthBook
from trade_engine.marketdata.live import LiveMarketData
from trade_engine.observability.metrics import Metrics
from trade_engine.readmodel.views import ReadModel
from trade_engine.storage.apikeys import ApiKeyStore
from trade_engine.storage.history import History
from trade_engine.storage.listen_keys import ListenKeyStore

log = logging.getLogger(__name__)
_PROBE_SECONDS = 2.0


@dataclass(frozen=True)
class Readiness:
    recovered: bool  # the core is built and the read models follow it
    database: bool  # the database answers
    accepting: bool  # commands are being taken (and the service is not shutting down)

    @property
    def ready(self) -> bool:
        return self.recovered and self.database and self.accepting


@dataclass(frozen=True)
class _Ready:
    port: CorePort
    database: AsyncEngine
    history: History
    view: ReadModel
    api_keys: ApiKeyStore
    listen_keys: ListenKeyStore


class Gateway:
    def __init__(self, config: Config, metrics: Metrics | None = None) -> None:
        self.config = config
        self.metrics = metrics or Metrics()
        self.auth = Authenticator(config)
        limits = config.rate_limits
        self.limiter = RateLimiter(
            enabled=limits.enabled,
            per_user_per_second=limits.per_user_per_second,
            per_user_burst=limits.per_user_burst,
            per_ip_per_second=limits.per_ip_per_second,
            per_ip_burst=limits.per_ip_burst,
        )
        self.hub = Hub(config.websocket.max_clients, self.metrics)
        self.depth = DepthBook()
        self.live = LiveMarketData()
        self.openapi = b"{}"  # the API's description (app/http.py)
        # Shutting down: readiness is false and every new request is refused (app/server.py).
        self.draining = False
        self.requests_in_flight = 0
        self.startup_error: BaseException | None = None
        self.ready_event = asyncio.Event()
        self._ready: _Ready | None = None
        # The database probe's failure while it lasts: logged when it begins (or its
        # error changes) and when it ends, not at every probe of a load balancer.
        self._probe_failure: str | None = None

    # -- start-up --

    def ready(
        self,
        *,
        port: CorePort,
        database: AsyncEngine,
        view: ReadModel,
        depth: DepthBook,
        live: LiveMarketData,
        api_keys: ApiKeyStore,
        listen_keys: ListenKeyStore,
    ) -> None:
        """The core is recovered and the read models follow it: serve."""
        self.depth, self.live = depth, live
        self._ready = _Ready(port, database, History(database), view, api_keys, listen_keys)
        self.metrics.ready.set(1)
        self.ready_event.set()

    def failed_to_start(self, error: BaseException) -> None:
        self.startup_error = error

    def begin_drain(self) -> None:
        """Shutdown has begun: report not ready, refuse new requests."""
        self.draining = True
        self.metrics.ready.set(0)

    @property
    def is_ready(self) -> bool:
        return self._ready is not None

    # -- what handlers use --

    def _require(self) -> _Ready:
        ready = self._ready
        if ready is None:
            if self.startup_error is not None:
                raise TradeEngineError(ErrorCode.UNAVAILABLE, "the service failed to start; see its log")
            raise TradeEngineError(ErrorCode.NOT_READY, "the service is recovering; retry shortly")
        if not ready.port.accepting():
            raise TradeEngineError(
                ErrorCode.UNAVAILABLE, "the service is not taking orders (storage unavailable or stopping)"
            )
        return ready

    def database(self) -> AsyncEngine:
        """The database, for what is not history: API keys, the audit trail, probes."""
        return self._require().database

    async def history(self, seq: int = 0) -> History:
        """The reads of committed history (fills, orders, trades, klines), once its
        tables hold every command committed before this call, and the command numbered
        `seq` (which a gateway of a cluster may have been answered before its read model
        holds it): they are written behind the acknowledgement, so a client reads its
        own writes."""
        ready = self._require()
        seq = max(seq, ready.view.seq)
        if not await ready.port.history_reached(seq, self.config.sequencer.history_wait_seconds):
            raise TradeEngineError(
                ErrorCode.UNAVAILABLE, "history is catching up with the latest commits; retry shortly"
            )
        return ready.history

    def records(self) -> History:
        """The same reads, for what is written outside the journal and so never behind
        it: the operators' audit log."""
        return self._require().history

    async def caught_up(self) -> None:
        """Wait (bounded) until the read model holds every batch the core has answered
        so far, through any gateway of a cluster, and its readers (depth, market data)
        have read them (readmodel/views.py)."""
        ready = self._ready
        if ready is None:
            return
        if not await ready.port.caught_up(self.config.cluster.read_wait_seconds):
            raise TradeEngineError(
                ErrorCode.UNAVAILABLE, "this gateway is catching up with the latest commits; retry shortly"
            )
        ready.view.settle()

    def holds(self, seq: int) -> bool:
        """Whether the read model holds the effects of the command numbered `seq` (in one
        process, always once it is answered; a gateway of a cluster may be behind)."""
        return self.read_model().seq >= seq

    def read_model(self) -> ReadModel:
        """The committed state the APIs render from (markets, open orders, balances)."""
        return self._require().view

    def key_store(self) -> ApiKeyStore:
        return self._require().api_keys

    def listen_key_store(self) -> ListenKeyStore:
        return self._require().listen_keys

    def market(self, symbol: str) -> Market:
        """A market as last committed (rules and status)."""
        return self.read_model().markets.require(symbol)

    def asset_decimals(self) -> dict[str, int]:
        return self.read_model().markets.assets()

    def core_status(self) -> CoreStatus | None:
        ready = self._ready
        return None if ready is None else ready.port.status()

    def open_orders(self) -> int | None:
        ready = self._ready
        return None if ready is None else len(ready.view.orders)

    async def submit(self, command: Command) -> list[Event]:
        """Apply `command`; its events once committed, or the error table's error."""
        return (await self.submit_numbered(command))[1]

    async def submit_numbered(self, command: Command) -> tuple[int, list[Event]]:
        """As `submit`, with the command's global sequence number: the read model holds
        the command's effects once its `seq` has reached that number (`holds`)."""
        began = time.perf_counter()
        outcome = await self._require().port.submit(command)
        self.metrics.core_round_trip.add(time.perf_counter() - began)
        if isinstance(outcome, Committed):
            return outcome.seq, list(outcome.events)
        if isinstance(outcome, Rejected):
            market = getattr(command, "market", None)
            if isinstance(market, str):
                self.metrics.order_outcome(market, "rejected").inc()
            extra: dict[str, Any] = (
                {} if outcome.duplicate_of is None else {"duplicate_of": outcome.duplicate_of}
            )
            if outcome.cancel_code is not None:
                extra.update(cancel_code=outcome.cancel_code, cancel_message=outcome.cancel_message)
            raise TradeEngineError(outcome.code, outcome.message, **extra)
        if isinstance(outcome, Unavailable):
            raise TradeEngineError(outcome.code, outcome.message)
        raise TradeEngineError(ErrorCode.OUTCOME_UNKNOWN, outcome.message, details=dict(outcome.ids))

    # -- probes --

    async def database_reachable(self) -> bool:
        ready = self._ready
        if ready is None:
            return False
        try:
            async with asyncio.timeout(_PROBE_SECONDS):
                async with ready.database.connect() as connection:
                    await connection.execute(text("SELECT 1"))
        except Exception as error:
            failure = f"{type(error).__name__}: {error}"
            if failure != self._probe_failure:
                log.warning("the database probe failed", extra={"error": failure})
                self._probe_failure = failure
            return False
        if self._probe_failure is not None:
            log.info("the database probe succeeded again", extra={"failed_with": self._probe_failure})
            self._probe_failure = None
        return True

    async def readiness(self) -> Readiness:
        ready = self._ready
        reachable = await self.database_reachable()
        accepting = ready is not None and ready.port.accepting() and not self.draining
        return Readiness(recovered=ready is not None, database=reachable, accepting=accepting)

    def connection_limits(self) -> dict[str, Any]:
        """The limits of every WebSocket connection, whatever its protocol."""
        config = self.config.websocket
        return {
            "queue_size": config.queue_size,
            "max_unsent_bytes": config.max_unsent_bytes,
            "max_unsent_seconds": config.max_unsent_seconds,
            "on_slow": self.metrics.ws_slow_consumers.inc,
        }
