"""Binance's error answers: the wire-only ones of this adapter (parameters as Binance
spells them), and the translation of every `TradeEngineError` through the one error
table (edge/errors.py), which holds each code's Binance code and message.

ccxt matches the exact `msg` text before it looks at the code, so the texts are
Binance's own, verbatim. An error answers `{"code": -1121, "msg": "Invalid symbol."}`
with a 4xx status (5xx when the service itself cannot answer).
"""

from typing import Final

from trade_engine.domain.errors import ErrorCode, TradeEngineError
from trade_engine.edge.errors import ERRORS, INVALID_KEY, UNKNOWN_ORDER, headers_of

INVALID_SYMBOL: Final = "Invalid symbol."
INVALID_INTERVAL: Final = "Invalid interval."
INVALID_TIMESTAMP: Final = "Timestamp for this request is outside of the recvWindow."
INVALID_SIGNATURE: Final = "Signature for this request is not valid."
KEY_FORMAT: Final = "API-key format invalid."
INVALID_SIDE: Final = "Invalid side."
INVALID_TIF: Final = "Invalid timeInForce."
INVALID_TYPE: Final = "Invalid orderType."


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


def mandatory(name: str) -> BinanceError:
    return BinanceError(-1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")


def one_of_mandatory(first: str, second: str) -> BinanceError:
    return BinanceError(-1102, f"Param '{first}' or '{second}' must be sent, but both were empty/null!")


def not_required(name: str) -> BinanceError:
    return BinanceError(-1106, f"Parameter '{name}' sent when not required.")


def illegal(name: str, legal: str) -> BinanceError:
    return BinanceError(-1100, f"Illegal characters found in parameter '{name}'; legal range is '{legal}'.")


def invalid_value(name: str) -> BinanceError:
    return BinanceError(-1130, f"Data sent for parameter '{name}' is not valid.")


def filter_failure(name: str) -> BinanceError:
    return BinanceError(-1013, f"Filter failure: {name}")


def unauthorized() -> BinanceError:
    return BinanceError(-2015, INVALID_KEY, 401)


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
    return BinanceError(-2011, UNKNOWN_ORDER)
