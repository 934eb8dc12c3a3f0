"""The NATS accounts and users of deploy/nats-users.conf, on a nats-server started with
that file: the cluster runs with a user per role; only the core publishes events; a
downstream consumer, in an account of its own, receives the public market subjects and
nothing else, and cannot reach the cluster's streams nor publish into its subjects."""

import asyncio
import contextlib
import json
import re
import secrets
import select
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import nats
import pytest
from nats import errors as nats_errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext, api
from nats.js.errors import BadRequestError, NoStreamResponseError, NotFoundError

from tests.cluster.harness import Cluster, Nats
from tests.conftest import postgres_database
from tests.e2e.client import QUOTE, Api

ROOT = Path(__file__).resolve().parents[2]
USERS = ROOT / "deploy" / "nats-users.conf"
PASSWORDS = {"core": "change-me-core", "gateway": "change-me-gateway", "downstream": "change-me-downstream"}
JS_API = r"\$JS\.API\."  # the start of every JetStream API subject, as a regular expression
DENIED_WAIT = 2.0  # for the server to report a refusal
CLUSTER_STREAMS = ("TE_EVENTS", "TE_COMMANDS", "TE_JOURNAL", "KV_te_leader")
MARKETS_STREAM = "TE_MARKETS"  # the downstream account's own (examples/trade_notifier.py)


def as_role(role: str) -> dict[str, str]:
    return {"TRADE_ENGINE_CLUSTER_USER": role, "TRADE_ENGINE_CLUSTER_PASSWORD": PASSWORDS[role]}


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """One NATS server with the users of deploy/, a core and a gateway each with its own."""
    directory = tmp_path_factory.mktemp("secured-cluster")
    databases = postgres_database()
    nats_server = Nats(directory, 1, USERS)
    nats_server.start()
    cluster = Cluster(next(databases), nats_server, directory)
    try:
        cluster.add_core(wait_role="leader", **as_role("core"))
        cluster.add_gateway(**as_role("gateway"))
        yield cluster
    finally:
        cluster.stop()
        for _ in databases:
            pass


class Session:
    """A connection as one role's user, with the permission errors the server sent it."""

    def __init__(self, client: Client, violations: list[str]) -> None:
        self.client, self.violations = client, violations

    async def denied(self, attempt: Awaitable[Any], subject: str) -> bool:
        """True once the server reports refusing `attempt` its publication to `subject`
        (a regular expression; a refused request gets no answer: it is not waited for)."""
        refused = re.compile(f'publish to "{subject}"', re.IGNORECASE)
        task = asyncio.ensure_future(attempt)
        deadline = time.monotonic() + DENIED_WAIT
        try:
            while time.monotonic() < deadline:
                if any(refused.search(v) for v in self.violations):
                    return True
                await asyncio.sleep(0.01)
            return False
        finally:
            task.cancel()
            # Cancelled, or ended by the server's refusal: either is the expected end.
            with contextlib.suppress(asyncio.CancelledError, TimeoutError, nats_errors.Error):
                await task


def run_as(cluster: Cluster, role: str, check: Callable[[Session], Awaitable[None]]) -> list[str]:
    """Run `check` connected as `role`; the permission violations the server reported."""

    async def run() -> list[str]:
        violations: list[str] = []

        async def on_error(error: Exception) -> None:
            if "permissions violation" in str(error).lower():
                violations.append(str(error).lower())

        client = await nats.connect(
            cluster.nats.urls,
            user=role,
            password=PASSWORDS[role],
            inbox_prefix=f"_INBOX.te.{role}",
            error_cb=on_error,
        )
        try:
            await check(Session(client, violations))
            await client.flush()
            await asyncio.sleep(0.2)  # the server's errors for the last subscriptions
        finally:
            await client.close()
        return violations

    return asyncio.run(run())


def new_market(cluster: Cluster) -> str:
    api_ = Api(cluster.gateways[0])
    try:
        return api_.add_market()
    finally:
        api_.close()


def trade(cluster: Cluster, market: str | None = None) -> str:
    """A trade on `market` (a fresh one if none), through the gateway; the market."""
    api_ = Api(cluster.gateways[0])
    try:
        market = market or api_.add_market()
        base = market.split("-")[0]
        buyer, seller = api_.user("p-buyer"), api_.user("p-seller")
        api_.deposit(buyer, QUOTE, "1000")
        api_.deposit(seller, base, "10")
        api_.order(buyer, market=market, side="BUY", price="20", quantity="1")
        assert api_.order(seller, market=market, side="SELL", price="20", quantity="1")["status"] == "FILLED"
        return market
    finally:
        api_.close()


async def downstream_stream(js: JetStreamContext) -> None:
    """The downstream account's stream of the market subjects, as the notifier makes it."""
    with contextlib.suppress(BadRequestError):  # made already, by the notifier
        await js.add_stream(name=MARKETS_STREAM, subjects=["te.market.>"])


async def stream_names(js: JetStreamContext) -> set[str]:
    return {stream.config.name for stream in await js.streams_info() if stream.config.name}


def test_the_cluster_trades_with_a_nats_user_per_role_and_the_notifier_reads_as_downstream(
    secured: Cluster,
) -> None:
    market = new_market(secured)
    command = [sys.executable, str(ROOT / "examples" / "trade_notifier.py"), "--nats", secured.nats.urls]
    command += ["--gateway", secured.gateways[0].url, "--market", market, "--from-start"]
    command += ["--user", "downstream", "--password", PASSWORDS["downstream"]]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as notifier:
        try:

            async def made(session: Session) -> None:
                js = session.client.jetstream()
                deadline = time.monotonic() + 20
                while MARKETS_STREAM not in await stream_names(js):
                    assert time.monotonic() < deadline, "the notifier made no stream of its own"
                    await asyncio.sleep(0.1)

            run_as(secured, "downstream", made)
            trade(secured, market)
            assert notifier.stdout is not None
            ready, _, _ = select.select([notifier.stdout], [], [], 20)
            assert ready, "the notifier printed nothing"
            printed = json.loads(notifier.stdout.readline())
        finally:
            notifier.kill()
            assert notifier.stderr is not None
            errors = notifier.stderr.read()
    assert (printed["market"], printed["price"], printed["quantity"]) == (market, "20.00", "1.000"), errors


def test_a_gateways_user_cannot_publish_events(secured: Cluster) -> None:
    async def check(session: Session) -> None:
        js = session.client.jetstream(timeout=DENIED_WAIT * 2)
        before = (await js.stream_info("TE_EVENTS")).state.last_seq
        for subject in ("te.batch", "te.market.BTC-USDT", "te.user.alice", "te.journal", "te.out.gateway-x"):
            assert await session.denied(js.publish(subject, b"forged"), re.escape(subject)), subject
        assert await session.denied(
            js.delete_msg("TE_EVENTS", before), JS_API + r"STREAM\.MSG\.DELETE\.TE_EVENTS"
        )
        widened = api.StreamConfig(name="TE_EVENTS", subjects=["te.>"])
        assert await session.denied(js.update_stream(widened), JS_API + r"STREAM\.UPDATE\.TE_EVENTS")
        assert (await js.stream_info("TE_EVENTS")).state.last_seq == before

    run_as(secured, "gateway", check)


async def until_received(received: list[str], subject: str) -> None:
    deadline = time.monotonic() + 10
    while subject not in received:
        assert time.monotonic() < deadline, received
        await asyncio.sleep(0.05)


def test_a_downstream_user_receives_the_market_subjects_and_nothing_else(secured: Cluster) -> None:
    market = new_market(secured)

    async def check(session: Session) -> None:
        received: list[str] = []

        async def on_message(message: Msg) -> None:
            received.append(message.subject)

        await session.client.subscribe(">", cb=on_message)
        # In place once a message of the user's own comes back through it (nats-py's
        # flush does not promise that: harness.until_subscribed; that helper's probe
        # would reach this subscription, which answers nothing).
        probe = f"probe.{secrets.token_hex(6)}"
        await session.client.publish(probe, b"")
        await until_received(received, probe)
        await asyncio.to_thread(trade, secured, market)
        await until_received(received, f"te.market.{market}")
        await asyncio.sleep(0.3)  # for the batch's other messages, were they to come
        # But its own JetStream's and its own probe:
        cluster_subjects = {s for s in received if not s.startswith("$JS.") and s != probe}
        assert cluster_subjects == {f"te.market.{market}"}, received

    assert run_as(secured, "downstream", check) == []


def test_a_downstream_user_cannot_reach_the_clusters_streams(secured: Cluster) -> None:
    async def check(session: Session) -> None:
        js = session.client.jetstream(timeout=DENIED_WAIT)
        for stream in CLUSTER_STREAMS:
            with pytest.raises(NotFoundError):
                await js.stream_info(stream)
        assert not await stream_names(js) & set(CLUSTER_STREAMS)
        everything = api.ConsumerConfig(deliver_policy=api.DeliverPolicy.ALL, ack_policy=api.AckPolicy.NONE)
        with pytest.raises(NotFoundError):
            await js.pull_subscribe("te.market.>", stream="TE_EVENTS", config=everything)
        with pytest.raises(NotFoundError):
            await js.get_msg("TE_JOURNAL", 1)
        with pytest.raises(NoStreamResponseError):  # no stream of its account takes commands
            await js.publish("te.cmd", b"forged")

    run_as(secured, "downstream", check)


def test_a_downstream_consumer_cannot_deliver_into_the_journal_nor_the_commands(secured: Cluster) -> None:
    """The hole of one shared account: a push consumer's delivery subject is not checked
    against its creator's permissions. In an account of its own, a consumer delivering
    on te.journal or te.cmd delivers in that account only."""
    watched = ("te.journal", "te.cmd")
    market = new_market(secured)

    async def make_stream(session: Session) -> None:
        await downstream_stream(session.client.jetstream())

    run_as(secured, "downstream", make_stream)
    trade(secured, market)
    before = last_sequences(secured)

    async def deliver_into_the_cluster(session: Session) -> None:
        js = session.client.jetstream()
        copies: dict[str, list[bytes]] = {subject: [] for subject in watched}
        for subject in watched:

            async def on_copy(message: Msg, subject: str = subject) -> None:
                copies[subject].append(message.data)

            # Its own subscriptions: push consumers deliver only where someone listens.
            await session.client.subscribe(subject, cb=on_copy)
            config = api.ConsumerConfig(
                deliver_subject=subject,
                deliver_policy=api.DeliverPolicy.ALL,
                ack_policy=api.AckPolicy.NONE,
                filter_subject=f"te.market.{market}",
            )
            await js.add_consumer(MARKETS_STREAM, config)
        deadline = time.monotonic() + 10
        while not all(copies.values()):  # the copies were delivered, in its own account
            assert time.monotonic() < deadline, copies
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)

    run_as(secured, "downstream", deliver_into_the_cluster)
    assert last_sequences(secured) == before


def last_sequences(cluster: Cluster) -> dict[str, int]:
    """The last sequence of the cluster's command and journal streams."""
    sequences: dict[str, int] = {}

    async def look(session: Session) -> None:
        js = session.client.jetstream()
        for stream in ("TE_COMMANDS", "TE_JOURNAL"):
            sequences[stream] = (await js.stream_info(stream)).state.last_seq

    run_as(cluster, "gateway", look)
    return sequences
