"""The connection to NATS and the JetStream streams and bucket a cluster needs.

`connect` reaches the configured servers (or fails at once with an error naming the
setting), with the reply subjects of its role (names.py); `ensure` (cores) creates or
updates the streams and the lease bucket, so the first core of a cluster sets it up
and every later one checks it; `bind` (gateways) only looks them up, waiting for a
core to have made them: a gateway's NATS user may not change streams (docs/cluster.md,
Permissions). The streams:

- commands: limits retention, at most `max_pending_commands` messages and
  `max_pending_bytes` bytes, new messages refused when full (the gateway answers 503
  BUSY), de-duplicated over `dedup_window_seconds`; the active core deletes what it has
  journaled, so the limits count commands not yet applied;
- events and journal: kept `event_retention_seconds`, de-duplicated too (a core that
  takes over publishes again what its predecessor may not have);
- the lease bucket: one key with a time to live of `lease_seconds`.
"""

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any, Final

import nats
from nats.aio.client import Client
from nats.js import JetStreamContext, api
from nats.js.errors import APIError
from nats.js.kv import KeyValue

from trade_engine.cluster.names import Names, Role
from trade_engine.config import ClusterConfig, ConfigError

log = logging.getLogger(__name__)
# JetStream's error code for replicas above one on a server that is not in a cluster.
NOT_CLUSTERED: Final = 10074
NO_PEERS: Final = 10005  # "no suitable peers for placement"
SETUP_SECONDS: Final = 30.0  # a NATS cluster that has just started elects its leaders first
WAIT_LOG_SECONDS: Final = 10.0  # while waiting for JetStream, a warning this often
# Tries of each configured server before a process gives up starting (0.2 s apart, or
# `connect_timeout_seconds` each where nothing answers); once connected, it reconnects
# for ever.
START_ATTEMPTS: Final = 10


async def connect(
    config: ClusterConfig, name: str, role: Role, reconnected: list[Callable[[], None]] | None = None
) -> Client:
    """A connection that reconnects by itself (then calls each of `reconnected`); a
    ConfigError if no server answers."""
    options: dict[str, Any] = {
        "servers": [url.strip() for url in config.nats_urls.split(",")],
        "name": name,
        "inbox_prefix": Names.of(config).inbox(role),
        "connect_timeout": config.connect_timeout_seconds,
        "allow_reconnect": True,
        "max_reconnect_attempts": START_ATTEMPTS,
        "reconnect_time_wait": 0.2,
        "ping_interval": 2,
        "max_outstanding_pings": 2,
    }
    if config.credentials:
        options["user_credentials"] = config.credentials
    if config.user:
        options["user"], options["password"] = config.user, config.password or ""

    async def error_cb(error: Exception) -> None:
        log.warning("nats connection error", extra={"error": repr(error)})

    async def reconnected_cb() -> None:
        log.info("nats connection restored")
        for callback in reconnected or ():
            callback()

    options["error_cb"] = error_cb
    options["reconnected_cb"] = reconnected_cb
    try:
        client = await nats.connect(**options)
    except Exception as error:
        raise ConfigError(
            f"cluster.nats_urls: cannot connect to {config.nats_urls} "
            f"(or cluster.credentials/user rejected): {type(error).__name__}: {error}"
        ) from error
    client.options["max_reconnect_attempts"] = -1  # connected: never give up again
    return client


def _streams(config: ClusterConfig, names: Names) -> list[api.StreamConfig]:
    common: dict[str, Any] = {"num_replicas": config.replicas, "storage": api.StorageType.FILE}
    return [
        api.StreamConfig(
            name=names.commands_stream,
            subjects=[names.commands],
            retention=api.RetentionPolicy.LIMITS,
            max_msgs=config.max_pending_commands,
            max_bytes=config.max_pending_bytes,
            discard=api.DiscardPolicy.NEW,
            duplicate_window=config.dedup_window_seconds,
            **common,
        ),
        api.StreamConfig(
            name=names.events_stream,
            subjects=[names.batches, f"{names.prefix}.market.>", f"{names.prefix}.user.>"],
            max_age=config.event_retention_seconds,
            discard=api.DiscardPolicy.OLD,
            duplicate_window=min(config.dedup_window_seconds, config.event_retention_seconds),
            **common,
        ),
        api.StreamConfig(
            name=names.journal_stream,
            subjects=[names.journal],
            max_age=config.event_retention_seconds,
            discard=api.DiscardPolicy.OLD,
            duplicate_window=min(config.dedup_window_seconds, config.event_retention_seconds),
            **common,
        ),
        api.StreamConfig(
            name=f"KV_{names.lease_bucket}",
            subjects=[f"$KV.{names.lease_bucket}.>"],
            max_age=config.lease_seconds,
            max_msgs_per_subject=1,
            discard=api.DiscardPolicy.NEW,
            duplicate_window=min(config.lease_seconds, config.dedup_window_seconds),
            allow_rollup_hdrs=True,
            deny_delete=True,
            allow_direct=True,
            **common,
        ),
    ]


async def ensure(
    client: Client, config: ClusterConfig, *, patience: float | None = SETUP_SECONDS
) -> tuple[JetStreamContext, KeyValue]:
    """Create or update the streams and the lease bucket; the JetStream context and the
    bucket. JetStream may not answer at once (a cluster that has just started, or one
    without a quorum): every step is tried again until `patience` seconds have passed,
    then a ConfigError; `patience` None waits as long as it takes (a core that restarted
    itself: its settings have worked)."""
    names = Names.of(config)
    js = client.jetstream(timeout=max(config.publish_timeout_seconds, 2.0))
    waiting = _Waiting(patience, lambda error: _no_jetstream(config, error))
    for stream in _streams(config, names):
        while True:
            try:
                await _add_or_update(js, stream)
                break
            except Exception as error:
                # More replicas than a single server takes (10074) will not pass by
                # waiting. Anything else may: a cluster that has just started answers
                # "no suitable peers for placement" (a bad request, 10005) until its
                # nodes know each other, one without a quorum does not answer at all.
                if getattr(error, "err_code", None) == NOT_CLUSTERED:
                    raise ConfigError(
                        f"cluster.replicas={config.replicas}: stream {stream.name} cannot be set up"
                        f" (a single NATS server takes replicas 1 only): {error}"
                    ) from error
                await waiting.after(error)
    return js, await _lease_bucket(js, names, waiting)


class _Waiting:
    """The pause before JetStream is asked again, and the end of waiting: after
    `patience` seconds (None: never), the error `fail` makes of the last failure."""

    def __init__(self, patience: float | None, fail: Callable[[Exception], ConfigError]) -> None:
        self._deadline = None if patience is None else time.monotonic() + patience
        self._fail = fail
        self._logged = 0.0

    async def after(self, error: Exception) -> None:
        now = time.monotonic()
        if self._deadline is not None and now > self._deadline:
            raise self._fail(error) from error
        if now - self._logged > WAIT_LOG_SECONDS:
            self._logged = now
            log.warning("JetStream does not answer yet: waiting", extra={"error": str(error) or repr(error)})
        await asyncio.sleep(0.5)


def _no_jetstream(config: ClusterConfig, error: Exception) -> ConfigError:
    if getattr(error, "err_code", None) == NO_PEERS:
        # JetStream answers, and refuses: too few nodes in its meta group, running and
        # with room. nats-server 2.10.27 sometimes leaves a node started with the others
        # out of the group for good; restarting that node brings it in (docs/cluster.md).
        return ConfigError(
            f"cluster.replicas={config.replicas}: JetStream at {config.nats_urls} cannot place the "
            f"streams on {config.replicas} nodes: fewer are in its meta group, running and with room "
            "(the meta leader's /jsz on its monitoring port lists the group): lower the setting, "
            f"add or restart nodes, or give them room: {error}"
        )
    return ConfigError(
        f"cluster.nats_urls: JetStream does not answer at {config.nats_urls} "
        f"(is it enabled, with a quorum for cluster.replicas={config.replicas}?): {error}"
    )


async def bind(client: Client, config: ClusterConfig) -> tuple[JetStreamContext, KeyValue]:
    """The JetStream context and the lease bucket, once a core has set the streams up
    (waiting for it up to SETUP_SECONDS, then a ConfigError)."""
    names = Names.of(config)
    js = client.jetstream(timeout=max(config.publish_timeout_seconds, 2.0))
    looked_up = names.commands_stream

    def missing(error: Exception) -> ConfigError:
        return ConfigError(
            f"cluster: stream {looked_up} cannot be found at {config.nats_urls} "
            f"(a core sets the streams up: start one; cluster.user allowed to read "
            f"stream information?): {error!r}"
        )

    waiting = _Waiting(SETUP_SECONDS, missing)
    for looked_up in (
        names.commands_stream,
        names.events_stream,
        names.journal_stream,
        f"KV_{names.lease_bucket}",
    ):
        while True:
            try:
                await js.stream_info(looked_up)
                break
            except Exception as error:
                await waiting.after(error)
    return js, await _lease_bucket(js, names, waiting)


async def _lease_bucket(js: JetStreamContext, names: Names, waiting: "_Waiting") -> KeyValue:
    while True:
        try:
            return await js.key_value(names.lease_bucket)
        except Exception as error:
            await waiting.after(error)


async def _add_or_update(js: JetStreamContext, stream: api.StreamConfig) -> None:
    try:
        await js.add_stream(stream)
    except APIError as error:
        if error.err_code != 10058:  # the name is in use with another configuration
            raise
        await js.update_stream(stream)
