"""What a Binance order request asks for: its parameters checked as Binance checks
them (names, enums, decimal text against the market's tick and step) and turned into the
engine's `PlaceOrder`, and the client order ids Binance allows. Used by every endpoint
that places an order (`POST /order`, `/order/test`, `/order/cancelReplace`)."""

import secrets
from typing import Any, Final

import msgspec

from trade_engine.binance.errors import (
    INVALID_CANCEL_RESTRICTIONS,
    INVALID_SIDE,
    INVALID_TIF,
    INVALID_TYPE,
    NOT_SUPPORTED_FOR_SYMBOL,
    from_engine,
    illegal,
    invalid_value,
    mandatory,
    not_required,
    one_of_mandatory,
    refusal,
)
from trade_engine.binance.params import Params
from trade_engine.binance.wire import ENGINE_TYPE, binance_name, meta_of
from trade_engine.domain.errors import ErrorCode, TradeEngineError
from trade_engine.domain.lifecycle import OrderStatus
from trade_engine.domain.market import Market
from trade_engine.domain.order_meta import OrderMeta
from trade_engine.domain.vocabulary import CONDITIONAL_TYPES, STP_MODES
from trade_engine.engine import PlaceOrder

_CLIENT_ID_RANGE: Final = "^[a-zA-Z0-9-_]{1,36}$"
_CLIENT_ID_CHARS: Final = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")
_RESPONSE_TYPES: Final = ("ACK", "RESULT", "FULL")


def client_id_param(params: Params, name: str) -> str | None:
    """A client order id parameter, if sent: Binance's characters, at most 36."""
    value = params.text(name)
    if value is not None and (len(value) > 36 or not set(value) <= _CLIENT_ID_CHARS):
        raise illegal(name, _CLIENT_ID_RANGE)
    return value


def new_client_id() -> str:
    """A client order id for an order (or a cancel) that was not given one."""
    return secrets.token_urlsafe(16).replace("-", "x").replace("_", "y")[:22]


def _convert(convert: Any, text: str, field: str, places: int, market_order: bool = False) -> int:
    """`text` in engine units; `places` is the asset's precision: a value finer than the
    step or tick but within it fails the filter (-1013), a finer one is -1111."""
    try:
        return int(convert(text, field))
    except TradeEngineError as error:
        if error.code == ErrorCode.TOO_PRECISE and len(text.partition(".")[2].rstrip("0")) <= places:
            code = ErrorCode.OFF_TICK if field in ("price", "stopPrice") else ErrorCode.OFF_STEP
            error = TradeEngineError(code, error.message)
        raise from_engine(error, field=field, market_order=market_order) from error


def _refuse(params: Params, *names: str) -> None:
    for name in names:
        if name in params:
            raise not_required(name)


def place_command(user_id: str, market: Market, params: Params) -> tuple[PlaceOrder, str]:
    """Validate a Binance new-order request and build the engine command (and the
    response type asked for)."""
    side = params.required("side").upper()
    if side not in ("BUY", "SELL"):
        raise refusal(INVALID_SIDE)
    kind = params.required("type").upper()
    engine_type = ENGINE_TYPE.get(kind)
    if engine_type is None:
        raise refusal(INVALID_TYPE)
    if "icebergQty" in params and params.text("icebergQty") not in ("0", "0.0"):
        raise refusal(NOT_SUPPORTED_FOR_SYMBOL, kind="Iceberg")
    if "trailingDelta" in params:
        raise refusal(NOT_SUPPORTED_FOR_SYMBOL, kind="Trailing stop")
    limit_priced = kind in ("LIMIT", "LIMIT_MAKER", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT")
    conditional = engine_type in CONDITIONAL_TYPES
    is_market = not limit_priced
    tif = "GTC"
    if kind in ("LIMIT", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"):
        tif = params.required("timeInForce").upper()
        if tif not in ("GTC", "IOC", "FOK"):
            raise refusal(INVALID_TIF)
    else:
        _refuse(params, "timeInForce")
    if not limit_priced:
        _refuse(params, "price")
    if not conditional:
        _refuse(params, "stopPrice")
    quantity = quote_quantity = price = stop_price = 0
    quantity_text, quote_text = params.text("quantity"), params.text("quoteOrderQty")
    if kind == "MARKET":
        if quantity_text is None and quote_text is None:
            raise one_of_mandatory("quantity", "quoteOrderQty")
        if quantity_text is not None and quote_text is not None:
            raise not_required("quoteOrderQty")
    else:
        _refuse(params, "quoteOrderQty")
        if quantity_text is None:
            raise mandatory("quantity")
    quote_places = market.quote_decimals
    if quantity_text is not None:
        quantity = _convert(market.quantity_lots, quantity_text, "quantity", market.base_decimals, is_market)
    if quote_text is not None:
        quote_quantity = _convert(market.quote_units, quote_text, "quoteOrderQty", quote_places, True)
    if limit_priced:
        price = _convert(market.price_ticks, params.required("price"), "price", quote_places)
    if conditional:
        stop_price = _convert(market.price_ticks, params.required("stopPrice"), "stopPrice", quote_places)
    stp = params.text("selfTradePreventionMode")
    if stp is not None and stp not in STP_MODES:
        raise illegal("selfTradePreventionMode", ", ".join(sorted(STP_MODES)))
    response_type = params.text("newOrderRespType") or ("FULL" if kind in ("LIMIT", "MARKET") else "ACK")
    if response_type not in _RESPONSE_TYPES:
        raise illegal("newOrderRespType", "ACK, RESULT, FULL")
    client_order_id = client_id_param(params, "newClientOrderId") or new_client_id()
    command = PlaceOrder(
        ts=0,
        user_id=user_id,
        market=market.symbol,
        side=side,
        order_type=engine_type,
        time_in_force=tif,
        quantity=quantity,
        quote_quantity=quote_quantity,
        price=price,
        stop_price=stop_price,
        client_order_id=client_order_id,
        stp_mode=stp,
        post_only=kind == "LIMIT_MAKER",
        meta=_meta(params),
    )
    return command, response_type


def _meta(params: Params) -> OrderMeta | None:
    """The order's labels (`strategyId` and the like), checked by their declared types."""
    try:
        return meta_of({name: value for name, value in params.values.items() if value})
    except msgspec.ValidationError as error:
        field = str(error).rpartition("$.")[2].rstrip("`")
        raise invalid_value(binance_name(field)) from error


# cancelRestrictions -> the only status the order to cancel may have.
RESTRICTIONS: Final = {
    "ONLY_NEW": OrderStatus.NEW.value,
    "ONLY_PARTIALLY_FILLED": OrderStatus.PARTIALLY_FILLED.value,
}


def restriction(params: Params) -> str | None:
    """`cancelRestrictions` as the engine's `only_status` (None: unrestricted)."""
    restricted = params.text("cancelRestrictions")
    if restricted is None:
        return None
    only_status = RESTRICTIONS.get(restricted)
    if only_status is None:
        raise refusal(INVALID_CANCEL_RESTRICTIONS)
    return only_status
