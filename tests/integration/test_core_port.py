"""The core port over a real core: every outcome of a command, the state a reader starts
from and the batches after it, each round-tripped through the port's codec as it
would travel between processes."""

import asyncio
from dataclasses import dataclass

from tests.flows import MARKETS
from trade_engine.core import codec
from trade_engine.core.bootstrap import start_core
from trade_engine.core.local import LocalCore
from trade_engine.core.messages import (
    VERSION,
    Committed,
    CommittedBatch,
    CoreState,
    CoreStatus,
    Outcome,
    Rejected,
    Unavailable,
)
from trade_engine.domain.errors import ErrorCode
from trade_engine.engine import CancelAllOrders, Deposit, OrderAccepted, PlaceOrder, TradeExecuted


def buy(price: int) -> PlaceOrder:
    return PlaceOrder(ts=0, user_id="u1", market="BTC-USDT", side="BUY", price=price, quantity=1000)


@dataclass
class Scenario:
    state: CoreState
    placed: Outcome
    refused: Outcome
    nothing: Outcome
    traded: Outcome
    status: CoreStatus
    stopped: Outcome
    batches: list[CommittedBatch]


def test_outcomes_state_and_batches_cross_the_port_as_messages(database_url: str) -> None:
    async def scenario() -> Scenario:
        core = await start_core(database_url, markets=MARKETS)
        port = LocalCore(core, roundtrip=True)
        batches: list[CommittedBatch] = []
        await port.submit(Deposit(ts=0, user_id="u1", asset="USDT", amount=10**12))
        await port.submit(Deposit(ts=0, user_id="u2", asset="BTC", amount=10**9))
        state = port.attach(batches.append)
        placed = await port.submit(buy(100))
        broke = PlaceOrder(ts=0, user_id="u3", market="BTC-USDT", side="BUY", price=100, quantity=1000)
        refused = await port.submit(broke)
        nothing = await port.submit(CancelAllOrders(ts=0, user_id="u3"))
        sell = PlaceOrder(ts=0, user_id="u2", market="BTC-USDT", side="SELL", price=100, quantity=400)
        traded = await port.submit(sell)
        status = port.status()
        await core.sequencer.stop()
        stopped = await port.submit(buy(101))
        await port.close()
        return Scenario(state, placed, refused, nothing, traded, status, stopped, batches)

    run = asyncio.run(scenario())
    state, placed, refused, nothing = run.state, run.placed, run.refused, run.nothing
    traded, status, stopped, batches = run.traded, run.status, run.stopped, run.batches
    # The state a reader starts from: what was committed before it attached.
    assert state.seq == 4  # two markets added, two deposits
    assert {(b.user_id, b.asset) for b in state.balances} == {("u1", "USDT"), ("u2", "BTC")}
    assert [m.market.symbol for m in state.markets] == [m.symbol for m in MARKETS]
    # Outcomes: committed with their global sequence numbers, refused with a code.
    assert isinstance(placed, Committed)
    assert (placed.seq, type(placed.events[0])) == (5, OrderAccepted)
    assert isinstance(refused, Rejected)
    assert refused.code is ErrorCode.INSUFFICIENT_BALANCE
    assert isinstance(nothing, Committed)
    assert (nothing.seq, nothing.events) == (0, [])
    assert isinstance(traded, Committed)
    assert traded.seq == 6
    assert any(isinstance(event, TradeExecuted) for event in traded.events)
    assert isinstance(stopped, Unavailable)
    assert stopped.code is ErrorCode.UNAVAILABLE
    assert status.accepting
    # The batches after the state, in order, each with the committed balances it changed.
    assert [batch.seq for batch in batches] == [5, 6]
    assert batches[0].events == placed.events
    assert {(b.user_id, b.asset) for b in batches[1].balances} >= {("u1", "BTC"), ("u2", "USDT")}
    # Each kind of message decodes to an equal value.
    assert codec.decode_state(codec.encode(state)) == state
    for outcome in (placed, refused, traded, stopped):
        assert codec.decode_outcome(codec.encode(outcome)) == outcome
    for batch in batches:
        assert codec.decode_batch(codec.encode(batch)) == batch
    assert codec.decode_status(codec.encode(status)) == status
    assert status.v == state.v == placed.v == VERSION  # every message says its format's version
