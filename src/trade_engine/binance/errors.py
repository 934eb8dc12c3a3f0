"""Binance error codes and message texts, and the map from the engine's codes to them.

ccxt matches the exact `msg` text before it looks at the code, so the texts here are
Binance's own, verbatim. An error answers `{"code": -1121, "msg": "Invalid symbol."}`
with a 4xx status (5xx when the service itself cannot answer).
"""

from typing import Final

from trade_engine.domain.errors import ErrorCode

UNKNOWN_MSG: Final = "An unknown error occurred while processing the request."
INTERNAL_MSG: Final = "Internal error; unable to process your request. Please try again."
INVALID_SYMBOL: Final = "Invalid symbol."
INVALID_INTERVAL: Final = "Invalid interval."
INVALID_TIMESTAMP: Final = "Timestamp for this request is outside of the recvWindow."
INVALID_SIGNATURE: Final = "Signature for this request is not valid."
KEY_FORMAT: Final = "API-key format invalid."
INVALID_KEY: Final = "Invalid API-key, IP, or permissions for action."
INSUFFICIENT_BALANCE: Final = "Account has insufficient balance for requested action."
WOULD_TAKE: Final = "Order would immediately match and take."
STOP_WOULD_TRIGGER: Final = "Stop price would trigger immediately."
MARKET_CLOSED: Final = "Market is closed."
DUPLICATE_ORDER: Final = "Duplicate order sent."
UNKNOWN_ORDER: Final = "Unknown order sent."
NO_SUCH_ORDER: Final = "Order does not exist."
INVALID_SIDE: Final = "Invalid side."
INVALID_TIF: Final = "Invalid timeInForce."
INVALID_TYPE: Final = "Invalid orderType."
TOO_MANY_REQUESTS: Final = "Too many requests; please use the websocket for live updates."
OVERLOADED: Final = "Server is currently overloaded with other requests. Please try again in a few minutes."
OUTCOME_UNKNOWN: Final = (
    "Timeout waiting for response from backend server. Send status unknown; execution status unknown."
)


class BinanceError(Exception):
    """An error answered in Binance's shape."""

    def __init__(self, code: int, msg: str, status: int = 400, headers: dict[str, str] | None = None) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg
        self.status = status
        self.headers = headers or {}

    def body(self) -> dict[str, object]:
        return {"code": self.code, "msg": self.msg}


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


DECIMAL_RANGE: Final = r"^([0-9]{1,20})(\.[0-9]{1,20})?$"
_PRICE_FIELDS: Final = frozenset({"price", "stopPrice", "stop_price"})


def _filter_of(field: str | None, market_order: bool) -> str:
    if field in _PRICE_FIELDS:
        return "PRICE_FILTER"
    if field in ("quoteOrderQty", "quote_quantity"):
        return "NOTIONAL"
    return "MARKET_LOT_SIZE" if market_order else "LOT_SIZE"


def from_engine(
    code: str,
    message: str,
    *,
    field: str | None = None,
    cancelling: bool = False,
    querying: bool = False,
    market_order: bool = False,
) -> BinanceError:
    """The Binance error for an engine or API error code (binance-compat.md §1.6).

    `field` names the request parameter a number conversion failed on; `cancelling` and
    `querying` pick the wording of "no such order" (-2011 on cancels, -2013 on queries).
    """
    if code in (ErrorCode.INVALID_NUMBER, ErrorCode.NOT_FINITE, ErrorCode.NEGATIVE_VALUE):
        return illegal(field or "quantity", DECIMAL_RANGE)
    if code == ErrorCode.TOO_PRECISE:
        return BinanceError(-1111, f"Parameter '{field or 'quantity'}' has too much precision.")
    if code == ErrorCode.OFF_TICK:
        return filter_failure("PRICE_FILTER")
    if code == ErrorCode.OFF_STEP:
        return filter_failure(_filter_of(field, market_order))
    if code in (ErrorCode.ZERO_VALUE, ErrorCode.VALUE_OUT_OF_RANGE):
        return filter_failure(_filter_of(field, market_order))
    if code in (ErrorCode.QUANTITY_BELOW_MIN, ErrorCode.QUANTITY_ABOVE_MAX):
        return filter_failure("MARKET_LOT_SIZE" if market_order else "LOT_SIZE")
    if code == ErrorCode.PRICE_OUT_OF_RANGE:
        return filter_failure("PRICE_FILTER")
    if code == ErrorCode.NOTIONAL_BELOW_MIN:
        return filter_failure("NOTIONAL")
    if code == ErrorCode.UNKNOWN_MARKET:
        return BinanceError(-1121, INVALID_SYMBOL)
    if code in (ErrorCode.ORDER_NOT_FOUND, "ORDER_NOT_OPEN"):
        if cancelling:
            return BinanceError(-2011, UNKNOWN_ORDER)
        return BinanceError(-2013, NO_SUCH_ORDER)
    reject = -2011 if cancelling else -2010
    if code == ErrorCode.INSUFFICIENT_BALANCE:
        return BinanceError(reject, INSUFFICIENT_BALANCE)
    if code == ErrorCode.POST_ONLY_WOULD_TAKE:
        return BinanceError(reject, WOULD_TAKE)
    if code == ErrorCode.STOP_WOULD_TRIGGER:
        return BinanceError(reject, STOP_WOULD_TRIGGER)
    if code in (ErrorCode.MARKET_HALTED, ErrorCode.MARKET_CANCEL_ONLY):
        return BinanceError(reject, MARKET_CLOSED)
    if code == ErrorCode.DUPLICATE_CLIENT_ORDER_ID:
        return BinanceError(reject, DUPLICATE_ORDER)
    if code in (ErrorCode.INVALID_ORDER, ErrorCode.BALANCE_LIMIT_EXCEEDED, ErrorCode.ORDER_NOT_AMENDABLE):
        return BinanceError(reject, message)
    if code == "RATE_LIMITED":
        return BinanceError(-1003, TOO_MANY_REQUESTS, 429, {"Retry-After": "1"})
    if code == "BUSY":
        return BinanceError(-1008, OVERLOADED, 503, {"Retry-After": "1"})
    if code == "OUTCOME_UNKNOWN":
        return BinanceError(-1007, OUTCOME_UNKNOWN, 503, {"Retry-After": "1"})
    if code in ("NOT_READY", "UNAVAILABLE"):
        return BinanceError(-1001, INTERNAL_MSG, 503, {"Retry-After": "1"})
    if code in ("UNAUTHENTICATED", "INVALID_TOKEN", "TOKEN_EXPIRED", "FORBIDDEN"):
        return unauthorized()
    if code == "BODY_TOO_LARGE":
        return BinanceError(-1101, "Too many parameters sent for this endpoint.", 413)
    return BinanceError(-1000, UNKNOWN_MSG, 500 if code == "INTERNAL_ERROR" else 400)
