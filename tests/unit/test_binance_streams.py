"""Binance's market streams as binance/streams.py renders them from committed views:
`@trade` and `@aggTrade` per trade, `@bookTicker` when the top changes, and depth
diffs every 100 ms whose `[U, u]` ranges follow one another, each raw or wrapped with
its stream name on a combined connection, every figure exact."""

import itertools
from collections.abc import Callable, Hashable
from typing import Any

from tests.unit.committed_flow import Flow, collected, limit, open_market
from trade_engine.binance.outlet import stream_key
from trade_engine.binance.streams import StreamPublisher
from trade_engine.binance.subscriptions import UserDataSubscriptions
from trade_engine.edge.hub import Hub
from trade_engine.marketdata.depth import DepthBook
from trade_engine.marketdata.live import LiveMarketData

SECOND = 1_000_000_000
NAMES = ("btcusdt@trade", "btcusdt@aggTrade", "btcusdt@bookTicker", "btcusdt@depth@100ms")


def received(scenario: Callable[[Flow], None]) -> dict[str, list[dict[str, Any]]]:
    """Frames of one raw connection per stream, and of a combined one on `@trade`."""

    def start(flow: Flow, hub: Hub) -> None:
        depth, live = DepthBook(), LiveMarketData()
        publisher = StreamPublisher(flow.view, depth, live, hub, UserDataSubscriptions())
        for reader in (depth.on_view, live.on_view, publisher.on_view):  # the composition root's order
            flow.view.subscribe(reader)
        publisher.start()

    connections: dict[str, list[Hashable]] = {name: [stream_key(name)] for name in NAMES}
    connections["combined"] = [stream_key("btcusdt@trade", combined=True)]
    return collected(connections, start, scenario, settle=0.5)


def test_a_trade_goes_out_on_every_stream_with_exact_figures() -> None:
    def scenario(flow: Flow) -> None:
        open_market(flow)
        flow.commit(limit("alice", "BUY", 300, 10))
        flow.commit(limit("bob", "SELL", 100, 11))

    sent = received(scenario)
    (trade,) = sent["btcusdt@trade"]
    assert {k: trade[k] for k in ("e", "s", "p", "q", "T", "m")} == {
        "e": "trade", "s": "BTCUSDT", "p": "30000.00000000", "q": "0.00100000", "T": 11_000, "m": True,
    }  # fmt: skip
    (combined,) = sent["combined"]
    assert combined == {"stream": "btcusdt@trade", "data": trade}
    (agg,) = sent["btcusdt@aggTrade"]
    assert (agg["e"], agg["p"], agg["q"], agg["f"], agg["l"]) == (
        "aggTrade", "30000.00000000", "0.00100000", trade["t"], trade["t"],
    )  # fmt: skip
    # The top as the market opened (empty), then each change: alice's bid rested, then a
    # third of it traded.
    tops = [(t["b"], t["B"], t["a"], t["A"]) for t in sent["btcusdt@bookTicker"]]
    assert tops == [
        ("0.00000000", "0.00000000", "0.00000000", "0.00000000"),
        ("30000.00000000", "0.00300000", "0.00000000", "0.00000000"),
        ("30000.00000000", "0.00200000", "0.00000000", "0.00000000"),
    ]
    diffs = sent["btcusdt@depth@100ms"]
    assert diffs
    assert all(later["U"] == earlier["u"] + 1 for earlier, later in itertools.pairwise(diffs))
    assert diffs[-1]["b"] == [["30000.00000000", "0.00200000"]]
    assert diffs[-1]["u"] == sent["btcusdt@bookTicker"][-1]["u"]


def test_klines_go_out_in_the_bucket_the_trades_fell_in_and_once_more_when_it_closes() -> None:
    """A trade at 00:00:59 reported at 00:01:00.3 is in the first minute's kline, already
    closed; the hour's kline goes out open, and final when the hour is over."""
    names = ("btcusdt@kline_1m", "btcusdt@kline_1h")
    publishers: list[StreamPublisher] = []

    def start(flow: Flow, hub: Hub) -> None:
        depth, live = DepthBook(), LiveMarketData()
        publisher = StreamPublisher(flow.view, depth, live, hub, UserDataSubscriptions())
        for reader in (depth.on_view, live.on_view, publisher.on_view):
            flow.view.subscribe(reader)
        publishers.append(publisher)  # not started: the test calls its seconds itself

    def scenario(flow: Flow) -> None:
        open_market(flow)
        flow.commit(limit("alice", "BUY", 300, 59))
        flow.commit(limit("bob", "SELL", 100, 59))
        (publisher,) = publishers
        publisher.every_second(60 * SECOND + SECOND // 3)
        publisher.every_second(3_600 * SECOND + SECOND // 2)  # no trade since: the hour closes

    sent = collected({name: [stream_key(name, combined=True)] for name in names}, start, scenario)
    figures = ("30000.00000000",) * 4 + ("0.00100000", "30.00000000", 1)

    def shape(message: dict[str, Any]) -> tuple[Any, ...]:
        k = message["data"]["k"]
        return (k["i"], k["t"], k["T"], k["o"], k["h"], k["l"], k["c"], k["v"], k["q"], k["n"], k["x"])

    assert [shape(m) for m in sent["btcusdt@kline_1m"]] == [("1m", 0, 59_999, *figures, True)]
    assert [shape(m) for m in sent["btcusdt@kline_1h"]] == [
        ("1h", 0, 3_599_999, *figures, False),
        ("1h", 0, 3_599_999, *figures, True),
    ]
    assert [m["data"]["E"] for m in sent["btcusdt@kline_1h"]] == [60_333, 3_600_500]
