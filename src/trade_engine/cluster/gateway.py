"""A gateway's link to its cluster: the core port over NATS, and revocations shared
with the other gateways.

API keys live in the shared database; each gateway caches the keys it has checked.
A key revoked through one gateway is announced on `<name>.revoked`; every other gateway
drops it from its cache and ends what it opened (Binance user-data subscriptions). A
gateway that lost its NATS connection may have missed announcements: it drops its
whole cache when the connection is back.
"""

import asyncio
import json
import logging
import secrets
from collections.abc import Callable

from nats.aio.msg import Msg
from sqlalchemy.ext.asyncio import AsyncEngine

from trade_engine.cluster import bus
from trade_engine.cluster.names import Names
from trade_engine.cluster.remote import NatsCore
from trade_engine.config import ClusterConfig
from trade_engine.storage.apikeys import ApiKeyStore

log = logging.getLogger(__name__)


async def connect_gateway(
    config: ClusterConfig,
    database: AsyncEngine,
    store: Callable[[], ApiKeyStore | None],
    on_gap: Callable[[str], None],
) -> NatsCore:
    """The port, started (state loaded, batches following); `store`: the API-key store
    once there is one (its cache is dropped on a reconnection)."""
    node = config.node_id or f"gateway-{secrets.token_hex(3)}"

    def reconnected() -> None:
        keys = store()
        if keys is not None:
            keys.forget_all()

    client = await bus.connect(config, node, "gateway", [reconnected])
    js, bucket = await bus.bind(client, config)
    port = NatsCore(client, js, bucket, config, node, database, on_gap=on_gap)
    await port.start()
    return port


async def share_revocations(port: NatsCore, config: ClusterConfig, keys: ApiKeyStore) -> None:
    subject = Names.of(config).revoked
    client, origin = port.client, secrets.token_hex(8)
    tasks: set[asyncio.Task[None]] = set()

    def announce(key: str) -> None:
        task = asyncio.create_task(
            client.publish(subject, json.dumps({"origin": origin, "key": key}).encode())
        )
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    async def on_revoked(message: Msg) -> None:
        try:
            announced = json.loads(message.data)
            if announced["origin"] != origin:
                keys.revoked_elsewhere(str(announced["key"]))
        except (ValueError, KeyError, TypeError) as error:
            log.warning("a malformed revocation was ignored", extra={"error": repr(error)})

    await client.subscribe(subject, cb=on_revoked)
    keys.announce_revocations(announce)
