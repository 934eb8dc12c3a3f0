"""The Binance-compatible order and account endpoints (`/api/v3/order` ... `/account`).

Handlers verify signed requests on the raw bytes, convert decimal strings to engine
integers at the edge, submit commands through the same core as the native API and
answer in Binance's shapes and error codes. Orders are rendered from the one order
read model; reads come from committed state (database rows, the read model), never
from the engine's in-flight state.
"""

from typing import Any

from trade_engine.binance import limits, order_views, views
from trade_engine.binance.auth import READ, TRADE
from trade_engine.binance.errors import (
    CLIENT_ORDER_ID_INVALID,
    ORDER_DOES_NOT_EXIST,
    from_engine,
    one_of_mandatory,
    refusal,
    unknown_order,
)
from trade_engine.binance.order_params import client_id_param, new_client_id, place_command, restriction
from trade_engine.binance.params import Params
from trade_engine.binance.requests import market_named, market_of, markets_by_symbol, signed, time_ns
from trade_engine.domain.errors import TradeEngineError
from trade_engine.domain.market import Market
from trade_engine.domain.vocabulary import BUY, MARKET, SELL
from trade_engine.edge.gateway import Gateway
from trade_engine.edge.routes import Call
from trade_engine.engine import CancelAllOrders, CancelOrder, OrderCancelled
from trade_engine.readmodel.orders import OrderModel, fill_of_row, finished, model_of_row, placed


async def new_order(gateway: Gateway, call: Call) -> dict[str, Any]:
    caller, params = await signed(gateway, call, TRADE)
    market = market_of(gateway, params)
    command, response_type = place_command(caller.user_id, market, params)
    limits.count_order(caller.user_id, command.client_order_id)
    try:
        events = await gateway.submit(command)
    except TradeEngineError as error:
        raise from_engine(error, market_order=command.order_type == MARKET) from error
    order, fills = placed(events)
    return order_views.new_order(order, fills, market, response_type)


async def test_order(gateway: Gateway, call: Call) -> dict[str, Any]:
    """Validated as an order and not placed: `{}`, or with `computeCommissionRates` the
    rates its trades would pay."""
    caller, params = await signed(gateway, call, TRADE)
    market = market_of(gateway, params)
    place_command(caller.user_id, market, params)
    return views.order_commissions(market) if params.true("computeCommissionRates") else {}


def _order_reference(params: Params) -> tuple[int | None, str | None]:
    order_id = params.integer("orderId")
    client_order_id = client_id_param(params, "origClientOrderId")
    if order_id is None and client_order_id is None:
        raise one_of_mandatory("origClientOrderId", "orderId")
    return order_id, client_order_id


async def query_order(gateway: Gateway, call: Call) -> dict[str, Any]:
    caller, params = await signed(gateway, call, READ)
    market = market_of(gateway, params)
    order_id, client_order_id = _order_reference(params)
    history = await gateway.history()
    # By its id if sent: an order whose client order id is not the one sent with it is
    # -2039, as Binance answers, not an order that does not exist.
    by_id = order_id is not None
    row = await history.order_row(caller.user_id, order_id, None if by_id else client_order_id)
    if row is None or row["market"] != market.symbol:
        raise refusal(ORDER_DOES_NOT_EXIST)
    if by_id and client_order_id is not None and row["client_order_id"] != client_order_id:
        raise refusal(CLIENT_ORDER_ID_INVALID)
    return order_views.order(model_of_row(row), market)


async def _cancel_one(
    gateway: Gateway,
    user_id: str,
    market: Market,
    order: OrderModel,
    client_order_id: str,
    only_status: str | None = None,
) -> dict[str, Any]:
    command = CancelOrder(
        ts=0,
        user_id=user_id,
        order_id=order.order_id,
        only_status=only_status,
        cancel_request_id=client_order_id,
    )
    try:
        events = await gateway.submit(command)
    except TradeEngineError as error:
        raise from_engine(error, cancelling=True) from error
    cancelled = next(e for e in events if isinstance(e, OrderCancelled))
    return order_views.cancelled(finished(order, cancelled), market, client_order_id)


async def cancel_order(gateway: Gateway, call: Call) -> dict[str, Any]:
    caller, params = await signed(gateway, call, TRADE)
    market = market_of(gateway, params)
    order_id, client_order_id = _order_reference(params)
    cancel_client_id = client_id_param(params, "newClientOrderId") or new_client_id()
    only_status = restriction(params)  # decided by the engine (CancelOrder.only_status)
    order = gateway.read_model().orders.find(caller.user_id, order_id, client_order_id)
    if order is None or order.market != market.symbol:
        raise unknown_order()
    return await _cancel_one(gateway, caller.user_id, market, order, cancel_client_id, only_status)


async def cancel_open_orders(gateway: Gateway, call: Call) -> list[dict[str, Any]]:
    caller, params = await signed(gateway, call, TRADE)
    market = market_of(gateway, params)
    mine = gateway.read_model().orders.of_user(caller.user_id, market.symbol)
    open_orders = {order.order_id: order for order in mine}
    if not open_orders:
        raise unknown_order()
    try:
        events = await gateway.submit(CancelAllOrders(ts=0, user_id=caller.user_id, market=market.symbol))
    except TradeEngineError as error:
        raise from_engine(error, cancelling=True) from error
    cancelled = [e for e in events if isinstance(e, OrderCancelled) and e.order_id in open_orders]
    if not cancelled:
        raise unknown_order()
    return [
        order_views.cancelled(finished(open_orders[e.order_id], e), market, new_client_id())
        for e in cancelled
    ]


async def open_orders(gateway: Gateway, call: Call) -> list[dict[str, Any]]:
    caller, params = await signed(gateway, call, READ)
    symbol = params.text("symbol")
    by_symbol = markets_by_symbol(gateway)
    market = market_named(gateway, symbol) if symbol is not None else None
    history = await gateway.history()
    rows = await history.orders_from(
        caller.user_id,
        market=market.symbol if market else None,
        open_only=True,
        from_id=0,
        limit=10_000,
    )
    markets = {m.symbol: m for m in by_symbol.values()}
    return [order_views.order(model_of_row(row), markets[row["market"]]) for row in rows]


async def all_orders(gateway: Gateway, call: Call) -> list[dict[str, Any]]:
    caller, params = await signed(gateway, call, READ)
    market = market_of(gateway, params)
    history = await gateway.history()
    rows = await history.orders_from(
        caller.user_id,
        market=market.symbol,
        from_id=params.integer("orderId"),
        start_ns=time_ns(params, "startTime"),
        end_ns=time_ns(params, "endTime"),
        limit=params.limit(500, 1000),
    )
    return [order_views.order(model_of_row(row), market) for row in rows]


async def my_trades(gateway: Gateway, call: Call) -> list[dict[str, Any]]:
    caller, params = await signed(gateway, call, READ)
    market = market_of(gateway, params)
    limit = params.limit(500, 1000)
    history = await gateway.history()
    rows = await history.user_trades(
        caller.user_id,
        market=market.symbol,
        order_id=params.integer("orderId"),
        from_id=params.integer("fromId"),
        start_ns=time_ns(params, "startTime"),
        end_ns=time_ns(params, "endTime"),
        limit=limit,
    )
    order_id = params.integer("orderId")
    fills = [
        fill_of_row({**row, "side": side})
        for row in rows
        for side in (BUY, SELL)
        if row["buyer_user_id" if side == BUY else "seller_user_id"] == caller.user_id
    ]
    result = [
        order_views.user_trade(fill, market)
        for fill in fills
        if order_id is None or fill.order_id == order_id
    ]
    return result[:limit]


async def account(gateway: Gateway, call: Call) -> dict[str, Any]:
    caller, params = await signed(gateway, call, READ)
    history = await gateway.history()
    markets = gateway.read_model().markets
    assets = markets.assets()
    rows = await history.balance_rows(caller.user_id)
    omit = params.true("omitZeroBalances")
    return views.account(caller.user_id, caller.permissions, assets, rows, markets.all(), omit)


async def order_rate_limits(gateway: Gateway, call: Call) -> list[dict[str, Any]]:
    """GET /rateLimit/order: the caller's new orders in each order window."""
    caller, _ = await signed(gateway, call, READ)
    return limits.current().limits.order_counts(caller.user_id)
