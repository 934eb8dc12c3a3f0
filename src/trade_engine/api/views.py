"""The native API's renderers: read models (engine integers) as its wire views, REST and
WebSocket alike (decimal strings by the market's conversions, millisecond times)."""

from collections.abc import Mapping, Sequence
from typing import Any

from msgspec import UNSET

from trade_engine.api.schemas import (
    BalanceView,
    CandleView,
    Fill,
    FillView,
    MarketView,
    OrderUpdateView,
    OrderView,
    TickerView,
    TradeView,
)
from trade_engine.domain.errors import ErrorCode, TradeEngineError
from trade_engine.domain.lifecycle import OrderChange, ends
from trade_engine.domain.market import Market, asset_text, fee_rate_text
from trade_engine.domain.money import percent_text
from trade_engine.domain.timestamps import NS_PER_MS, ms
from trade_engine.engine import Balance
from trade_engine.marketdata.candles import Candle, Ticker
from trade_engine.readmodel.orders import FillModel, OrderModel, OrderUpdate, fill_of_row
from trade_engine.readmodel.trades import TradeModel, trade_of_row


def time_range(start_ms: int | None, end_ms: int | None) -> tuple[int | None, int | None]:
    """A query's [start, end) in milliseconds, as nanoseconds; refused if it runs backwards."""
    if start_ms is not None and end_ms is not None and end_ms < start_ms:
        raise TradeEngineError(ErrorCode.VALIDATION_ERROR, "end_time must not be before start_time")
    return (
        None if start_ms is None else start_ms * NS_PER_MS,
        None if end_ms is None else end_ms * NS_PER_MS,
    )


def asset_amount(units: int, decimals: int) -> str:
    return asset_text(units, decimals)


def market_view(market: Market) -> MarketView:
    return MarketView(
        symbol=market.symbol,
        base=market.base,
        quote=market.quote,
        status=market.status,
        tick_size=market.tick_size,
        step_size=market.step_size,
        min_price=market.price_text(market.min_price),
        max_price=market.price_text(market.max_price),
        min_quantity=market.quantity_text(market.min_quantity),
        max_quantity=market.quantity_text(market.max_quantity),
        min_notional=market.quote_text(market.min_notional),
        maker_fee=fee_rate_text(market.maker_fee),
        taker_fee=fee_rate_text(market.taker_fee),
        stp_mode=market.stp_mode,
    )


def balance_view(asset: str, decimals: int, balance: Balance) -> BalanceView:
    return BalanceView(
        asset=asset,
        available=asset_text(balance.available, decimals),
        locked=asset_text(balance.locked, decimals),
        total=asset_text(balance.available + balance.locked, decimals),
    )


def order_view(order: OrderModel, market: Market, fills: Sequence[FillModel] | None = None) -> OrderView:
    """An order as the REST API shows it (with its fills, for the answer to placing it)."""
    return OrderView(
        order_id=order.order_id,
        client_order_id=order.client_order_id,
        market=order.market,
        side=order.side,
        type=order.order_type,
        time_in_force=order.time_in_force,
        status=order.status,
        reason=order.reason,
        price=market.price_text(order.price) if order.price else None,
        stop_price=market.price_text(order.stop_price) if order.stop_price else None,
        quantity=market.quantity_text(order.quantity) if order.quantity else None,
        quote_quantity=market.quote_text(order.quote_quantity) if order.quote_quantity else None,
        executed_quantity=market.quantity_text(order.executed),
        executed_quote=market.quote_text(order.filled_quote),
        fee=market.quote_text(order.fee),
        fee_asset=market.quote,
        post_only=order.post_only,
        stp_mode=order.stp_mode,
        created_at=ms(order.created_ts),
        updated_at=ms(order.updated_ts),
        fills=None if fills is None else [order_fill(fill, market) for fill in fills],
        meta=UNSET if order.meta is None else order.meta,
    )


def order_fill(fill: FillModel, market: Market) -> Fill:
    """A fill as part of its order."""
    return Fill(
        trade_id=fill.trade_id,
        price=market.price_text(fill.price),
        quantity=market.quantity_text(fill.quantity),
        quote_amount=market.quote_text(fill.quote_amount),
        fee=market.quote_text(fill.fee),
        fee_asset=market.quote,
        role=fill.role,  # type: ignore[arg-type]
        time=ms(fill.ts),
    )


def fill_view(fill: FillModel, market: Market) -> FillView:
    """A fill as the user's fills list it."""
    return FillView(
        trade_id=fill.trade_id,
        order_id=fill.order_id,
        market=fill.market,
        side=fill.side,
        role=fill.role,  # type: ignore[arg-type]
        price=market.price_text(fill.price),
        quantity=market.quantity_text(fill.quantity),
        quote_amount=market.quote_text(fill.quote_amount),
        fee=market.quote_text(fill.fee),
        fee_asset=market.quote,
        time=ms(fill.ts),
    )


def order_update(update: OrderUpdate, market: Market) -> OrderUpdateView:
    """One change of an order, as the `orders` WebSocket channel says it: the terms in
    full with NEW, then what changed; the running totals always."""
    order, change = update.order, update.change
    view = OrderUpdateView(
        order_id=order.order_id,
        market=order.market,
        side=order.side,
        event=change,
        status=order.status,
        time=ms(order.updated_ts),
        executed_quantity=market.quantity_text(order.executed),
        executed_quote=market.quote_text(order.filled_quote),
        fee=market.quote_text(order.fee),
        fee_asset=market.quote,
    )
    if change is OrderChange.NEW:
        view.client_order_id = order.client_order_id
        view.type = order.order_type
        view.time_in_force = order.time_in_force
        view.price = market.price_text(order.price) if order.price else None
        view.stop_price = market.price_text(order.stop_price) if order.stop_price else None
        view.quantity = market.quantity_text(order.quantity) if order.quantity else None
        view.quote_quantity = market.quote_text(order.quote_quantity) if order.quote_quantity else None
        view.post_only = order.post_only
        view.stp_mode = order.stp_mode
        view.meta = order.meta
    elif change is OrderChange.TRADE:
        assert update.fill is not None
        view.trade = order_fill(update.fill, market)
    elif change is OrderChange.AMENDED:
        view.price = market.price_text(order.price) if order.price else None
        view.quantity = market.quantity_text(order.quantity)
        view.remaining_quantity = market.quantity_text(update.remaining or 0)
        view.priority_kept = update.priority_kept
    elif ends(change):
        view.reason = order.reason
        if change is not OrderChange.FILLED:
            view.remaining_quantity = market.quantity_text(update.remaining or 0)
    return view


def fill_from_row(row: Mapping[str, Any], market: Market) -> FillView:
    """A fill row of `reads.fill_rows`: one side of a trade."""
    return fill_view(fill_of_row(row), market)


def trade_view(trade: TradeModel, market: Market) -> TradeView:
    return TradeView(
        trade_id=trade.trade_id,
        price=market.price_text(trade.price),
        quantity=market.quantity_text(trade.quantity),
        quote_amount=market.quote_text(trade.quote_amount),
        taker_side=trade.taker_side,
        time=ms(trade.ts),
    )


def trade_from_row(row: Mapping[str, Any], market: Market) -> TradeView:
    return trade_view(trade_of_row(row, market.symbol), market)


def levels(market: Market, pairs: Sequence[tuple[int, int]]) -> list[tuple[str, str]]:
    """Book levels (price ticks, quantity lots) as (price, quantity) text."""
    return [(market.price_text(price), market.quantity_text(quantity)) for price, quantity in pairs]


def candle_view(candle: Candle, market: Market) -> CandleView:
    def price(value: int | None) -> str | None:
        return None if value is None else market.price_text(value)

    return CandleView(
        open_time=ms(candle.open_ts),
        close_time=ms(candle.open_ts + candle.interval) - 1,
        open=price(candle.open),
        high=price(candle.high),
        low=price(candle.low),
        close=price(candle.close),
        volume=market.quantity_text(candle.volume),
        quote_volume=market.quote_text(candle.quote_volume),
        trades=candle.trades,
    )


def ticker_view(ticker: Ticker, market: Market, best_bid: int | None, best_ask: int | None) -> TickerView:
    def price(value: int | None) -> str | None:
        return None if value is None else market.price_text(value)

    change = change_percent = None
    if ticker.open is not None and ticker.last is not None:
        change = market.price_change_text(ticker.last - ticker.open)
        change_percent = percent_text(ticker.last - ticker.open, ticker.open, 2)
    return TickerView(
        market=market.symbol,
        open=price(ticker.open),
        high=price(ticker.high),
        low=price(ticker.low),
        last=price(ticker.last),
        volume=market.quantity_text(ticker.volume),
        quote_volume=market.quote_text(ticker.quote_volume),
        change=change,
        change_percent=change_percent,
        best_bid=price(best_bid),
        best_ask=price(best_ask),
        trades=ticker.trades,
        open_time=ms(ticker.open_ts),
        close_time=ms(ticker.close_ts),
    )
