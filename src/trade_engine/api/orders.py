"""The native order routes: place, look up, list, cancel, amend. The one order path.

Handlers stay thin: decimal strings become engine integers at the edge (the market's
conversions), the command goes to the core, and the committed result is rendered.
"""

from msgspec import UnsetType

from trade_engine.api import views
from trade_engine.api.params import ClientOrderPath, MarketQuery, OrderPath, OrdersQuery
from trade_engine.api.schemas import AmendOrderBody, CancelAllView, OrderPage, OrderView, PlaceOrderBody
from trade_engine.domain.errors import ErrorCode, TradeEngineError
from trade_engine.domain.lifecycle import CLOSED_STATUSES, OPEN_STATUSES, is_open
from trade_engine.domain.market import Market
from trade_engine.domain.vocabulary import CONDITIONAL_TYPES
from trade_engine.edge.gateway import Gateway
from trade_engine.edge.routes import Call
from trade_engine.engine import (
    ENDINGS,
    AmendOrder,
    CancelAllOrders,
    CancelOrder,
    Event,
    OrderCancelled,
    PlaceOrder,
)
from trade_engine.readmodel.orders import OrderModel, amended, finished, model_of_row, placed


def place_command(user_id: str, market: Market, body: PlaceOrderBody) -> PlaceOrder:
    if body.price is None and body.type in ("LIMIT", "STOP_LIMIT", "TAKE_PROFIT_LIMIT"):
        raise TradeEngineError(ErrorCode.INVALID_ORDER, f"a {body.type} order needs a price", field="price")
    if body.stop_price is None and body.type in CONDITIONAL_TYPES:
        raise TradeEngineError(
            ErrorCode.INVALID_ORDER, f"a {body.type} order needs a stop_price", field="stop_price"
        )
    return PlaceOrder(
        ts=0,
        user_id=user_id,
        market=market.symbol,
        side=body.side,
        order_type=body.type,
        time_in_force=body.time_in_force,
        quantity=market.quantity_lots(body.quantity) if body.quantity is not None else 0,
        quote_quantity=market.quote_units(body.quote_quantity) if body.quote_quantity is not None else 0,
        price=market.price_ticks(body.price) if body.price is not None else 0,
        stop_price=market.price_ticks(body.stop_price, "stop_price") if body.stop_price is not None else 0,
        client_order_id=body.client_order_id,
        stp_mode=body.stp_mode,
        post_only=body.post_only,
        meta=body.meta,
    )


async def place_order(gateway: Gateway, call: Call) -> OrderView:
    """Place an order. Answered once the order and everything it caused are committed."""
    body = call.body_as(PlaceOrderBody)
    market = gateway.market(body.market)
    events = await gateway.submit(place_command(call.user().user_id, market, body))
    order, fills = placed(events)
    return views.order_view(order, market, fills)


async def _own_order(
    gateway: Gateway,
    user_id: str,
    order_id: int | None = None,
    client_order_id: str | None = None,
    seq: int = 0,
) -> OrderView:
    """The order as history holds it, once it holds the command numbered `seq` too."""
    history = await gateway.history(seq)
    row = await history.order_row(user_id, order_id, client_order_id)
    if row is None:
        raise TradeEngineError(ErrorCode.ORDER_NOT_FOUND, "no such order")
    return views.order_view(model_of_row(row), gateway.market(row["market"]))


async def get_order(gateway: Gateway, call: Call) -> OrderView:
    """One of the user's orders, by id."""
    return await _own_order(gateway, call.user().user_id, order_id=call.path_as(OrderPath).order_id)


async def get_order_by_client_id(gateway: Gateway, call: Call) -> OrderView:
    """The newest of the user's orders with this client order id."""
    client_order_id = call.path_as(ClientOrderPath).client_order_id
    return await _own_order(gateway, call.user().user_id, client_order_id=client_order_id)


async def list_orders(gateway: Gateway, call: Call) -> OrderPage:
    """The user's orders, newest first."""
    query = call.query_as(OrdersQuery)
    history = await gateway.history()
    start_ns, end_ns = views.time_range(query.start_time, query.end_time)
    statuses = {"open": OPEN_STATUSES, "closed": CLOSED_STATUSES, "all": None}[query.status]
    rows, total = await history.order_rows(
        call.user().user_id,
        market=query.market,
        statuses=statuses,
        start_ns=start_ns,
        end_ns=end_ns,
        limit=query.limit,
        offset=query.offset,
    )
    orders = [views.order_view(model_of_row(row), gateway.market(row["market"])) for row in rows]
    has_more = query.offset + len(orders) < total
    return OrderPage(orders=orders, total=total, limit=query.limit, offset=query.offset, has_more=has_more)


async def _not_open(
    gateway: Gateway, user_id: str, order_id: int | None, client_order_id: str | None
) -> TradeEngineError:
    """Why a cancel or amend found nothing: unknown, or no longer open."""
    status = gateway.read_model().closed.status(user_id, order_id, client_order_id)
    if status is not None:
        return TradeEngineError(ErrorCode.ORDER_NOT_OPEN, f"the order is {status}", status=status)
    history = await gateway.history()
    row = await history.order_row(user_id, order_id, client_order_id)
    if row is None or is_open(row["status"]):
        return TradeEngineError(ErrorCode.ORDER_NOT_FOUND, "no such open order")
    return TradeEngineError(ErrorCode.ORDER_NOT_OPEN, f"the order is {row['status']}", status=row["status"])


async def cancel(
    gateway: Gateway, user_id: str, order_id: int | None, client_order_id: str | None
) -> OrderView:
    # The order as last committed; its cancellation event brings its final state.
    order = gateway.read_model().orders.find(user_id, order_id, client_order_id)
    if order is None:
        raise await _not_open(gateway, user_id, order_id, client_order_id)
    try:
        events = await gateway.submit(CancelOrder(ts=0, user_id=user_id, order_id=order.order_id))
    except TradeEngineError as error:
        if error.code == ErrorCode.ORDER_NOT_FOUND:
            raise await _not_open(gateway, user_id, order.order_id, None) from error
        raise
    cancelled = next(e for e in events if isinstance(e, OrderCancelled))
    return views.order_view(finished(order, cancelled), gateway.market(order.market))


async def cancel_order(gateway: Gateway, call: Call) -> OrderView:
    """Cancel one of the user's open orders (or pending stops), by id."""
    return await cancel(gateway, call.user().user_id, call.path_as(OrderPath).order_id, None)


async def cancel_order_by_client_id(gateway: Gateway, call: Call) -> OrderView:
    """Cancel the user's open order with this client order id."""
    return await cancel(gateway, call.user().user_id, None, call.path_as(ClientOrderPath).client_order_id)


async def cancel_all_orders(gateway: Gateway, call: Call) -> CancelAllView:
    """Cancel every open order and pending stop of the user (in one market if given)."""
    market = call.query_as(MarketQuery).market
    if market is not None:
        gateway.market(market)
    events = await gateway.submit(CancelAllOrders(ts=0, user_id=call.user().user_id, market=market))
    return CancelAllView(cancelled=[e.order_id for e in events if isinstance(e, OrderCancelled)])


async def _amend(
    gateway: Gateway, user_id: str, order_id: int | None, client_order_id: str | None, body: AmendOrderBody
) -> OrderView:
    order = gateway.read_model().orders.find(user_id, order_id, client_order_id)
    if order is None:
        raise await _not_open(gateway, user_id, order_id, client_order_id)
    market = gateway.market(order.market)
    command = AmendOrder(
        ts=0,
        user_id=user_id,
        order_id=order_id,
        client_order_id=client_order_id,
        price=None if isinstance(body.price, UnsetType) else market.price_ticks(body.price),
        quantity=None if isinstance(body.quantity, UnsetType) else market.quantity_lots(body.quantity),
    )
    try:
        seq, events = await gateway.submit_numbered(command)
    except TradeEngineError as error:
        if error.code == ErrorCode.ORDER_NOT_FOUND:
            raise await _not_open(gateway, user_id, order_id, client_order_id) from error
        raise
    return await _amended_view(gateway, order, seq, events, market)


async def _amended_view(
    gateway: Gateway, order: OrderModel, seq: int, events: list[Event], market: Market
) -> OrderView:
    """The order after its amendment, from what was committed rather than from a read of
    history, which may fail after the commit (the database gone): a committed amendment
    is never answered 503. The read model's copy once it holds the amendment (in one
    process, always), the amendment's own events when they ended the order; history
    only when neither applies (a gateway behind, the order ended by a later command)."""
    if any(type(e) in ENDINGS and getattr(e, "order_id", None) == order.order_id for e in events):
        return views.order_view(amended(order, events), market)
    current = gateway.read_model().orders.get(order.order_id)
    if current is not None and gateway.holds(seq):
        return views.order_view(current, market)
    return await _own_order(gateway, order.user_id, order_id=order.order_id, seq=seq)


async def amend_order(gateway: Gateway, call: Call) -> OrderView:
    """Change price and/or total quantity. A smaller quantity keeps time priority."""
    body = call.body_as(AmendOrderBody)
    return await _amend(gateway, call.user().user_id, call.path_as(OrderPath).order_id, None, body)


async def amend_order_by_client_id(gateway: Gateway, call: Call) -> OrderView:
    """Change price and/or total quantity of the order with this client order id."""
    body = call.body_as(AmendOrderBody)
    client_order_id = call.path_as(ClientOrderPath).client_order_id
    return await _amend(gateway, call.user().user_id, None, client_order_id, body)
