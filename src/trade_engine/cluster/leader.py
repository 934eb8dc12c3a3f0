"""The active core: commands from the command stream into the sequencer, outcomes back
to the gateways, committed batches out (publisher.py), the lease kept.

Commands are taken in stream order (a pull consumer starting after the position the
last journaled batch recorded, so nothing applied before a takeover is applied again)
and handed to the sequencer in that order, each with its stream position, at most
`max_queue / 2` at a time. A command's outcome goes to the subject its gateway named,
after its batch is published. Every second the commands journaled are deleted from the
stream, so its size limit counts only what waits. The core answers `<name>.core.position`
with how far it has published (gateways wait for that before reading: read-your-writes
across gateways).

Whatever makes this core unfit to lead ends it: the lease lost or not renewed in time,
the epoch found stale, the sequencer stopped (storage). A fenced core exits at once,
publishing and answering nothing more.
"""

import asyncio
import json
import logging
import os
import sys
import time
from collections.abc import Callable
from typing import Final

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext, api

from trade_engine.cluster import failpoints
from trade_engine.cluster.lease import LeadershipLost, Lease
from trade_engine.cluster.names import KEY, REPLY, Names
from trade_engine.cluster.publisher import Publisher
from trade_engine.core import codec
from trade_engine.core.local import LocalCore
from trade_engine.core.messages import AnyCommand, Committed, Outcome, Unavailable
from trade_engine.domain.errors import ErrorCode
from trade_engine.observability.logging import errors_logged

log = logging.getLogger(__name__)
# The argument a core restarted by itself runs with (cli.py `core --restarted`).
RESTARTED: Final = "--restarted"
FETCH_SECONDS: Final = 0.2
CHECK_EVERY_IDLE_FETCHES: Final = 10  # an idle consumer is checked about every 2 s
CONSUMER_IDLE_SECONDS: Final = 30.0
PURGE_SECONDS: Final = 1.0
EXIT_FENCED: Final = 75  # the process ends with this status when another core leads
EXIT_CANNOT_LEAD: Final = 1  # asked to stop, it could not hand over (the lease expires instead)


def die(reason: str) -> None:
    """Another core leads: end the process now, so that no clean-up may publish or
    commit anything more (a supervisor may start it again, as a standby)."""
    log.error("this core is no longer the leader: exiting", extra={"reason": reason})
    for handler in logging.getLogger().handlers:
        handler.flush()
    os._exit(EXIT_FENCED)


def restart(reason: str, *, stopping: bool = False) -> None:
    """This core cannot lead on (its lease expired while NATS was away, its storage
    failed): start this process afresh, as a standby, at once. Its engine may hold
    what was never committed, so nothing of it is kept. `stopping`: the process was
    asked to stop (SIGTERM), so it exits (EXIT_CANNOT_LEAD) instead: a process started
    afresh would not know it had been asked, and would run on. The new process is told
    it restarted (`RESTARTED`): it waits for JetStream as long as it takes, where one
    started by an operator gives up with a clear error (bus.ensure)."""
    log.error(
        "this core cannot lead on: " + ("exiting" if stopping else "restarting as a standby"),
        extra={"reason": reason},
    )
    for handler in logging.getLogger().handlers:
        handler.flush()
    if stopping:
        os._exit(EXIT_CANNOT_LEAD)
    arguments = [*sys.argv[1:], *([] if RESTARTED in sys.argv else [RESTARTED])]
    os.execv(sys.executable, [sys.executable, "-m", "trade_engine.cli", *arguments])


class Leader:
    def __init__(
        self,
        client: Client,
        js: JetStreamContext,
        names: Names,
        port: LocalCore,
        publisher: Publisher,
        lease: Lease,
        *,
        position: int,
        journaled_position: Callable[[], int],
        max_in_flight: int,
        replicas: int,
    ) -> None:
        self._client, self._js, self._names = client, js, names
        self.port = port
        self.publisher = publisher
        self.lease = lease
        self.position = position  # the stream position of the last command taken
        self._journaled = journaled_position
        self._max_in_flight = max_in_flight
        self._replicas = replicas
        self._subscriptions = 0
        self._slots = asyncio.Semaphore(max_in_flight)
        self.in_flight = 0
        self.stream_last_seq = 0
        self._tasks: set[asyncio.Task[None]] = set()

    async def run(self, stop: asyncio.Event, keeping: "asyncio.Task[None]") -> int:
        """Lead until `stop` is set (then commit what was taken) or leadership ends;
        `keeping`: the task renewing the lease (`keep_lease`), running since it was taken."""
        responder = await self._client.subscribe(self._names.position, cb=self._answer_position)

        async def step_down(message: Msg) -> None:
            log.info("asked to step down: handing over")
            await message.respond(json.dumps({"stepping_down": self.lease.node}).encode())
            stop.set()

        stepping = await self._client.subscribe(self._names.step_down, cb=step_down)
        loops = [
            asyncio.create_task(self.publisher.run(), name="publisher"),
            keeping,
            asyncio.create_task(self._purge(), name="purge"),
            asyncio.create_task(self._consume(stop), name="consume"),
        ]
        handing_over: asyncio.Task[None] | None = None
        try:
            done, _ = await asyncio.wait(loops, return_when=asyncio.FIRST_COMPLETED)
            await self._unless_ended(done, stop)
            # Stopping on purpose: commit what was taken, publish it, answer it. The
            # lease is kept and batches are published meanwhile, and should either of
            # those fail, leadership ends as it would have before the stop.
            handing_over = asyncio.create_task(self._hand_over(), name="hand-over")
            done, _ = await asyncio.wait([handing_over, *loops[:2]], return_when=asyncio.FIRST_COMPLETED)
            await self._unless_ended(done, stop)
            # Everything taken is answered: stop renewing (a renewal racing the release
            # would find the lease gone and end this core as fenced), then give it up.
            for task in loops:
                task.cancel()
            await asyncio.wait(loops)
            await self._release()
            log.info("handed over", extra={"seq": self.port.core.sequencer.last_seq})
            return 0
        finally:
            for task in [*loops, *([handing_over] if handing_over is not None else [])]:
                task.cancel()
            await responder.unsubscribe()
            await stepping.unsubscribe()

    async def _release(self) -> None:
        """Give the lease up once everything is handed over. Should NATS not answer, the
        lease expires instead (the standby waits its time to live): the stop is still
        clean, as nothing taken is left unanswered."""
        try:
            await asyncio.wait_for(self.lease.release(), self.lease.ttl)
        except Exception as error:
            log.warning("the lease could not be given up: it expires instead", extra={"error": repr(error)})

    async def _hand_over(self) -> None:
        await self.port.close()
        while self._tasks:
            await asyncio.wait(set(self._tasks), timeout=5)
        await self.publisher.reached(self.port.core.sequencer.last_seq)

    async def _unless_ended(self, done: set["asyncio.Task[None]"], stop: asyncio.Event) -> None:
        """Return unless one of `done` failed, or a loop that runs as long as this core
        leads ended: that ends leadership."""
        for task in done:
            error = task.exception()
            if error is not None:
                await self._ended(error, stopping=stop.is_set())
            elif task.get_name() not in ("consume", "hand-over"):
                await self._ended(RuntimeError(f"{task.get_name()} ended"), stopping=stop.is_set())

    async def _ended(self, error: BaseException, *, stopping: bool) -> None:
        """Leadership ended, or this core cannot lead on: exit if another core holds
        the lease, else give it up (if still held) and restart as a standby (exit, if
        asked to stop)."""
        held: bool | None = None  # NATS cannot say
        with errors_logged(log, "cannot tell whether this core still holds the lease"):
            held = await asyncio.wait_for(self.lease.renew(), self.lease.ttl / 2)
        if held is False:
            die(f"{error!r}; another core holds the lease")
        if held:
            with errors_logged(log, "the lease was not released: it expires by itself", ttl=self.lease.ttl):
                await asyncio.wait_for(self.lease.release(), self.lease.ttl / 2)
        restart(repr(error), stopping=stopping)

    # -- commands in --

    async def _subscribe(self) -> JetStreamContext.PullSubscription:
        """A pull consumer from the command after the last one taken, replicated like
        the stream (it survives a NATS node going away), dropped when left unused."""
        self._subscriptions += 1
        config = api.ConsumerConfig(
            durable_name=f"{self.lease.node}-e{self.lease.epoch}-{self._subscriptions}",
            deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=self.position + 1,
            ack_policy=api.AckPolicy.NONE,
            inactive_threshold=CONSUMER_IDLE_SECONDS,
            num_replicas=self._replicas,
        )
        name, stream = config.durable_name, self._names.commands_stream
        return await self._js.pull_subscribe(self._names.commands, durable=name, stream=stream, config=config)

    async def _consume(self, stop: asyncio.Event) -> None:
        subscription: JetStreamContext.PullSubscription | None = None
        idle = 0
        while not stop.is_set():
            if self.port.status().failed:
                raise RuntimeError("the sequencer stopped (storage): this core cannot lead")
            try:
                if subscription is None:
                    subscription = await self._subscribe()
                free = max(1, self._max_in_flight - self.in_flight)  # no more than can be taken
                messages = await subscription.fetch(batch=min(free, 256), timeout=FETCH_SECONDS)
            except (NatsTimeout, TimeoutError):
                idle += 1
                if idle % CHECK_EVERY_IDLE_FETCHES == 0 and subscription is not None:
                    subscription = await self._checked(subscription)
                continue
            except Exception as error:  # the consumer is gone (its NATS node), or NATS is away
                log.warning("taking commands failed: subscribing again", extra={"error": repr(error)})
                await self._drop(subscription)
                subscription = None
                await asyncio.sleep(FETCH_SECONDS)
                continue
            idle = 0
            for message in messages:
                await self._take(message)
        await self._drop(subscription)

    async def _checked(
        self, subscription: JetStreamContext.PullSubscription
    ) -> JetStreamContext.PullSubscription | None:
        """The subscription, if its consumer still answers (else None: subscribe again)."""
        try:
            await subscription.consumer_info()
            return subscription
        except Exception as error:
            log.warning("the command consumer is gone: subscribing again", extra={"error": repr(error)})
            await self._drop(subscription)
            return None

    async def _drop(self, subscription: JetStreamContext.PullSubscription | None) -> None:
        if subscription is not None:
            # Its consumer goes by itself once unused (`inactive_threshold`).
            with errors_logged(log, "the command subscription was not closed"):
                await subscription.unsubscribe()

    async def _take(self, message: Msg) -> None:
        position = message.metadata.sequence.stream
        headers = message.headers or {}
        try:
            submission = codec.decode_submission(message.data)
        except Exception as error:
            log.warning(
                "an undecodable command was skipped", extra={"position": position, "error": repr(error)}
            )
            return
        failpoints.hit("after-durable")
        await self._slots.acquire()
        self.in_flight += 1
        self.position = position
        # Tasks start in the order they were created, and each hands its command to the
        # sequencer's queue before it first waits: commands are applied in stream order.
        task = asyncio.create_task(self._handle(submission.command, position, headers))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _handle(self, command: AnyCommand, position: int, headers: dict[str, str]) -> None:
        try:
            outcome: Outcome = await self.port.submit(command, position)
            if isinstance(outcome, Committed) and outcome.seq:
                await self.publisher.reached(outcome.seq)
            if isinstance(outcome, Unavailable) and outcome.code is ErrorCode.UNAVAILABLE:
                return  # the core is failing: the gateway's wait ends in OUTCOME_UNKNOWN
            if not self.lease.valid():
                return  # maybe no longer the leader: answer nothing (the lease task decides)
            reply = headers.get(REPLY)
            if reply:
                await self._client.publish(reply, codec.encode(outcome), headers={KEY: headers.get(KEY, "")})
        finally:
            self.in_flight -= 1
            self._slots.release()

    # -- the lease, the stream's size, the position --

    async def _purge(self) -> None:
        stream = self._names.commands_stream
        purged = 0
        while True:
            await asyncio.sleep(PURGE_SECONDS)
            journaled = self._journaled()
            try:
                if journaled > purged:
                    await self._js.purge_stream(stream, seq=journaled + 1)
                    purged = journaled
                info = await self._js.stream_info(stream)
                self.stream_last_seq = int(info.state.last_seq)
            except Exception as error:
                log.warning("the command stream could not be trimmed", extra={"error": repr(error)})

    async def _answer_position(self, message: Msg) -> None:
        sequencer = self.port.core.sequencer
        answer = {
            "published": self.publisher.published_seq,
            "projected": sequencer.tables.projected_seq,
            "epoch": self.lease.epoch,
            "at": time.time_ns(),
        }
        await message.respond(json.dumps(answer).encode())


async def keep_lease(lease: Lease) -> None:
    """Renew the lease every quarter of its life, from the moment it is taken (a takeover
    may take a while): LeadershipLost once another core holds it, or once it expired
    before it could be renewed."""
    while True:
        await asyncio.sleep(lease.ttl / 4)
        try:
            if not await lease.renew():
                raise LeadershipLost("another core holds the lease")
        except LeadershipLost:
            raise
        except Exception as error:
            log.warning("the lease could not be renewed", extra={"error": repr(error)})
            if not lease.valid():
                raise LeadershipLost("the lease expired before it could be renewed") from error


def consumer_lag(leader: Leader) -> int:
    """Commands in the stream the core has not taken yet."""
    return max(0, leader.stream_last_seq - leader.position)
