"""The renderers format read models and nothing more: one order, its fills and its
changes, rendered for the native REST and WebSocket APIs and for Binance's REST and
user-data stream, with every figure exact and every status from the lifecycle table."""

from trade_engine.api import views
from trade_engine.binance import order_views
from trade_engine.binance import tickers as binance_tickers
from trade_engine.binance import views as binance_views
from trade_engine.domain.lifecycle import OrderChange
from trade_engine.domain.market import MarketSpec, market_from_spec
from trade_engine.engine import AddMarket, CancelOrder, Deposit, Engine, Event, PlaceOrder
from trade_engine.marketdata.candles import Candle, Ticker
from trade_engine.marketdata.depth import MarketDepth
from trade_engine.readmodel.orders import OpenOrders, finished, placed

MARKET = market_from_spec(
    MarketSpec(symbol="BTC-USDT", tick_size="0.01", step_size="0.001", maker_fee="0.001", taker_fee="0.002")
)
SECOND = 1_000_000_000
T0 = 1_767_225_600 * SECOND  # 2026-01-01


def setup() -> tuple[Engine, OpenOrders]:
    engine = Engine()
    engine.apply(AddMarket(ts=T0, market=MARKET))
    engine.apply(Deposit(ts=T0, user_id="maker", asset="BTC", amount=10**8))
    engine.apply(Deposit(ts=T0, user_id="taker", asset="USDT", amount=1000 * 10**8))
    return engine, OpenOrders()


def sell(engine: Engine, orders: OpenOrders) -> list[Event]:
    command = PlaceOrder(
        ts=T0 + SECOND, user_id="maker", market="BTC-USDT", side="SELL", price=3000, quantity=500,
        client_order_id="m-1",
    )  # fmt: skip
    events = engine.apply(command)
    orders.apply(events)
    return events


def buy(engine: Engine, orders: OpenOrders, quantity: int = 200) -> list[Event]:
    command = PlaceOrder(
        ts=T0 + 2 * SECOND, user_id="taker", market="BTC-USDT", side="BUY", price=3000, quantity=quantity,
        client_order_id="t-1",
    )  # fmt: skip
    return engine.apply(command)


def test_a_filled_order_renders_the_same_totals_in_every_api() -> None:
    engine, orders = setup()
    sell(engine, orders)
    events = buy(engine, orders)
    updates, _ = orders.apply(events)
    order, fills = placed(events)
    native = views.order_view(order, MARKET, fills)
    assert (native.status, native.executed_quantity, native.executed_quote, native.fee) == (
        "FILLED", "0.200", "6.00000000", "0.01200000",
    )  # fmt: skip
    assert native.fills is not None
    assert (native.fills[0].role, native.fills[0].price, native.fills[0].fee) == (
        "TAKER",
        "30.00",
        "0.01200000",
    )
    binance = order_views.new_order(order, fills, MARKET, "FULL")
    assert {k: binance[k] for k in ("status", "executedQty", "cummulativeQuoteQty", "origQty")} == {
        "status": "FILLED", "executedQty": "0.20000000", "cummulativeQuoteQty": "6.00000000",
        "origQty": "0.20000000",
    }  # fmt: skip
    assert binance["fills"] == [
        {"price": "30.00000000", "qty": "0.20000000", "commission": "0.01200000", "commissionAsset": "USDT",
         "tradeId": 1},
    ]  # fmt: skip
    # The maker's side of the same trade: partly filled, a maker fill, still open.
    (maker_trade,) = [u for u in updates if u.order.user_id == "maker"]
    assert maker_trade.change is OrderChange.TRADE
    stream = views.order_update(maker_trade, MARKET)
    assert (stream.status, stream.executed_quantity, stream.fee) == (
        "PARTIALLY_FILLED",
        "0.200",
        "0.00600000",
    )
    assert stream.trade is not None
    assert stream.trade.role == "MAKER"
    report = order_views.execution_report(maker_trade, MARKET, 7, 123)
    assert report is not None
    assert {k: report[k] for k in ("x", "X", "l", "z", "L", "n", "m", "I", "w", "c")} == {
        "x": "TRADE", "X": "PARTIALLY_FILLED", "l": "0.20000000", "z": "0.20000000", "L": "30.00000000",
        "n": "0.00600000", "m": True, "I": 7, "w": True, "c": "m-1",
    }  # fmt: skip


def test_the_fill_that_completes_an_order_reports_it_filled_and_the_fill_itself_sends_none() -> None:
    engine, orders = setup()
    sell(engine, orders)
    updates, _ = orders.apply(buy(engine, orders, quantity=500))
    maker = [u for u in updates if u.order.user_id == "maker"]
    assert [u.change for u in maker] == [OrderChange.TRADE, OrderChange.FILLED]
    assert maker[0].completes
    trade_report = order_views.execution_report(maker[0], MARKET, 1, 0)
    assert trade_report is not None
    assert (trade_report["x"], trade_report["X"], trade_report["w"]) == ("TRADE", "FILLED", False)
    assert order_views.execution_report(maker[1], MARKET, 2, 0) is None


def test_a_cancelled_order_is_rendered_from_its_model_and_its_cancellation() -> None:
    engine, orders = setup()
    sell(engine, orders)
    order = orders.find("maker", None, "m-1")
    assert order is not None
    cancel = engine.apply(CancelOrder(ts=T0 + 3 * SECOND, user_id="maker", order_id=order.order_id))
    (update,) = [u for u in orders.apply(cancel)[0] if u.change is OrderChange.CANCELED]
    done = finished(order, cancel[0])  # type: ignore[arg-type]
    assert done == update.order
    native = views.order_view(done, MARKET)
    assert (native.status, native.reason, native.updated_at) == (
        "CANCELED",
        "USER",
        1_767_225_603_000,
    )
    body = order_views.cancelled(done, MARKET, "new-id")
    assert (body["status"], body["origClientOrderId"], body["clientOrderId"], body["origQty"]) == (
        "CANCELED", "m-1", "new-id", "0.50000000",
    )  # fmt: skip
    assert orders.find("maker", None, "m-1") is None


def test_binance_tickers_and_klines_render_the_live_aggregates() -> None:
    ticker = Ticker(
        open_ts=T0, close_ts=T0 + 86_400 * SECOND, open=3000, high=3100, low=2950, last=3050, volume=1500,
        quote_volume=45_500 * 10**8 // 1000, trades=3, first_id=4, last_id=6, last_quantity=500,
        previous_close=2990,
    )  # fmt: skip
    depth = MarketDepth()
    depth.bids[3040], depth.asks[3060] = 100, 200
    body = binance_tickers.day_ticker(MARKET, ticker, depth, T0 + 5 * SECOND)
    fields = ("lastPrice", "lastQty", "priceChange", "priceChangePercent", "prevClosePrice")
    assert {k: body[k] for k in fields} == {
        "lastPrice": "30.50000000", "lastQty": "0.50000000", "priceChange": "0.50000000",
        "priceChangePercent": "1.667", "prevClosePrice": "29.90000000",
    }  # fmt: skip
    assert (body["bidPrice"], body["askQty"], body["firstId"], body["lastId"], body["count"]) == (
        "30.40000000", "0.20000000", 4, 6, 3,
    )  # fmt: skip
    empty = binance_tickers.day_ticker(MARKET, Ticker(T0, T0, None, None, None, None, 0, 0, 0), depth, T0)
    assert (empty["lastPrice"], empty["firstId"], empty["count"]) == ("0.00000000", -1, 0)
    candle = Candle(T0, 60 * SECOND, 3000, 3100, 2950, 3050, 1500, 45_500_000, 3, 1000, 30_000_000, 4, 6)
    assert binance_views.kline(candle, MARKET) == [
        1_767_225_600_000, "30.00000000", "31.00000000", "29.50000000", "30.50000000", "1.50000000",
        1_767_225_659_999, "0.45500000", 3, "1.00000000", "0.30000000", "0",
    ]  # fmt: skip
