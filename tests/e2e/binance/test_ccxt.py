"""Unmodified ccxt (REST) against the Binance-compatible API, on each database.

Each scenario script runs once per database (module fixtures) and reports what ccxt
returned; the tests below check one behaviour each against that report. Markets are
fresh: tick 0.01, step 0.001, min notional 1, maker fee 0.1%, taker fee 0.2% (in USDT).
"""

import itertools
from typing import Any

import pytest

from tests.e2e.binance.conftest import Binance
from tests.e2e.client import QUOTE

# -- market data ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def market_data(binance: Binance) -> dict[str, Any]:
    native, market_id, symbol = binance.market()
    base = native.split("-")[0]
    maker = binance.account("maker", {base: "10", QUOTE: "1000"})
    taker = binance.account("taker", {QUOTE: "1000"})
    report = binance.ccxt("scenario_market_data.py", symbol, [maker, taker])
    report["expected"] = {
        "native": native,
        "id": market_id,
        "symbol": symbol,
        "base": base,
        "sequence": binance.api.depth(native)["sequence"],
    }
    return report


def test_load_markets_describes_the_market_as_spot_with_its_filters(market_data: dict[str, Any]) -> None:
    market, expected = market_data["market"], market_data["expected"]
    assert market["id"] == expected["id"]
    assert market["symbol"] == expected["symbol"]
    assert (market["base"], market["quote"]) == (expected["base"], QUOTE)
    assert (market["type"], market["spot"], market["active"]) == ("spot", True, True)
    assert market["precision"]["amount"] == 0.001
    assert market["precision"]["price"] == 0.01
    assert market["limits"]["amount"] == {"min": 0.001, "max": 1000.0}
    assert market["limits"]["price"] == {"min": 0.01, "max": 1000000.0}
    assert market["limits"]["cost"]["min"] == 1.0


def test_fetch_order_book_shows_committed_levels_and_the_depth_sequence(market_data: dict[str, Any]) -> None:
    book = market_data["book"]
    assert book["bids"] == [[99.0, 0.5]]
    assert book["asks"] == [[100.0, 0.4], [101.0, 1.0]]
    assert book["nonce"] == market_data["expected"]["sequence"]


def test_fetch_trades_lists_the_trades_oldest_first(market_data: dict[str, Any]) -> None:
    trades = market_data["trades"]
    assert [(t["price"], t["amount"], t["side"]) for t in trades] == [
        (100.0, 0.4, "buy"),
        (100.0, 0.2, "buy"),
    ]
    assert int(trades[0]["id"]) < int(trades[1]["id"])


def test_fetch_ohlcv_sums_the_trades_into_candles(market_data: dict[str, Any]) -> None:
    candles = market_data["candles"]
    assert candles, candles
    assert all(candle[1:5] == [100.0, 100.0, 100.0, 100.0] for candle in candles)
    assert sum(candle[5] for candle in candles) == pytest.approx(0.6)
    assert all(b[0] - a[0] == 60_000 for a, b in itertools.pairwise(candles))


def test_fetch_ticker_reports_24h_statistics_and_the_top_of_book(market_data: dict[str, Any]) -> None:
    ticker = market_data["ticker"]
    assert ticker["symbol"] == market_data["expected"]["symbol"]
    assert (ticker["open"], ticker["high"], ticker["low"], ticker["last"]) == (100.0, 100.0, 100.0, 100.0)
    assert (ticker["bid"], ticker["ask"]) == (99.0, 100.0)
    assert ticker["baseVolume"] == pytest.approx(0.6)
    assert ticker["quoteVolume"] == pytest.approx(60.0)


def test_fetch_tickers_covers_every_market(market_data: dict[str, Any]) -> None:
    assert market_data["expected"]["symbol"] in market_data["tickers"]
    assert "BTC/USDT" in market_data["tickers"]


# -- trading ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trading(binance: Binance) -> dict[str, Any]:
    native, _, symbol = binance.market()
    base = native.split("-")[0]
    trader = binance.account("trader", {QUOTE: "1000", base: "1"})
    counterparty = binance.account("counterparty", {base: "10"})
    return binance.ccxt("scenario_trading.py", symbol, [trader, counterparty])


def test_fetch_balance_shows_free_used_and_total(trading: dict[str, Any]) -> None:
    before = trading["balance_before"]
    assert before[QUOTE] == {"free": 1000.0, "used": 0.0, "total": 1000.0}
    assert [v for k, v in before.items() if k != QUOTE] == [{"free": 1.0, "used": 0.0, "total": 1.0}]


def test_a_limit_order_that_crosses_fills_with_its_trade_and_fee(trading: dict[str, Any]) -> None:
    order = trading["limit"]
    assert (order["type"], order["side"], order["status"]) == ("limit", "buy", "closed")
    assert (order["amount"], order["filled"], order["price"], order["cost"]) == (0.5, 0.5, 100.0, 50.0)
    assert order["trades"] == 1
    assert order["fee"] == {"currency": QUOTE, "cost": 0.1}  # taker 0.2%


def test_a_market_order_by_amount_fills_that_amount(trading: dict[str, Any]) -> None:
    order = trading["market_amount"]
    assert (order["type"], order["status"], order["filled"], order["cost"]) == ("market", "closed", 0.3, 30.0)


def test_a_market_order_by_cost_spends_at_most_that_much_quote(trading: dict[str, Any]) -> None:
    # 20 USDT pays for 0.199 at 100 plus the 0.2% fee (0.2 would cost 20.04).
    order = trading["market_cost"]
    assert (order["type"], order["status"], order["filled"], order["cost"]) == (
        "market",
        "closed",
        0.199,
        19.9,
    )
    assert order["cost"] + order["fee"]["cost"] <= 20


def test_a_post_only_order_rests_as_limit_maker(trading: dict[str, Any]) -> None:
    order = trading["post_only"]
    assert (order["type"], order["status"], order["postOnly"], order["raw_type"]) == (
        "limit",
        "open",
        True,
        "LIMIT_MAKER",
    )


def test_an_ioc_order_expires_what_it_cannot_fill_at_once(trading: dict[str, Any]) -> None:
    unfilled, partial = trading["ioc_unfilled"], trading["ioc_partial"]
    assert (unfilled["status"], unfilled["filled"], unfilled["timeInForce"]) == ("expired", 0.0, "IOC")
    assert (partial["status"], partial["filled"], partial["raw_status"]) == ("expired", 1.001, "EXPIRED")


def test_a_stop_limit_order_waits_for_its_trigger(trading: dict[str, Any]) -> None:
    order = trading["stop_limit"]
    assert (order["status"], order["raw_type"], order["triggerPrice"], order["price"]) == (
        "open",
        "STOP_LOSS_LIMIT",
        85.0,
        80.0,
    )
    fetched = trading["fetched_stop"]
    assert (fetched["status"], fetched["triggerPrice"], fetched["raw_type"]) == (
        "open",
        85.0,
        "STOP_LOSS_LIMIT",
    )


def test_fetch_order_returns_the_order_as_placed(trading: dict[str, Any]) -> None:
    fetched, placed = trading["fetched_post_only"], trading["post_only"]
    assert fetched["id"] == placed["id"]
    assert fetched["clientOrderId"] == placed["clientOrderId"]
    assert (fetched["status"], fetched["price"], fetched["amount"], fetched["postOnly"]) == (
        "open",
        90.0,
        0.1,
        True,
    )


def test_fetch_open_orders_lists_resting_orders_and_pending_stops(trading: dict[str, Any]) -> None:
    assert trading["open_before"] == sorted([trading["post_only"]["id"], trading["stop_limit"]["id"]])


def test_cancel_order_and_cancel_all_orders_leave_nothing_open(trading: dict[str, Any]) -> None:
    assert (trading["cancelled"]["id"], trading["cancelled"]["status"]) == (
        trading["post_only"]["id"],
        "canceled",
    )
    assert [(o["id"], o["status"]) for o in trading["cancel_all"]] == [
        (trading["stop_limit"]["id"], "canceled")
    ]
    assert trading["open_after"] == []


def test_fetch_orders_lists_every_order_with_its_final_status(trading: dict[str, Any]) -> None:
    statuses = [(o["id"], o["status"]) for o in trading["all_orders"]]
    placed = [
        "limit",
        "market_amount",
        "market_cost",
        "post_only",
        "ioc_unfilled",
        "ioc_partial",
        "stop_limit",
    ]
    final = {"post_only": "canceled", "stop_limit": "canceled"}
    expected = [(trading[name]["id"], final.get(name, trading[name]["status"])) for name in placed]
    assert statuses == expected


def test_fetch_my_trades_lists_every_fill_with_its_fee(trading: dict[str, Any]) -> None:
    trades = trading["my_trades"]
    assert [(t["amount"], t["price"], t["side"], t["takerOrMaker"]) for t in trades] == [
        (0.5, 100.0, "buy", "taker"),
        (0.3, 100.0, "buy", "taker"),
        (0.199, 100.0, "buy", "taker"),
        (1.001, 100.0, "buy", "taker"),
    ]
    assert [t["fee"] for t in trades] == [
        {"currency": QUOTE, "cost": cost} for cost in (0.1, 0.06, 0.0398, 0.2002)
    ]
    assert [t["order"] for t in trades] == [
        trading[name]["id"] for name in ("limit", "market_amount", "market_cost", "ioc_partial")
    ]


def test_balances_after_trading_account_for_every_fill_and_fee(trading: dict[str, Any]) -> None:
    after = trading["balance_after"]
    assert after[QUOTE]["free"] == pytest.approx(1000 - 200 * 1.002)
    assert after[QUOTE]["used"] == 0.0
    assert [v for k, v in after.items() if k != QUOTE] == [{"free": 3.0, "used": 0.0, "total": 3.0}]


# -- errors --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def errors(binance: Binance) -> dict[str, str]:
    native, _, symbol = binance.market()
    base = native.split("-")[0]
    poor = binance.account("poor", {QUOTE: "10"})
    maker = binance.account("maker", {base: "10"})
    reader = binance.account("reader", {QUOTE: "100"}, permissions=("read",))
    return binance.ccxt("scenario_errors.py", symbol, [poor, maker, reader])


@pytest.mark.parametrize(
    ("case", "exception"),
    [
        ("insufficient_funds", "InsufficientFunds"),
        ("fetch_unknown_order", "OrderNotFound"),
        ("cancel_unknown_order", "OrderNotFound"),
        ("bad_signature", "AuthenticationError"),
        ("unknown_key", "AuthenticationError"),
        ("read_only_key_trading", "AuthenticationError"),
        ("read_only_key_reading", "none"),
        ("unknown_symbol_server", "BadSymbol"),
        ("unknown_symbol_client", "BadSymbol"),
        ("off_step_amount", "InvalidOrder"),
        ("off_tick_price", "InvalidOrder"),
        ("below_min_notional", "BadRequest"),  # as against Binance: "Filter failure: NOTIONAL"
        ("post_only_would_take", "OrderImmediatelyFillable"),
        ("stale_timestamp", "InvalidNonce"),
        ("bad_interval", "BadRequest"),
    ],
)
def test_ccxt_raises_the_matching_exception(errors: dict[str, str], case: str, exception: str) -> None:
    assert errors[case] == exception


# -- take-profit -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def take_profit(binance: Binance) -> dict[str, Any]:
    native, _, symbol = binance.market()
    base = native.split("-")[0]
    trader = binance.account("tp-trader", {QUOTE: "1000", base: "1"})
    counterparty = binance.account("tp-counterparty", {base: "10"})
    mover = binance.account("tp-mover", {QUOTE: "1000"})
    return binance.ccxt("scenario_take_profit.py", symbol, [trader, counterparty, mover])


def test_take_profit_orders_placed_through_ccxt_wait_for_their_trigger(take_profit: dict[str, Any]) -> None:
    buy, sell = take_profit["buy_pending"], take_profit["sell_pending"]
    assert (buy["status"], buy["raw_type"], buy["side"], buy["price"], buy["amount"]) == (
        "open",
        "TAKE_PROFIT_LIMIT",
        "buy",
        95.5,
        0.2,
    )
    assert (buy["triggerPrice"], buy["takeProfitPrice"], buy["timeInForce"]) == (95.0, 95.0, "GTC")
    # ccxt's takeProfitPrice on a market order becomes Binance's TAKE_PROFIT.
    assert (sell["status"], sell["raw_type"], sell["side"], sell["amount"]) == (
        "open",
        "TAKE_PROFIT",
        "sell",
        0.1,
    )
    assert (sell["triggerPrice"], sell["takeProfitPrice"]) == (105.0, 105.0)
    assert take_profit["buy_placed"]["id"] == buy["id"]
    assert take_profit["open_before"] == sorted([buy["id"], sell["id"]])
    assert take_profit["quote_used_while_pending"] == pytest.approx(0.2 * 95.5 * 1.002)


def test_a_take_profit_limit_buy_fires_and_fills_when_the_price_falls(take_profit: dict[str, Any]) -> None:
    fired = take_profit["buy_fired"]
    assert (fired["status"], fired["filled"], fired["average"], fired["cost"]) == ("closed", 0.2, 95.0, 19.0)
    # The fall leaves the sell take-profit (which fires on a rise) waiting.
    assert take_profit["sell_after_fall"]["status"] == "open"


def test_a_take_profit_sell_fires_when_the_price_rises_and_sells_at_market(
    take_profit: dict[str, Any],
) -> None:
    fired = take_profit["sell_fired"]
    assert (fired["status"], fired["filled"], fired["average"]) == ("closed", 0.1, 104.0)
    assert take_profit["open_after"] == []
    trades = [(t["order"], t["side"], t["price"], t["amount"]) for t in take_profit["my_trades"]]
    assert trades == [
        (take_profit["buy_placed"]["id"], "buy", 95.0, 0.2),
        (take_profit["sell_placed"]["id"], "sell", 104.0, 0.1),
    ]
