"""Binance's market streams as binance/streams.py renders them from committed views:
`@trade` and `@aggTrade` per trade, `@bookTicker` when the top changes, and depth
diffs every 100 ms whose `[U, u]` ranges follow one another, each raw or wrapped with
its stream name on a combined connection, every figure exact."""

import itertools
from collections.abc import Callable, Hashable
from typing import Any

from tests.unit.committed_flow import PRICE, Flow, collected, limit, open_market
from tests.unit.helpers import SYMBOL
from trade_engine.binance.outlet import stream_key
from trade_engine.binance.streams import StreamPublisher
from trade_engine.binance.subscriptions import UserDataSubscriptions
from trade_engine.edge.hub import Hub
from trade_engine.engine import PlaceOrder
from trade_engine.marketdata.depth import DepthBook
from trade_engine.marketdata.live import LiveMarketData
from trade_engine.readmodel.views import Defer, at_once

SECOND = 1_000_000_000
MS = 1_000_000
NAMES = ("btcusdt@trade", "btcusdt@aggTrade", "btcusdt@bookTicker", "btcusdt@depth@100ms")


def received(scenario: Callable[[Flow], None], defer: Defer = at_once) -> dict[str, list[dict[str, Any]]]:
    """Frames of one raw connection per stream, and of a combined one on `@trade` (the
    read model's readers get each batch as `defer` says)."""

    def start(flow: Flow, hub: Hub) -> None:
        depth, live = DepthBook(), LiveMarketData()
        publisher = StreamPublisher(flow.view, depth, live, hub, UserDataSubscriptions())
        for reader in (depth.on_view, live.on_view, publisher.on_view):  # the composition root's order
            flow.view.subscribe(reader)
        publisher.start()

    connections: dict[str, list[Hashable]] = {name: [stream_key(name)] for name in NAMES}
    connections["combined"] = [stream_key("btcusdt@trade", combined=True)]
    return collected(connections, start, scenario, settle=0.5, defer=defer)


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


def test_the_timer_streams_carry_every_batch_committed_before_them_though_the_readers_wait() -> None:
    """The composition root hands a batch to the read model's readers in the loop's next
    turn (readmodel/views.py). The streams' timer first hands them what they have not read
    (here the readers' turn never comes), so its depth diffs miss no committed batch."""
    turns: list[Callable[[], None]] = []

    def scenario(flow: Flow) -> None:
        open_market(flow)
        flow.commit(limit("alice", "BUY", 300, 10))

    sent = received(scenario, defer=turns.append)
    diffs = sent["btcusdt@depth@100ms"]
    assert diffs
    assert diffs[-1]["b"] == [["30000.00000000", "0.00300000"]]
    top = sent["btcusdt@bookTicker"][-1]
    assert (top["b"], top["B"], top["u"]) == ("30000.00000000", "0.00300000", diffs[-1]["u"])
    assert len(turns) == 4  # no batch's turn came: the last batch was read by the timer


def publisher_kept(publishers: list[StreamPublisher]) -> Callable[[Flow, Hub], None]:
    """A `start` that subscribes a publisher to the read model, as the composition root
    does, and keeps it in `publishers` (its timer not started: a scenario calls its
    seconds)."""

    def start(flow: Flow, hub: Hub) -> None:
        depth, live = DepthBook(), LiveMarketData()
        publisher = StreamPublisher(flow.view, depth, live, hub, UserDataSubscriptions())
        for reader in (depth.on_view, live.on_view, publisher.on_view):
            flow.view.subscribe(reader)
        publishers.append(publisher)

    return start


def klines_sent(
    names: tuple[str, ...], scenario: Callable[[Flow, StreamPublisher], None]
) -> dict[str, list[tuple[Any, ...]]]:
    """The klines each stream got, as (interval, open time, close time, open, high, low,
    close, volume, quote volume, trades, closed, event time), while `scenario` commits
    and calls the publisher's seconds itself (its timer is not started)."""
    publishers: list[StreamPublisher] = []
    start = publisher_kept(publishers)

    def run(flow: Flow) -> None:
        open_market(flow)
        scenario(flow, publishers[0])

    sent = collected({name: [stream_key(name, combined=True)] for name in names}, start, run)

    def shape(message: dict[str, Any]) -> tuple[Any, ...]:
        k = message["data"]["k"]
        fields = ("i", "t", "T", "o", "h", "l", "c", "v", "q", "n", "x")
        return (*(k[name] for name in fields), message["data"]["E"])

    return {name: [shape(m) for m in messages] for name, messages in sent.items()}


def sell_at(flow: Flow, ts_ns: int) -> None:
    """Bob sells 0.001 BTC into alice's resting bid (placed first), stamped `ts_ns`."""
    flow.commit(PlaceOrder(ts=ts_ns, user_id="bob", market=SYMBOL, side="SELL", price=PRICE, quantity=100))


ONE = ("30000.00000000",) * 4 + ("0.00100000", "30.00000000", 1)  # one trade's figures
TWO = ("30000.00000000",) * 4 + ("0.00200000", "60.00000000", 2)


def test_klines_go_out_in_the_bucket_the_trades_fell_in_and_once_more_when_it_closes() -> None:
    """A trade at 00:00:59 reported at 00:01:00.3 is in the first minute's kline, open
    (a trade stamped before the edge may still be committing); final a second later.
    The hour's kline goes out open, and final once the hour is over."""

    def scenario(flow: Flow, publisher: StreamPublisher) -> None:
        flow.commit(limit("alice", "BUY", 300, 59))
        sell_at(flow, 59 * SECOND)
        publisher.every_second(60 * SECOND + SECOND // 3)
        publisher.every_second(61 * SECOND + SECOND // 2)
        publisher.every_second(3_601 * SECOND + SECOND // 2)  # no trade since: the hour closes

    sent = klines_sent(("btcusdt@kline_1m", "btcusdt@kline_1h"), scenario)
    assert sent["btcusdt@kline_1m"] == [
        ("1m", 0, 59_999, *ONE, False, 60_333),
        ("1m", 0, 59_999, *ONE, True, 61_500),
    ]
    assert sent["btcusdt@kline_1h"] == [
        ("1h", 0, 3_599_999, *ONE, False, 60_333),
        ("1h", 0, 3_599_999, *ONE, True, 3_601_500),
    ]


def test_a_kline_sent_final_is_not_sent_again_for_a_trade_committed_later() -> None:
    """A trade stamped before the edge but committed after the bucket went out final
    (a commit slower than the grace): the REST klines have it, the stream does not
    contradict its final message."""

    def scenario(flow: Flow, publisher: StreamPublisher) -> None:
        flow.commit(limit("alice", "BUY", 300, 58))
        sell_at(flow, 58 * SECOND)
        publisher.every_second(59 * SECOND)
        publisher.every_second(61 * SECOND + SECOND // 2)  # the minute, final
        sell_at(flow, 59 * SECOND + SECOND // 2)  # stamped in it, committed after
        publisher.every_second(62 * SECOND + SECOND // 2)

    sent = klines_sent(("btcusdt@kline_1m", "btcusdt@kline_1h"), scenario)
    assert sent["btcusdt@kline_1m"] == [
        ("1m", 0, 59_999, *ONE, False, 59_000),
        ("1m", 0, 59_999, *ONE, True, 61_500),
    ]
    assert sent["btcusdt@kline_1h"] == [
        ("1h", 0, 3_599_999, *ONE, False, 59_000),
        ("1h", 0, 3_599_999, *TWO, False, 62_500),
    ]


def test_one_second_klines_across_three_buckets_each_go_out_and_each_closes() -> None:
    """Trades in three one-second buckets between two reports (the loop late): each
    bucket goes out, and each goes out final once closed."""

    def scenario(flow: Flow, publisher: StreamPublisher) -> None:
        flow.commit(limit("alice", "BUY", 300, 10))
        publisher.every_second(10 * SECOND + 990 * MS)
        for at in (10 * SECOND + 995 * MS, 11 * SECOND + 500 * MS, 12 * SECOND + 5 * MS):
            sell_at(flow, at)
        publisher.every_second(12 * SECOND + 10 * MS)
        publisher.every_second(13 * SECOND + 500 * MS)
        publisher.every_second(14 * SECOND + 500 * MS)

    (sent,) = klines_sent(("btcusdt@kline_1s",), scenario).values()
    assert [(k[1], k[-2], k[-1]) for k in sent] == [
        (10_000, True, 12_010),
        (11_000, False, 12_010),
        (12_000, False, 12_010),
        (11_000, True, 13_500),
        (12_000, True, 14_500),
    ]
    assert all(k[9] == 1 for k in sent)  # one trade each


def test_tickers_go_out_for_markets_that_traded_or_whose_best_quotes_moved() -> None:
    """`@miniTicker` and `!miniTicker@arr` in a second with a trade; `@ticker` then, and
    in a second when the best bid or ask moved (it shows them), not for a deeper level.
    Once the full ticker went out only for trades, and its bid and ask went stale."""
    names = ("btcusdt@ticker", "btcusdt@miniTicker", "!miniTicker@arr")
    publishers: list[StreamPublisher] = []

    def order(user: str, side: str, price: int) -> PlaceOrder:
        return PlaceOrder(ts=2 * SECOND, user_id=user, market=SYMBOL, side=side, price=price, quantity=100)

    def run(flow: Flow) -> None:
        open_market(flow)
        publisher = publishers[0]
        publisher.every_second(1 * SECOND)  # the market opened: no quote yet
        flow.commit(limit("alice", "BUY", 300, 1))
        publisher.every_second(2 * SECOND)  # a bid
        publisher.every_second(3 * SECOND)  # nothing
        sell_at(flow, 3 * SECOND)
        publisher.every_second(4 * SECOND)  # a trade
        flow.commit(order("bob", "SELL", PRICE + 100_000))
        publisher.every_second(5 * SECOND)  # an ask
        flow.commit(order("alice", "BUY", PRICE - 100_000))
        publisher.every_second(6 * SECOND)  # a bid below the best: no ticker shows it

    sent = collected(
        {name: [stream_key(name, combined=True)] for name in names}, publisher_kept(publishers), run
    )
    full = [
        (m["data"]["E"], m["data"]["b"], m["data"]["B"], m["data"]["a"], m["data"]["n"])
        for m in sent[names[0]]
    ]
    assert full == [
        (2_000, "30000.00000000", "0.00300000", "0.00000000", 0),
        (4_000, "30000.00000000", "0.00200000", "0.00000000", 1),
        (5_000, "30000.00000000", "0.00200000", "31000.00000000", 1),
    ]
    (mini,) = [m["data"] for m in sent[names[1]]]
    assert (mini["e"], mini["E"], mini["s"], mini["c"], mini["v"]) == (
        "24hrMiniTicker", 4_000, "BTCUSDT", "30000.00000000", "0.00100000",
    )  # fmt: skip
    (every,) = sent[names[2]]
    assert every == {"stream": "!miniTicker@arr", "data": [mini]}
