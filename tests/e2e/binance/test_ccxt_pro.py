"""Unmodified ccxt.pro against the market streams and the WebSocket API user-data stream."""

from typing import Any

import pytest

from tests.e2e.binance.conftest import Binance
from tests.e2e.client import QUOTE


@pytest.fixture(scope="module")
def streams(binance: Binance) -> dict[str, Any]:
    native, _, symbol = binance.market()
    base = native.split("-")[0]
    funds = {QUOTE: "100000", base: "1000"}
    first, second = binance.account("alice", funds), binance.account("bob", funds)
    return binance.ccxt("scenario_streams.py", symbol, [first, second], seed=11)


def test_watch_order_book_stays_consistent_through_a_random_flow(streams: dict[str, Any]) -> None:
    book = streams["book"]
    assert book["errors"] == []
    assert book["updates"] > 0
    assert book["stream_nonce"] == book["snapshot_nonce"]
    assert book["stream_bids"] == book["snapshot_bids"]
    assert book["stream_asks"] == book["snapshot_asks"]
    assert book["stream_bids"], "the flow leaves bids resting"


def test_watch_trades_delivers_public_trades(streams: dict[str, Any]) -> None:
    trades = streams["trades"]
    assert trades
    assert {(t["price"], t["amount"], t["side"]) for t in trades} == {(100.0, 0.05, "sell")}


def test_watch_orders_delivers_new_and_filled_orders(streams: dict[str, Any]) -> None:
    # Orders placed before the subscription took effect are not reported, later ones are.
    new = streams["orders_new"]
    assert new
    assert {o["id"] for o in new} <= set(streams["placed"])
    assert {(o["status"], o["price"], o["amount"]) for o in new} == {("open", 60.0, 0.05)}
    filled = streams["orders_filled"]
    assert filled
    assert {(o["status"], o["filled"]) for o in filled} == {("closed", 0.05)}
    assert {o["id"] for o in filled} <= set(streams["placed"])


def test_watch_balance_matches_the_rest_balance(streams: dict[str, Any]) -> None:
    for asset, views in streams["balance"].items():
        assert views["stream"] == views["rest"], asset


def test_watch_tickers_of_every_market_and_a_ticker_whose_best_bid_moved(
    streams: dict[str, Any], binance: Binance
) -> None:
    # watch_tickers() without symbols subscribes `!miniTicker@arr` (it was refused).
    assert list(streams["tickers"].values()) == [{"last": 100.0}]
    # watch_ticker's `@ticker` after bids that moved the best bid and no trade (it went
    # out only for trades, and its bid and ask went stale).
    ticker = streams["ticker"]
    assert ticker is not None, "no @ticker came for a moved best bid"
    assert (ticker["bid"], ticker["last"]) == (ticker["best"], 100.0)
