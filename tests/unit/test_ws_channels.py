"""The native channels as ws/channels.py renders them from committed views: a book delta
per flush with the levels that changed and a `seq` one more than the last, the trades,
and per user the order updates, fills and committed balances, each to the subscribers
of its channel only, every figure exact."""

from collections.abc import Callable, Hashable
from typing import Any

import pytest

from tests.unit.committed_flow import Flow, collected, limit, open_market
from tests.unit.helpers import QUOTE, SYMBOL
from trade_engine.edge.hub import Hub
from trade_engine.marketdata.depth import DepthBook
from trade_engine.marketdata.live import LiveMarketData
from trade_engine.ws.channels import Channels, MarketKeys, private_key
from trade_engine.ws.protocol import BALANCES, FILLS, ORDERS

SECOND = 1_000_000_000
KEYS = MarketKeys(SYMBOL)


def channels_of(
    observe_wait: Callable[[float], None] | None = None, started: list[Channels] | None = None
) -> Callable[[Flow, Hub], None]:
    """Starts the channels on a flow's read model, flushing at once (into `started`)."""

    def start(flow: Flow, hub: Hub) -> None:
        depth, live = DepthBook(), LiveMarketData()
        channels = Channels(
            hub,
            read_model=flow.view,
            depth=depth,
            live=live,
            flush_interval=0,
            observe_wait=observe_wait,
        )
        for reader in (depth.on_view, live.on_view, channels.on_view):  # the composition root's order
            flow.view.subscribe(reader)
        if started is not None:
            started.append(channels)

    return start


def received(scenario: Callable[[Flow], None]) -> dict[str, list[dict[str, Any]]]:
    """Frames of a public client (book and trades) and of alice's private channels."""
    alice: list[Hashable] = [private_key(kind, "alice") for kind in (ORDERS, FILLS, BALANCES)]
    return collected({"public": [KEYS.book, KEYS.trades], "alice": alice}, channels_of(), scenario)


def test_a_resting_order_and_a_trade_go_out_on_each_channel_with_exact_figures() -> None:
    def scenario(flow: Flow) -> None:
        open_market(flow)
        flow.commit(limit("alice", "BUY", 100, 10, "a-1"))

    sent = received(scenario)
    (delta,) = sent["public"]
    assert (delta["type"], delta["channel"], delta["seq"]) == ("book_delta", KEYS.book, 1)
    assert (delta["bids"], delta["asks"]) == ([["30000.00", "0.00100"]], [])
    assert delta["commit_time_us"] == 10_000_000
    # Committed before the first flush ran: one message per channel carries them all,
    # the balance as last committed.
    orders, balances = sent["alice"]
    assert (orders["type"], balances["type"]) == ("orders", "balances")
    (update,) = orders["updates"]
    assert (update["event"], update["status"], update["price"], update["client_order_id"]) == (
        "NEW", "NEW", "30000.00", "a-1",
    )  # fmt: skip
    # 30 USDT and the 0.2% taker fee's hold are locked
    assert balances["balances"] == [
        {"asset": QUOTE, "available": "9969.94000000", "locked": "30.06000000", "total": "10000.00000000"}
    ]


def test_a_trade_sends_the_trades_a_book_delta_removing_the_level_and_the_makers_fill() -> None:
    def scenario(flow: Flow) -> None:
        open_market(flow)
        flow.commit(limit("alice", "BUY", 100, 10, "a-1"))
        flow.commit(limit("bob", "SELL", 100, 11, "b-1"))

    sent = received(scenario)
    public = sent["public"]
    deltas = [frame for frame in public if frame["type"] == "book_delta"]
    assert [d["seq"] for d in deltas] == list(range(1, len(deltas) + 1))
    assert deltas[-1]["bids"] == [["30000.00", "0.00000"]]  # the level is gone
    (trades,) = [frame for frame in public if frame["type"] == "trades"]
    (trade,) = trades["trades"]
    assert (trade["price"], trade["quantity"], trade["taker_side"]) == ("30000.00", "0.00100", "SELL")
    fills = [fill for frame in sent["alice"] if frame["type"] == "fills" for fill in frame["fills"]]
    assert [(f["role"], f["price"], f["quantity"], f["fee"], f["fee_asset"]) for f in fills] == [
        ("MAKER", "30000.00", "0.00100", "0.03000000", QUOTE)
    ]
    updates = [u for frame in sent["alice"] if frame["type"] == "orders" for u in frame["updates"]]
    # Each change in turn: the trade (the order's status once it traded), then its end.
    assert [(u["event"], u["status"]) for u in updates] == [
        ("NEW", "NEW"), ("TRADE", "PARTIALLY_FILLED"), ("FILLED", "FILLED"),
    ]  # fmt: skip
    assert updates[-1]["executed_quantity"] == "0.00100"


ALICE_ORDERS: list[Hashable] = [private_key(ORDERS, "alice")]


def flush_waits(subscriptions: dict[str, list[Hashable]]) -> tuple[list[float], dict[str, list[Any]]]:
    """Bob rests a sell at 10 s, alice takes it at 12 s, all in one flush: the waits the
    flush reported, and the frames each connection got."""
    waits: list[float] = []

    def scenario(flow: Flow) -> None:
        open_market(flow)
        flow.commit(limit("bob", "SELL", 100, 10, "b-1"))  # the market's oldest change: 10 s
        flow.commit(limit("alice", "BUY", 100, 12, "a-1"))  # alice's oldest: 12 s (bob has no subscriber)

    return waits, collected(subscriptions, channels_of(waits.append), scenario)


def test_a_flush_reports_how_long_the_oldest_change_of_each_market_and_user_waited() -> None:
    """The metric of the conflation's part of the delivery time: one observation per
    market and per user a flush sends messages for, from that group's oldest change."""
    waits, sent = flush_waits({"public": [KEYS.book], "alice": ALICE_ORDERS})
    assert [frame["type"] for frame in sent["public"]] == ["book_delta"]  # one flush carried it all
    market_wait, alice_wait = waits
    assert market_wait - alice_wait == pytest.approx(2.0, abs=1e-6)
    assert alice_wait > 0


def test_a_market_nobody_watches_reports_no_wait() -> None:
    waits, sent = flush_waits({"alice": ALICE_ORDERS})
    assert [frame["type"] for frame in sent["alice"]] == ["orders"]
    (alice_wait,) = waits  # the market's book changed, but no message went out for it
    assert alice_wait > 0


def test_a_flush_carries_every_batch_committed_before_it_though_the_readers_wait() -> None:
    """The composition root hands a batch to the read model's readers in the loop's next
    turn (readmodel/views.py). A flush due before that turn first hands them what they
    have not read, so it still carries the batch (here the readers' turn never comes)."""
    started: list[Channels] = []
    turns: list[Callable[[], None]] = []  # the readers' turns, held

    def scenario(flow: Flow) -> None:
        open_market(flow)
        flow.commit(limit("alice", "BUY", 100, 10, "a-1"))
        (channels,) = started
        channels.flush()

    sent = collected(
        {"public": [KEYS.book], "alice": ALICE_ORDERS},
        channels_of(started=started),
        scenario,
        defer=turns.append,
    )
    (delta,) = sent["public"]
    assert (delta["type"], delta["seq"], delta["bids"]) == ("book_delta", 1, [["30000.00", "0.00100"]])
    ((update,),) = [frame["updates"] for frame in sent["alice"]]
    assert (update["event"], update["client_order_id"]) == ("NEW", "a-1")
    # Every batch asked for its turn and none came: each was read when the next was
    # built, and the last by the flush.
    assert len(turns) == 4
