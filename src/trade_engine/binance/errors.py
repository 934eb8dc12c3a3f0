"""Binance's error answers: the wire-only ones of this adapter (parameters as Binance
spells them), and the translation of every `TradeEngineError` through the one error
table (edge/errors.py), which holds each code's Binance code and message.

ccxt matches the exact `msg` text before it looks at the code, so the texts are
Binance's own, verbatim. An error answers `{"code": -1121, "msg": "Invalid symbol."}`
with a 4xx status (5xx when the service itself cannot answer).
"""

from typing import Final

from trade_engine.domain.errors import ErrorCode, TradeEngineError
from trade_engine.edge.errors import ERRORS, INVALID_KEY, NO_SUCH_ORDER, UNKNOWN_ORDER, Binance, headers_of

# What only this API can get wrong (its parameters, symbols, signatures, methods), as
# Binance answers it; `{name}`-style fields are filled in by `refusal`. Every other
# failure is a `TradeEngineError`, answered through the error table by `from_engine`.
INVALID_SYMBOL: Final = Binance(-1121, "Invalid symbol.")
INVALID_INTERVAL: Final = Binance(-1120, "Invalid interval.")
INVALID_SIDE: Final = Binance(-1117, "Invalid side.")
INVALID_TYPE: Final = Binance(-1116, "Invalid orderType.")
INVALID_TIF: Final = Binance(-1115, "Invalid timeInForce.")
INVALID_CANCEL_RESTRICTIONS: Final = Binance(-1145, "Invalid cancelRestrictions")
NOT_SUPPORTED_FOR_SYMBOL: Final = Binance(-2010, "{kind} orders are not supported for this symbol.")
MANDATORY: Final = Binance(-1102, "Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")
ONE_OF_MANDATORY: Final = Binance(
    -1102, "Param '{first}' or '{second}' must be sent, but both were empty/null!"
)
NOT_REQUIRED: Final = Binance(-1106, "Parameter '{name}' sent when not required.")
ILLEGAL: Final = Binance(-1100, "Illegal characters found in parameter '{name}'; legal range is '{legal}'.")
ILLEGAL_ENCODING: Final = Binance(-1100, "Illegal characters found in a parameter.")
MALFORMED: Final = Binance(-1100, "Malformed request: {reason}.")
INVALID_VALUE: Final = Binance(-1130, "Data sent for parameter '{name}' is not valid.")
FILTER_FAILURE: Final = Binance(-1013, "Filter failure: {name}")
UNKNOWN_METHOD: Final = Binance(-1000, "Unknown method '{method}'.")
KEY_FORMAT: Final = Binance(-2014, "API-key format invalid.", 401)
UNAUTHORIZED: Final = Binance(-2015, INVALID_KEY, 401)
RECV_WINDOW_TOO_LARGE: Final = Binance(-1131, "recvWindow must be less than 60000")
OUTSIDE_RECV_WINDOW: Final = Binance(-1021, "Timestamp for this request is outside of the recvWindow.")
AHEAD_OF_SERVER_TIME: Final = Binance(
    -1021, "Timestamp for this request was 1000ms ahead of the server's time."
)
INVALID_SIGNATURE: Final = Binance(-1022, "Signature for this request is not valid.")
ORDER_DOES_NOT_EXIST: Final = Binance(-2013, NO_SUCH_ORDER)
CLIENT_ORDER_ID_INVALID: Final = Binance(-2039, "Client order ID is not correct for this order ID.")
INVALID_TICKER_TYPE: Final = Binance(-1139, "Invalid ticker type.")
SUBSCRIPTION_ACTIVE: Final = Binance(-2035, "User Data Stream subscription already active.")
SUBSCRIPTION_INACTIVE: Final = Binance(-2036, "User Data Stream subscription not active.")
ORDER_UNKNOWN: Final = Binance(-2011, UNKNOWN_ORDER)
REPLACE_PARTLY_FAILED: Final = Binance(-2021, "Order cancel-replace partially failed.", 409)
REPLACE_FAILED: Final = Binance(-2022, "Order cancel-replace failed.", 400)


class BinanceError(Exception):
    """An error answered in Binance's shape."""

    def __init__(
        self,
        code: int,
        msg: str,
        status: int = 400,
        headers: dict[str, str] | None = None,
        data: dict[str, object] | None = None,
    ) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg
        self.status = status
        self.headers = headers or {}
        self.data = data  # what some errors say besides (a cancel-replace's two parts)

    def body(self) -> dict[str, object]:
        if self.data is None:
            return {"code": self.code, "msg": self.msg}
        return {"code": self.code, "msg": self.msg, "data": self.data}


def refusal(answer: Binance, **fields: str) -> BinanceError:
    """`answer` (one of the table above) as an error, its fields filled in."""
    message = answer.message.format(**fields) if fields else answer.message
    return BinanceError(answer.code, message, answer.status)


def mandatory(name: str) -> BinanceError:
    return refusal(MANDATORY, name=name)


def one_of_mandatory(first: str, second: str) -> BinanceError:
    return refusal(ONE_OF_MANDATORY, first=first, second=second)


def not_required(name: str) -> BinanceError:
    return refusal(NOT_REQUIRED, name=name)


def illegal(name: str, legal: str) -> BinanceError:
    return refusal(ILLEGAL, name=name, legal=legal)


def invalid_value(name: str) -> BinanceError:
    return refusal(INVALID_VALUE, name=name)


def filter_failure(name: str) -> BinanceError:
    return refusal(FILTER_FAILURE, name=name)


def unauthorized() -> BinanceError:
    return refusal(UNAUTHORIZED)


_PRICE_FIELDS: Final = frozenset({"price", "stopPrice", "stop_price"})


def _filter_of(field: str | None, market_order: bool) -> str:
    if field in _PRICE_FIELDS:
        return "PRICE_FILTER"
    if field in ("quoteOrderQty", "quote_quantity"):
        return "NOTIONAL"
    return "MARKET_LOT_SIZE" if market_order else "LOT_SIZE"


# The filter each order rule belongs to, where it does not depend on the field.
_FILTERS: Final = {
    ErrorCode.OFF_TICK: "PRICE_FILTER",
    ErrorCode.PRICE_OUT_OF_RANGE: "PRICE_FILTER",
    ErrorCode.NOTIONAL_BELOW_MIN: "NOTIONAL",
}


def from_engine(
    error: TradeEngineError, *, field: str | None = None, cancelling: bool = False, market_order: bool = False
) -> BinanceError:
    """`error` as Binance answers it (binance-compat.md §1.6): the table's code and
    message; `field` (or the error's own) names the parameter at fault, `cancelling`
    picks Binance's answer on a cancel, `market_order` its market-order filter names."""
    rule = ERRORS[error.code]
    answer = rule.cancel if cancelling and rule.cancel is not None else rule.binance
    named = field or error.detail("field")
    field = named if isinstance(named, str) else "quantity"
    order_filter = _FILTERS.get(error.code)
    if order_filter is None:
        if error.code in (ErrorCode.QUANTITY_BELOW_MIN, ErrorCode.QUANTITY_ABOVE_MAX):
            order_filter = "MARKET_LOT_SIZE" if market_order else "LOT_SIZE"
        else:
            order_filter = _filter_of(field, market_order)
    message = answer.message.format(field=field, filter=order_filter, message=error.message)
    return BinanceError(answer.code, message, answer.status, headers_of(error))


def unknown_order() -> BinanceError:
    return refusal(ORDER_UNKNOWN)
