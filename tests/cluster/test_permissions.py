"""The NATS users of deploy/nats-users.conf, on a nats-server started with that file:
the cluster runs with a user per role; only the core publishes events; a downstream
consumer reads the public market subjects and nothing else."""

import asyncio
import contextlib
import json
import re
import select
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.aio.client import Client
from nats.js import api

from tests.cluster.harness import Cluster, Nats
from tests.conftest import postgres_database
from tests.e2e.client import QUOTE, Api

ROOT = Path(__file__).resolve().parents[2]
USERS = ROOT / "deploy" / "nats-users.conf"
PASSWORDS = {"core": "change-me-core", "gateway": "change-me-gateway", "downstream": "change-me-downstream"}
JS_API = r"\$JS\.API\."  # the start of every JetStream API subject, as a regular expression
DENIED_WAIT = 2.0  # for the server to report a refusal


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
            with contextlib.suppress(BaseException):
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


def trade(cluster: Cluster) -> str:
    """A trade on a fresh market, through the gateway; the market."""
    api_ = Api(cluster.gateways[0])
    try:
        market = api_.add_market()
        base = market.split("-")[0]
        buyer, seller = api_.user("p-buyer"), api_.user("p-seller")
        api_.deposit(buyer, QUOTE, "1000")
        api_.deposit(seller, base, "10")
        api_.order(buyer, market=market, side="BUY", price="20", quantity="1")
        assert api_.order(seller, market=market, side="SELL", price="20", quantity="1")["status"] == "FILLED"
        return market
    finally:
        api_.close()


def test_the_cluster_trades_with_a_nats_user_per_role_and_the_notifier_reads_as_downstream(
    secured: Cluster,
) -> None:
    market = trade(secured)
    command = [sys.executable, str(ROOT / "examples" / "trade_notifier.py"), "--nats", secured.nats.urls]
    command += ["--gateway", secured.gateways[0].url, "--market", market, "--from-start"]
    command += ["--user", "downstream", "--password", PASSWORDS["downstream"]]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as notifier:
        try:
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


def test_a_downstream_consumer_reads_market_subjects_but_not_private_ones_nor_commands(
    secured: Cluster,
) -> None:
    market = trade(secured)

    async def check(session: Session) -> None:
        js = session.client.jetstream(timeout=DENIED_WAIT * 2)
        everything = api.ConsumerConfig(deliver_policy=api.DeliverPolicy.ALL, ack_policy=api.AckPolicy.NONE)
        public = await js.pull_subscribe(f"te.market.{market}", stream="TE_EVENTS", config=everything)
        assert (await public.fetch(1, timeout=5))[0].subject == f"te.market.{market}"
        for stream, subject in (
            ("TE_EVENTS", "te.user.>"),
            ("TE_EVENTS", "te.batch"),
            ("TE_EVENTS", ">"),
            ("TE_COMMANDS", "te.cmd"),
            ("TE_JOURNAL", "te.journal"),
        ):
            config = api.ConsumerConfig(deliver_policy=api.DeliverPolicy.ALL, ack_policy=api.AckPolicy.NONE)
            attempt = js.pull_subscribe(subject, stream=stream, config=config)
            # The filter is in the subject that creates a named consumer (but ">").
            created = JS_API + rf"CONSUMER\.CREATE\.{stream}\.\w+(\.{re.escape(subject)})?"
            assert await session.denied(attempt, created), subject
        # Nor an unnamed consumer (its filter is not in the subject), nor a message by number.
        unnamed = js.subscribe("te.market.>", stream="TE_EVENTS", ordered_consumer=True)
        assert await session.denied(unnamed, JS_API + r"CONSUMER\.CREATE\.TE_EVENTS")
        assert await session.denied(js.get_msg("TE_EVENTS", 1), JS_API + r"STREAM\.MSG\.GET\.TE_EVENTS")
        assert await session.denied(js.publish("te.cmd", b"forged"), r"te\.cmd")
        for subject in ("te.user.>", "te.batch", "te.cmd", "_INBOX.te.gateway.>", "_INBOX.>"):
            await session.client.subscribe(subject)

    violations = run_as(secured, "downstream", check)
    for subject in ("te.user.>", "te.batch", "te.cmd", "_INBOX.te.gateway.>", "_INBOX.>"):
        assert any(f'subscription to "{subject.lower()}"' in v for v in violations), (subject, violations)
