"""Rendering engine integers as API values (decimal strings, millisecond times)."""

from collections.abc import Mapping, Sequence
from typing import Any

from trade_engine.api.schemas import (
    BalanceView,
    CandleView,
    Fill,
    FillView,
    MarketView,
    OrderView,
    TickerView,
    TradeView,
)
from trade_engine.domain.errors import ErrorCode, TradeEngineError
from trade_engine.domain.market import Market, asset_text
from trade_engine.domain.timestamps import NS_PER_MS, ms
from trade_engine.domain.vocabulary import FEE_SCALE
from trade_engine.engine import (
    Balance,
    Event,
    OrderAccepted,
    OrderCancelled,
    OrderExpired,
    OrderFilled,
    TradeExecuted,
)
from trade_engine.engine.order import Order
from trade_engine.marketdata.candles import Candle, Ticker


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


def _fee_rate(rate: int) -> str:
    whole, part = divmod(rate, FEE_SCALE)
    return f"{whole}.{part:06d}"


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
        maker_fee=_fee_rate(market.maker_fee),
        taker_fee=_fee_rate(market.taker_fee),
        stp_mode=market.stp_mode,
    )


def balance_view(asset: str, decimals: int, balance: Balance) -> BalanceView:
    return BalanceView(
        asset=asset,
        available=asset_text(balance.available, decimals),
        locked=asset_text(balance.locked, decimals),
        total=asset_text(balance.available + balance.locked, decimals),
    )


def _status(terminal: Event | None, executed: int) -> tuple[str, str | None]:
    if isinstance(terminal, OrderFilled):
        return "FILLED", None
    if isinstance(terminal, OrderCancelled):
        return "CANCELED", terminal.reason
    if isinstance(terminal, OrderExpired):
        status = "EXPIRED_IN_MATCH" if terminal.reason == "SELF_TRADE_PREVENTION" else "EXPIRED"
        return status, terminal.reason
    return ("PARTIALLY_FILLED" if executed else "NEW"), None


def order_from_events(events: Sequence[Event], market: Market) -> OrderView:
    """The order a place command created, as its events describe it."""
    accepted = next(e for e in events if isinstance(e, OrderAccepted))
    order_id = accepted.order_id
    fills: list[Fill] = []
    executed = filled_quote = fee = 0
    terminal: Event | None = None
    updated = accepted.ts
    for event in events:
        if isinstance(event, TradeExecuted) and order_id in (event.maker_order_id, event.taker_order_id):
            taker = event.taker_order_id == order_id
            trade_fee = event.taker_fee if taker else event.maker_fee
            executed += event.quantity
            filled_quote += event.quote_amount
            fee += trade_fee
            updated = event.ts
            fills.append(
                Fill(
                    trade_id=event.trade_id,
                    price=market.price_text(event.price),
                    quantity=market.quantity_text(event.quantity),
                    quote_amount=market.quote_text(event.quote_amount),
                    fee=market.quote_text(trade_fee),
                    fee_asset=market.quote,
                    role="TAKER" if taker else "MAKER",
                    time=ms(event.ts),
                )
            )
        elif isinstance(event, OrderFilled | OrderCancelled | OrderExpired) and event.order_id == order_id:
            terminal = event
    status, reason = _status(terminal, executed)
    return OrderView(
        order_id=order_id,
        client_order_id=accepted.client_order_id,
        market=accepted.market,
        side=accepted.side,
        type=accepted.order_type,
        time_in_force=accepted.time_in_force,
        status=status,
        reason=reason,
        price=market.price_text(accepted.price) if accepted.price else None,
        stop_price=market.price_text(accepted.stop_price) if accepted.stop_price else None,
        quantity=market.quantity_text(accepted.quantity) if accepted.quantity else None,
        quote_quantity=market.quote_text(accepted.quote_quantity) if accepted.quote_quantity else None,
        executed_quantity=market.quantity_text(executed),
        executed_quote=market.quote_text(filled_quote),
        fee=market.quote_text(fee),
        fee_asset=market.quote,
        post_only=accepted.post_only,
        stp_mode=accepted.stp_mode,
        created_at=ms(accepted.ts),
        updated_at=ms(updated),
        fills=fills,
    )


def order_from_cancel(order: Order, cancelled: OrderCancelled, market: Market) -> OrderView:
    """A cancelled order: fixed terms from the open order, final state from the event."""
    return OrderView(
        order_id=order.id,
        client_order_id=order.client_order_id,
        market=order.market,
        side=order.side,
        type=order.order_type,
        time_in_force=order.time_in_force,
        status="CANCELED",
        reason=cancelled.reason,
        price=market.price_text(cancelled.price) if cancelled.price else None,
        stop_price=market.price_text(order.stop_price) if order.stop_price else None,
        quantity=market.quantity_text(cancelled.quantity) if cancelled.quantity else None,
        quote_quantity=market.quote_text(order.quote_quantity) if order.quote_quantity else None,
        executed_quantity=market.quantity_text(cancelled.executed),
        executed_quote=market.quote_text(cancelled.filled_quote),
        fee=market.quote_text(cancelled.fee),
        fee_asset=market.quote,
        post_only=order.post_only,
        stp_mode=order.stp_mode,
        created_at=ms(order.created_ts),
        updated_at=ms(cancelled.ts),
    )


def order_from_row(row: Mapping[str, Any], market: Market) -> OrderView:
    return OrderView(
        order_id=row["id"],
        client_order_id=row["client_order_id"],
        market=row["market"],
        side=row["side"],
        type=row["order_type"],
        time_in_force=row["time_in_force"],
        status=row["status"],
        reason=row["reason"],
        price=market.price_text(row["price"]) if row["price"] else None,
        stop_price=market.price_text(row["stop_price"]) if row["stop_price"] else None,
        quantity=market.quantity_text(row["quantity"]) if row["quantity"] else None,
        quote_quantity=market.quote_text(row["quote_quantity"]) if row["quote_quantity"] else None,
        executed_quantity=market.quantity_text(row["executed"]),
        executed_quote=market.quote_text(row["filled_quote"]),
        fee=market.quote_text(row["fee_paid"]),
        fee_asset=market.quote,
        post_only=bool(row["post_only"]),
        stp_mode=row["stp_mode"],
        created_at=ms(row["created_ts"]),
        updated_at=ms(row["updated_ts"]),
    )


def fill_from_row(row: Mapping[str, Any], market: Market) -> FillView:
    """A fill row of `reads.fill_rows`: one side of a trade."""
    side = row["side"]
    taker = row["taker_side"] == side
    return FillView(
        trade_id=row["id"],
        order_id=row["taker_order_id"] if taker else row["maker_order_id"],
        market=row["market"],
        side=side,
        role="TAKER" if taker else "MAKER",
        price=market.price_text(row["price"]),
        quantity=market.quantity_text(row["quantity"]),
        quote_amount=market.quote_text(row["quote_amount"]),
        fee=market.quote_text(row["taker_fee"] if taker else row["maker_fee"]),
        fee_asset=market.quote,
        time=ms(row["ts"]),
    )


def trade_from_row(row: Mapping[str, Any], market: Market) -> TradeView:
    return TradeView(
        trade_id=row["id"],
        price=market.price_text(row["price"]),
        quantity=market.quantity_text(row["quantity"]),
        quote_amount=market.quote_text(row["quote_amount"]),
        taker_side=row["taker_side"],
        time=ms(row["ts"]),
    )


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
        change = (
            price(ticker.last - ticker.open)
            if ticker.last >= ticker.open
            else "-" + market.price_text(ticker.open - ticker.last)
        )
        # Percent to two places, rounded half away from zero (display only).
        hundredths = (abs(ticker.last - ticker.open) * 20_000 + ticker.open) // (2 * ticker.open)
        sign = "-" if ticker.last < ticker.open else ""
        change_percent = f"{sign}{hundredths // 100}.{hundredths % 100:02d}"
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
