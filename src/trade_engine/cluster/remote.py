"""The core port over NATS: what a gateway of a cluster holds instead of a core.

- `submit` publishes the command to the command stream and waits for the outcome the
  core sends to this gateway's outcome subject. JetStream de-duplicates by the message
  id: for an order, derived from (user, client order id), so the same order sent again
  through any gateway within `dedup_window_seconds` is stored once (the second sender
  is answered DUPLICATE_CLIENT_ORDER_ID, as the core answers a client order id still
  open; the first sender gets the outcome); an order without one gets a client order
  id from the gateway first (`gw-...`, in the answer), so every order can be looked
  up. Other commands: the submission's own id. No publish
  acknowledgement from a stream means the command was not stored: `Unavailable` (safe
  to retry); a full stream or no active core (nobody holds the lease):
  `Unavailable(BUSY)` at once; no outcome within `outcome_timeout_seconds` (the core
  died with it in flight), or a publish whose acknowledgement was lost: `Unknown`,
  with the ids to look it up by. Before answering `Committed`, it waits (bounded)
  until its attached reader (the read model) holds the batch: read-your-writes.
- `attach` hands out the committed state loaded from the database (follower.load:
  a consistent snapshot, the journal's tail applied) and then, once `deliver` is called
  (the gateway's readers are made as of that state: app/root.py), every batch from the
  batch subject, in order. The subscription starts before the load, so no batch
  committed after it is missed; batches already in the state are skipped. A batch that
  does not follow the last one means this gateway missed what no stream holds any
  more: `on_gap` is called (the gateway process restarts: it keeps no state).
- `caught_up` asks the active core how far it has published and waits for the read
  model to get there (the gateway then settles the read model's own readers:
  edge/gateway.py): a read on this gateway sees what another gateway acknowledged. With no
  core to ask (between leaders), it waits for the batches of the commands this gateway
  acknowledged itself.
- `history_reached` polls the tables' position in the database.
"""

import asyncio
import hashlib
import json
import logging
import secrets
import time
from collections.abc import Callable
from typing import Final, cast

import msgspec
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext, api
from nats.js.errors import APIError, KeyNotFoundError, NoStreamResponseError
from nats.js.kv import KeyValue
from sqlalchemy.ext.asyncio import AsyncEngine

from trade_engine.cluster.follower import load, projected_seq
from trade_engine.cluster.lease import KEY as LEASE_KEY
from trade_engine.cluster.names import FIRST_SEQ, KEY, MSG_ID, REPLY, Names
from trade_engine.config import ClusterConfig
from trade_engine.core import codec
from trade_engine.core.local import lookup_ids, state_of
from trade_engine.core.messages import (
    AnyCommand,
    Committed,
    CommittedBatch,
    CoreState,
    CoreStatus,
    Outcome,
    Rejected,
    Submission,
    Unavailable,
    Unknown,
)
from trade_engine.core.port import BatchReader
from trade_engine.domain.errors import ErrorCode
from trade_engine.engine import Command, PlaceOrder

log = logging.getLogger(__name__)
HEARTBEAT_SECONDS: Final = 1.0
LEADER_POLL_SECONDS: Final = 0.25
POSITION_TIMEOUT: Final = 0.5
HISTORY_POLL_SECONDS: Final = 0.005
# Batches held while the gateway makes its readers' state (`deliver`): a normal start
# stays well below it (with the default `max_projection_lag` the tables lag the journal
# by at most 50,000 commands, a batch has at least one, and the loads take seconds).
START_BUFFER_LIMIT: Final = 100_000


def message_id(command: Command, key: str) -> str:
    """The id JetStream de-duplicates a command by: (user, client order id) for an order,
    the same whichever gateway sends it; the submission's own key otherwise."""
    if isinstance(command, PlaceOrder) and command.client_order_id:
        named = f"{command.user_id}\x00{command.client_order_id}".encode()
        return "order-" + hashlib.sha256(named).hexdigest()[:32]
    return key


class NatsCore:
    def __init__(
        self,
        client: Client,
        js: JetStreamContext,
        bucket: KeyValue,
        config: ClusterConfig,
        node: str,
        database: AsyncEngine,
        *,
        on_gap: Callable[[str], None],
    ) -> None:
        self.client, self._js, self._bucket = client, js, bucket
        self._config = config
        self._names = Names.of(config)
        self._outbox = self._names.outcomes(node)
        self._database = database
        self._on_gap = on_gap
        self._waiting: dict[str, asyncio.Future[Outcome]] = {}
        self._readers: list[BatchReader] = []
        self._state: CoreState | None = None
        self._buffer: list[tuple[int, CommittedBatch]] | None = []
        self.seq = 0  # the last batch handed to the readers
        self.acknowledged = 0  # the last batch a command sent through here was answered in
        self._progress = asyncio.Event()
        self.in_flight = 0
        self.commands = 0
        self.leader_present = False
        self.failed = False
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        await self.client.subscribe(self._outbox, cb=self._on_outcome)
        await self._js.subscribe(
            self._names.batches,
            stream=self._names.events_stream,
            cb=self._on_batch,
            ordered_consumer=True,
            deliver_policy=api.DeliverPolicy.NEW,
            idle_heartbeat=HEARTBEAT_SECONDS,  # a consumer lost with its node is made again soon
        )
        follower, _ = await load(self._database)
        self._state = state_of(follower.engine, follower.seq)
        self.seq = follower.seq
        self._tasks.append(asyncio.create_task(self._watch_leader(), name="leader-watch"))

    # -- the port --

    def attach(self, reader: BatchReader) -> CoreState:
        assert self._state is not None, "start() first"
        self._readers.append(reader)
        return self._state

    async def submit(self, command: Command) -> Outcome:
        if self.failed or not self.client.is_connected:
            return Unavailable(
                code=ErrorCode.UNAVAILABLE, message="not connected to the cluster; retry shortly"
            )
        if not self.leader_present:
            return Unavailable(code=ErrorCode.BUSY, message="no active core at the moment; retry shortly")
        if self.in_flight >= self._config.max_in_flight:
            return Unavailable(code=ErrorCode.BUSY, message="too many orders in flight; retry shortly")
        key = secrets.token_hex(12)
        if isinstance(command, PlaceOrder) and not command.client_order_id:
            command = msgspec.structs.replace(command, client_order_id=f"gw-{key}")
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._waiting[key] = future
        self.in_flight += 1
        self.commands += 1
        try:
            refused = await self._publish(key, command)
            if refused is not None:
                return refused
            try:
                outcome = await asyncio.wait_for(future, self._config.outcome_timeout_seconds)
            except TimeoutError:
                return self._unknown(
                    command, key, "the core did not answer in time (it may have failed over)"
                )
            if isinstance(outcome, Committed) and outcome.seq:
                self.acknowledged = max(self.acknowledged, outcome.seq)
                await self._reach(outcome.seq, self._config.read_wait_seconds)
            return outcome
        finally:
            self._waiting.pop(key, None)
            self.in_flight -= 1

    async def _publish(self, key: str, command: Command) -> Outcome | None:
        payload = codec.encode(Submission(key=key, command=cast(AnyCommand, command)))
        headers = {MSG_ID: message_id(command, key), REPLY: self._outbox, KEY: key}
        timeout = self._config.publish_timeout_seconds
        for attempt in (1, 2):  # a lost acknowledgement is asked again, under the same id
            try:
                ack = await self._js.publish(self._names.commands, payload, timeout=timeout, headers=headers)
                if ack.duplicate and attempt == 1:  # another submission's: its outcome goes there
                    window = self._config.dedup_window_seconds
                    return Rejected(
                        code=ErrorCode.DUPLICATE_CLIENT_ORDER_ID,
                        message="an order with this client order id was submitted within the"
                        f" de-duplication window ({window:g} s): look it up by its client order id",
                    )
                return None
            except NoStreamResponseError:
                return Unavailable(code=ErrorCode.UNAVAILABLE, message="the command stream is unavailable")
            except APIError as error:
                if "maximum" in str(error.description):
                    return Unavailable(
                        code=ErrorCode.BUSY, message="the command stream is full; retry shortly"
                    )
                return Unavailable(code=ErrorCode.UNAVAILABLE, message=f"the command was refused: {error}")
            except (NatsTimeout, TimeoutError):
                if attempt == 2:
                    break
        return self._unknown(command, key, "the command stream did not confirm the command")

    def _unknown(self, command: Command, key: str, why: str) -> Unknown:
        ids = lookup_ids(command, [])
        ids["submission_id"] = key
        return Unknown(message=f"{why}; look it up by the ids in `details`", ids=ids)

    async def history_reached(self, seq: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if await projected_seq(self._database) >= seq:
                    return True
            except Exception as error:
                log.warning("cannot read the tables' position", extra={"error": repr(error)})
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(HISTORY_POLL_SECONDS)

    async def caught_up(self, timeout: float) -> bool:
        try:
            answer = await self.client.request(
                self._names.position, b"", timeout=min(timeout, POSITION_TIMEOUT)
            )
        except (NoRespondersError, NatsTimeout, TimeoutError):
            # No active core (between leaders): what another gateway acknowledged cannot
            # be known now, but what this one acknowledged can, and its clients must
            # read it (`submit` answers once its wait for the batch ends, reached or not).
            return await self._reach(self.acknowledged, timeout)
        published = int(json.loads(answer.data)["published"])
        return await self._reach(published, timeout)

    def accepting(self) -> bool:
        return not self.failed and self.client.is_connected

    def status(self) -> CoreStatus:
        return CoreStatus(
            accepting=self.accepting() and self.leader_present,
            failed=self.failed,
            queue_depth=self.in_flight,
            commands=self.commands,
            batches=0,
            commit_retries=0,
            last_batch_size=0,
            last_apply_seconds=0.0,
            last_commit_seconds=0.0,
            last_settlement_lag_seconds=0.0,
            last_queue_wait_seconds=0.0,
            projection_lag=0,
        )

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await self.client.close()
        await self._database.dispose()

    # -- what arrives --

    async def _on_outcome(self, message: Msg) -> None:
        future = self._waiting.get((message.headers or {}).get(KEY, ""))
        if future is not None and not future.done():
            future.set_result(codec.decode_outcome(message.data))

    async def _on_batch(self, message: Msg) -> None:
        first = int((message.headers or {}).get(FIRST_SEQ, "0"))
        batch = codec.decode_batch(message.data)
        if self._buffer is not None:
            self._buffer.append((first, batch))
            if len(self._buffer) > START_BUFFER_LIMIT and not self.failed:
                # The start-up that was to take them failed (it is logged), or waits far
                # longer than the tables may lag: start again rather than hold them all.
                self.failed = True
                self._on_gap(f"{len(self._buffer)} batches came before the readers were ready")
        else:
            self._deliver(first, batch)

    def deliver(self) -> None:
        """Hand the readers the batches held since the state was loaded, then each one
        as it comes: once the readers' own state is made as of the attached state."""
        buffered, self._buffer = self._buffer or [], None
        for first, batch in buffered:
            self._deliver(first, batch)

    def _deliver(self, first: int, batch: CommittedBatch) -> None:
        if batch.seq <= self.seq or self.failed:
            return  # had it (a batch published again after a takeover)
        if first != self.seq + 1:
            self.failed = True
            self._on_gap(f"batch {first}..{batch.seq} does not follow {self.seq}")
            return
        for reader in self._readers:
            try:
                reader(batch)
            except Exception:
                log.exception("committed-batch reader failed", extra={"seq": batch.seq})
        self.seq = batch.seq
        progress, self._progress = self._progress, asyncio.Event()
        progress.set()

    async def _reach(self, seq: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self.seq < seq:
            left = deadline - time.monotonic()
            if left <= 0 or self.failed:
                return False
            try:
                await asyncio.wait_for(self._progress.wait(), left)
            except TimeoutError:
                return False
        return True

    async def _watch_leader(self) -> None:
        """Whether a core holds the lease, read every LEADER_POLL_SECONDS. A read that
        fails says nothing by itself (the bucket's stream may be electing a new leader
        after a NATS node went away): only reads failing for a whole lease period mean
        no core can be known to lead. An absent or released lease means none leads."""
        answered = time.monotonic()
        while True:
            try:
                entry = await asyncio.wait_for(self._bucket.get(LEASE_KEY), LEADER_POLL_SECONDS * 2)
                self.leader_present, answered = bool(entry.value), time.monotonic()
            except KeyNotFoundError:  # deleted or purged: released, never taken
                self.leader_present, answered = False, time.monotonic()
            except Exception as error:  # NATS cannot say now
                if time.monotonic() - answered >= self._config.lease_seconds and self.leader_present:
                    log.warning("the lease cannot be read: no active core", extra={"error": repr(error)})
                    self.leader_present = False
            await asyncio.sleep(LEADER_POLL_SECONDS)
