"""For the stream renderers' tests: an engine whose commands are committed one batch
each into a real read model, and real hub connections whose frames are collected."""

import asyncio
import json
from collections.abc import Callable, Hashable
from typing import Any

import msgspec

from tests.unit.helpers import BASE, MARKET, QUOTE, SYMBOL, ts
from trade_engine.core.messages import AnyEvent, BalanceState, CommittedBatch
from trade_engine.edge.connection import Connection
from trade_engine.edge.hub import Hub
from trade_engine.engine import AddMarket, Command, Deposit, Engine, Event, PlaceOrder
from trade_engine.readmodel.views import Defer, ReadModel, at_once

SECOND = 1_000_000_000
PRICE = 3_000_000  # 30,000.00 USDT


class Flow:
    """An engine and the read model its committed batches build, one batch per command
    (each carrying the committed balances of the users its events name)."""

    def __init__(self, defer: Defer = at_once) -> None:
        self.engine, self.view, self.seq = Engine(), ReadModel(defer), 0

    def commit(self, command: Command) -> list[Event]:
        events = self.engine.apply(command)
        self.seq += 1
        users = {user for e in events if isinstance(user := getattr(e, "user_id", None), str)}
        held = self.engine.balances()
        balances = [
            BalanceState(user, asset, balance.available, balance.locked)
            for user in sorted(users)
            for asset, balance in held.get(user, {}).items()
        ]
        events_out = msgspec.convert(events, list[AnyEvent])
        batch = CommittedBatch(seq=self.seq, commit_ns=command.ts, events=events_out, balances=balances)
        self.view.on_commit(batch)
        return events


def collected(
    subscriptions: dict[str, list[Hashable]],
    start: Callable[[Flow, Hub], None],
    scenario: Callable[[Flow], None],
    settle: float = 0.05,
    defer: Defer = at_once,
) -> dict[str, list[dict[str, Any]]]:
    """Run `scenario` on a fresh flow, with `start` subscribing the renderer under test to
    its read model (whose readers get each batch as `defer` says); the frames each named
    connection (subscribed to its hub keys) got within `settle` seconds."""

    async def run() -> dict[str, list[dict[str, Any]]]:
        flow, hub = Flow(defer), Hub(max_clients=10)
        sent: dict[str, list[dict[str, Any]]] = {name: [] for name in subscriptions}
        connections = []
        for name, keys in subscriptions.items():

            async def send(message: Any, into: list[dict[str, Any]] = sent[name]) -> None:
                into.append(json.loads(message.get("text") or message["bytes"]))

            connection = Connection(send, queue_size=1_000)
            connection.start()
            for key in keys:
                hub.subscribe(key, connection)
            connections.append(connection)
        start(flow, hub)
        scenario(flow)
        await asyncio.sleep(settle)  # scheduled flushes run, the writers hand the frames over
        for connection in connections:
            connection.disconnected()
        return sent

    return asyncio.run(run())


def open_market(flow: Flow) -> None:
    """The market, alice with 10,000 USDT and bob with 1 BTC."""
    flow.commit(AddMarket(ts=ts(), market=MARKET))
    flow.commit(Deposit(ts=ts(), user_id="alice", asset=QUOTE, amount=10**12))
    flow.commit(Deposit(ts=ts(), user_id="bob", asset=BASE, amount=10**8))


def limit(
    user: str, side: str, quantity: int, at_second: int, client_order_id: str | None = None
) -> PlaceOrder:
    """A limit order at 30,000.00 for `quantity` lots, stamped `at_second`."""
    return PlaceOrder(
        ts=at_second * SECOND, user_id=user, market=SYMBOL, side=side, price=PRICE, quantity=quantity,
        client_order_id=client_order_id,
    )  # fmt: skip
