"""`POST /api/v3/order/cancelReplace`: cancel an order and place a new one, as one engine
command (`CancelReplaceOrder`), so that no other order comes between the two.

Binance's answers: both done, 200 with `cancelResult`/`newOrderResult` "SUCCESS" and both
responses. One part refused while the other went through (the new order after the
cancel, or the cancel under ALLOW_FAILURE): 409, -2021 "Order cancel-replace partially
failed.". Nothing done: 400, -2022 "Order cancel-replace failed.". Both errors carry the
same four fields under `data`, a refused part as its own `{"code", "msg"}` and a part
not attempted as "NOT_ATTEMPTED". Parameter errors answer as on `POST /order`.

An order to cancel that the read model does not hold (or holds in another market) is
refused here, as `DELETE /order` refuses it: under ALLOW_FAILURE only the new order goes
to the engine.

`cancelRestrictions` (ONLY_NEW, ONLY_PARTIALLY_FILLED; anything else is -1145) goes to
the engine with the cancel and is decided there, against the order as the engine holds
it when the command runs (CancelOrder.only_status), never against the read model here:
a fill committed between the two cannot slip past it. A cancel it refuses is -2011
"Order was not canceled due to cancel restrictions." in `cancelResponse`.

`orderRateLimitExceededMode` decides what an account over its order count gets (the new
order counts before anything is tried, as Binance counts it): DO_NOTHING (the default)
429 -1015 and nothing done; CANCEL_ONLY the cancel alone (one engine command, restricted
as asked) and the new order FAILURE with -1015. Binance's REST table gives that answer
429 under STOP_ON_FAILURE, and 409 (cancel done) or 400 (cancel refused too) under
ALLOW_FAILURE, with the -2021/-2022 bodies; `Retry-After` says when the count allows
orders again.
"""

from typing import Any, Final

from trade_engine.binance import limits, order_views
from trade_engine.binance.auth import TRADE
from trade_engine.binance.errors import (
    REPLACE_FAILED,
    REPLACE_PARTLY_FAILED,
    BinanceError,
    from_engine,
    illegal,
    one_of_mandatory,
    unknown_order,
)
from trade_engine.binance.order_params import client_id_param, new_client_id, place_command, restriction
from trade_engine.binance.requests import market_of, signed
from trade_engine.domain.errors import ErrorCode, TradeEngineError
from trade_engine.domain.market import Market
from trade_engine.domain.vocabulary import MARKET
from trade_engine.edge.errors import Binance
from trade_engine.edge.gateway import Gateway
from trade_engine.edge.routes import Call
from trade_engine.engine import (
    CancelOrder,
    CancelReplaceOrder,
    Event,
    OrderCancelled,
    PartRejected,
    PlaceOrder,
)
from trade_engine.readmodel.orders import OrderModel, finished, placed

MODES: Final = ("STOP_ON_FAILURE", "ALLOW_FAILURE")
RATE_MODES: Final = ("DO_NOTHING", "CANCEL_ONLY")
# Refusals that are about the service, not about either part: answered as themselves.
_SERVICE: Final = frozenset(
    {ErrorCode.BUSY, ErrorCode.UNAVAILABLE, ErrorCode.NOT_READY, ErrorCode.OUTCOME_UNKNOWN}
)


class _Request:
    """One cancel-replace request, checked: what to cancel, what to place, how to answer."""

    def __init__(self, market: Market, new: PlaceOrder, response_type: str, cancel_client_id: str) -> None:
        self.market = market
        self.new = new
        self.response_type = response_type
        self.cancel_client_id = cancel_client_id

    def new_order_error(self, error: TradeEngineError) -> dict[str, object]:
        return from_engine(error, market_order=self.new.order_type == MARKET).body()

    def new_order_response(self, events: list[Event]) -> dict[str, Any]:
        order, fills = placed(events)
        return order_views.new_order(order, fills, self.market, self.response_type)

    def cancel_response(self, order: OrderModel, events: list[Event]) -> dict[str, Any]:
        cancelled = next(e for e in events if isinstance(e, OrderCancelled) and e.order_id == order.order_id)
        return order_views.cancelled(finished(order, cancelled), self.market, self.cancel_client_id)


def _cancel_error(code: ErrorCode, message: str) -> dict[str, object]:
    return from_engine(TradeEngineError(code, message), cancelling=True).body()


def _outcome(
    failure: Binance | None,
    cancel: tuple[str, dict[str, Any]],
    new: tuple[str, dict[str, Any] | None],
) -> dict[str, Any]:
    """The four fields, as the answer or, with a `failure`, as the error's `data`."""
    data: dict[str, Any] = {
        "cancelResult": cancel[0],
        "newOrderResult": new[0],
        "cancelResponse": cancel[1],
        "newOrderResponse": new[1],
    }
    if failure is None:
        return data
    code, msg, status = failure
    raise BinanceError(code, msg, status, data=data)


async def cancel_replace(gateway: Gateway, call: Call) -> dict[str, Any]:
    caller, params = await signed(gateway, call, TRADE)
    market = market_of(gateway, params)
    mode = params.required("cancelReplaceMode")
    if mode not in MODES:
        raise illegal("cancelReplaceMode", ", ".join(MODES))
    order_id = params.integer("cancelOrderId")
    client_order_id = client_id_param(params, "cancelOrigClientOrderId")
    if order_id is None and client_order_id is None:
        raise one_of_mandatory("cancelOrderId", "cancelOrigClientOrderId")
    cancel_client_id = client_id_param(params, "cancelNewClientOrderId") or new_client_id()
    only_status = restriction(params)
    rate_mode = params.text("orderRateLimitExceededMode") or "DO_NOTHING"
    if rate_mode not in RATE_MODES:
        raise illegal("orderRateLimitExceededMode", ", ".join(RATE_MODES))
    new, response_type = place_command(caller.user_id, market, params)
    request = _Request(market, new, response_type, cancel_client_id)
    allow_failure = mode == "ALLOW_FAILURE"
    try:
        limits.count_order(caller.user_id, new.client_order_id)
    except TradeEngineError as too_many:
        if rate_mode == "DO_NOTHING":
            raise
        return await _cancel_only(
            gateway,
            request,
            caller.user_id,
            (order_id, client_order_id, only_status),
            too_many,
            allow_failure,
        )
    order = gateway.read_model().orders.find(caller.user_id, order_id, client_order_id)
    if order is None or order.market != market.symbol:
        return await _new_order_only(gateway, request, allow_failure)
    command = CancelReplaceOrder(
        ts=0,
        user_id=caller.user_id,
        place=new,
        cancel_order_id=order.order_id,
        allow_failure=allow_failure,
        cancel_only_status=only_status,
        cancel_request_id=request.cancel_client_id,
    )
    try:
        events = await gateway.submit(command)
    except TradeEngineError as error:
        if error.code in _SERVICE:
            raise from_engine(error) from error
        cancel_code = error.detail("cancel_code")
        if isinstance(cancel_code, ErrorCode):  # both refused (ALLOW_FAILURE)
            refused = _cancel_error(cancel_code, str(error.detail("cancel_message")))
            return _outcome(REPLACE_FAILED, ("FAILURE", refused), ("FAILURE", request.new_order_error(error)))
        # The cancel refused under STOP_ON_FAILURE: the new order was not tried.
        refused = _cancel_error(error.code, error.message)
        return _outcome(REPLACE_FAILED, ("FAILURE", refused), ("NOT_ATTEMPTED", None))
    part = next((e for e in events if isinstance(e, PartRejected)), None)
    if part is not None and part.part == "cancel":
        refused = _cancel_error(part.code, part.message)
        return _outcome(
            REPLACE_PARTLY_FAILED,
            ("FAILURE", refused),
            ("SUCCESS", request.new_order_response(events)),
        )
    cancelled = request.cancel_response(order, events)
    if part is not None:
        new_error = request.new_order_error(TradeEngineError(part.code, part.message))
        return _outcome(REPLACE_PARTLY_FAILED, ("SUCCESS", cancelled), ("FAILURE", new_error))
    return _outcome(None, ("SUCCESS", cancelled), ("SUCCESS", request.new_order_response(events)))


async def _new_order_only(gateway: Gateway, request: _Request, allow_failure: bool) -> dict[str, Any]:
    """The order to cancel is not there: STOP_ON_FAILURE stops; ALLOW_FAILURE places."""
    refused = unknown_order().body()
    if not allow_failure:
        return _outcome(REPLACE_FAILED, ("FAILURE", refused), ("NOT_ATTEMPTED", None))
    try:
        events = await gateway.submit(request.new)
    except TradeEngineError as error:
        if error.code in _SERVICE:
            raise from_engine(error) from error
        return _outcome(REPLACE_FAILED, ("FAILURE", refused), ("FAILURE", request.new_order_error(error)))
    return _outcome(
        REPLACE_PARTLY_FAILED, ("FAILURE", refused), ("SUCCESS", request.new_order_response(events))
    )


async def _cancel_only(
    gateway: Gateway,
    request: _Request,
    user_id: str,
    cancel: tuple[int | None, str | None, str | None],
    too_many: TradeEngineError,
    allow_failure: bool,
) -> dict[str, Any]:
    """CANCEL_ONLY over the order count: the cancel alone, the new order refused."""
    order_id, client_order_id, only_status = cancel
    new_refused = from_engine(too_many)
    status = 400 if allow_failure else 429
    order = gateway.read_model().orders.find(user_id, order_id, client_order_id)
    cancelled: dict[str, Any] | None = None
    refused = unknown_order().body()
    if order is not None and order.market == request.market.symbol:
        command = CancelOrder(
            ts=0,
            user_id=user_id,
            order_id=order.order_id,
            only_status=only_status,
            cancel_request_id=request.cancel_client_id,
        )
        try:
            cancelled = request.cancel_response(order, await gateway.submit(command))
        except TradeEngineError as error:
            if error.code in _SERVICE:
                raise from_engine(error) from error
            refused = _cancel_error(error.code, error.message)
    new_part: tuple[str, dict[str, Any] | None] = ("FAILURE", new_refused.body())
    if cancelled is not None:
        code, msg, _ = REPLACE_PARTLY_FAILED
        outcome = ("SUCCESS", cancelled)
        status = 409 if allow_failure else 429
    else:
        code, msg, _ = REPLACE_FAILED
        outcome = ("FAILURE", refused)
        if not allow_failure:
            new_part = ("NOT_ATTEMPTED", None)
    try:
        return _outcome(Binance(code, msg, status), outcome, new_part)
    except BinanceError as answer:
        answer.headers = {**new_refused.headers, **answer.headers}
        raise
