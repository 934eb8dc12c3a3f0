"""A running service's components (built once, by `root.build`) and its role: the one
place that says what differs between the process roles (app/roles.py holds them)."""

import asyncio
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from sqlalchemy.ext.asyncio import AsyncEngine

from trade_engine.api.audit import AuditTrail
from trade_engine.binance.limits import BinanceLimits
from trade_engine.binance.streams import StreamPublisher
from trade_engine.binance.subscriptions import UserDataSubscriptions
from trade_engine.config import Config
from trade_engine.core.local import LocalCore
from trade_engine.edge.gateway import Gateway
from trade_engine.observability.collections import CollectionPauses
from trade_engine.readmodel.views import ReadModel
from trade_engine.storage.apikeys import ApiKeyStore
from trade_engine.ws.streams import Streams

if TYPE_CHECKING:  # loaded by a gateway only (app/gateway_role.py)
    from trade_engine.cluster.remote import NatsCore


@dataclass
class Opened:
    """The core behind its port, and the database the gateway reads and keeps keys in."""

    port: "LocalCore | NatsCore"
    database: AsyncEngine
    recovered: dict[str, object]  # what the "ready" log line tells of the recovery


class Role(ABC):
    """What a process role does its own way. `root.start` calls these steps in order and
    builds every other component (read model, readers, market data, keys, APIs) the
    same way for every role. Each role states every step, if only to say it has nothing
    to do in it."""

    name: ClassVar[str]
    # Whether each request first waits until the read model holds every batch the core
    # has answered so far: a core in another process answers other gateways too, and a
    # client must read its own writes made through any of them.
    catch_up_before_requests: ClassVar[bool] = False

    @abstractmethod
    async def open(self, service: "Service") -> Opened | None:
        """The core behind its port (None: the service was stopped meanwhile)."""

    @abstractmethod
    async def settled(self, seq: int, stopping: asyncio.Event) -> bool:
        """Wait until the tables hold every command up to `seq`, the committed state the
        readers start from: market data is loaded from them. False: the service was
        stopped meanwhile."""

    @abstractmethod
    async def started(self, service: "Service", opened: Opened) -> None:
        """Every reader is attached: start whatever must not run before that (the
        committed batches after the readers' state)."""

    @abstractmethod
    async def keys_made(self, service: "Service", api_keys: ApiKeyStore) -> None:
        """The API key store exists (the gateway is not serving yet)."""

    @abstractmethod
    def serving(self, service: "Service") -> None:
        """The gateway serves: watch whatever must be watched from now on."""


@dataclass
class Service:
    """Every component of a running service, built once (`root.build`)."""

    config: Config
    role: Role
    gateway: Gateway
    streams: Streams  # the native WebSocket API
    user_data: UserDataSubscriptions  # Binance user-data subscriptions, by API key
    # Binance's weights and order counts: one per process, for REST and the WebSocket API.
    binance_limits: BinanceLimits
    audit: AuditTrail  # the operators' actions, kept while the database is away
    core: "LocalCore | NatsCore | None" = None
    view: ReadModel | None = None
    binance: StreamPublisher | None = None
    readers: list[str] = field(default_factory=list)  # the names of the readers attached
    # Set when the service stops: a recovery waiting for the database gives up.
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    # The core stopped for good: once drained, the process starts afresh (app/server.py).
    restart_requested: bool = False
    exit_code: int = 0  # the process's, once stopped (2: a setting could not work)
    watch: "asyncio.Task[None] | None" = None  # waits for the core to stop for good
    collections: CollectionPauses | None = None  # the collector's pauses, into the metrics
