"""A cluster's gateway as a process role (app/roles.py has the table of roles): the core
runs in another process, reached over NATS (docs/cluster.md). A module of its own so that
a single process, which runs its core itself, never loads NATS's client.
"""

import asyncio
import logging
import os
import signal
from typing import Final

from trade_engine.app.service import Opened, Role, Service
from trade_engine.cluster.gateway import connect_gateway, share_revocations
from trade_engine.cluster.metrics import gateway_metrics
from trade_engine.cluster.remote import NatsCore
from trade_engine.storage.apikeys import ApiKeyStore
from trade_engine.storage.database import normalise_url, open_database

log = logging.getLogger(__name__)
# A starting gateway waiting for the tables looks this often, and says so every 5 s.
SETTLE_POLL_SECONDS: Final = 0.25
SETTLE_LOG_POLLS: Final = 20


class RemoteCore(Role):
    """A cluster's gateway: the core is in another process, reached over NATS; this
    process keeps no state of its own beyond its read model."""

    name = "gateway"
    catch_up_before_requests = True

    def __init__(self) -> None:
        self._keys: ApiKeyStore | None = None  # the gateway's, once made (dropped on a reconnection)
        self._port: NatsCore | None = None

    async def open(self, service: Service) -> Opened | None:
        config = service.config
        database = open_database(normalise_url(config.database.url), pool_size=config.database.pool_size)
        port = self._port = await connect_gateway(config.cluster, database, lambda: self._keys, _restart)
        return Opened(port, database, {"seq": port.seq})

    async def settled(self, seq: int, stopping: asyncio.Event) -> bool:
        """The core's process writes the tables behind the journal the state was loaded
        from: wait until they hold it (the market data loaded from them is then cut at
        the state's market sequence numbers, as they may hold later commands too). Should
        a leader have died before writing them, the gateway stays unready until the next
        one has."""
        assert self._port is not None
        polls = 0
        while not await self._port.history_reached(seq, 0):
            if stopping.is_set():
                return False
            polls += 1
            if polls % SETTLE_LOG_POLLS == 0:
                log.warning("waiting for the tables to hold the state loaded", extra={"seq": seq})
            await asyncio.sleep(SETTLE_POLL_SECONDS)
        return True

    async def started(self, service: Service, opened: Opened) -> None:
        """The core runs in its own process: the batches committed since the state was
        loaded (held meanwhile) and each one after them now reach the readers."""
        assert self._port is not None
        self._port.deliver()

    async def keys_made(self, service: Service, api_keys: ApiKeyStore) -> None:
        assert self._port is not None
        self._keys = api_keys
        await share_revocations(self._port, service.config.cluster, api_keys)
        gateway_metrics(service.gateway.metrics.registry, self._port)

    def serving(self, service: Service) -> None:
        """Nothing to watch: a core that stops is replaced by a standby (cluster/leader.py),
        and a gateway that misses batches restarts itself (`_restart`)."""


def _restart(reason: str) -> None:
    """This gateway missed committed batches no stream holds any more: it keeps no
    state, so it shuts down (its supervisor starts it again, on a fresh state)."""
    log.error("committed batches were missed: restarting", extra={"reason": reason})
    os.kill(os.getpid(), signal.SIGTERM)
