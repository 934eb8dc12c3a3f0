"""The one error table: how every `ErrorCode` answers on every API.

A code's HTTP status, its Binance code and message, and whether it comes with
`Retry-After` are stated here and nowhere else; the native API, the WebSocket protocol
and the Binance-compatible API only format what this table says. Binance messages are
Binance's own texts (ccxt matches the exact `msg` before the code); `{field}` and
`{filter}` are filled in by the Binance adapter, `{message}` is the error's own text.
Binance answers some refusals differently on a cancel (`-2011`) than on a new order
(`-2010`) or a query (`-2013`): `cancel` holds the answer on a cancel.
"""

from typing import Any, Final, NamedTuple

from trade_engine.domain.errors import ErrorCode, TradeEngineError

RETRY_AFTER_SECONDS: Final = 1

# Binance's texts (binance-compat.md §1.6).
ILLEGAL: Final = "Illegal characters found in parameter '{field}'; legal range is '{range}'."
DECIMAL_RANGE: Final = r"^([0-9]{1,20})(\.[0-9]{1,20})?$"
FILTER: Final = "Filter failure: {filter}"
UNKNOWN_MSG: Final = "An unknown error occurred while processing the request."
INTERNAL_MSG: Final = "Internal error; unable to process your request. Please try again."
INVALID_KEY: Final = "Invalid API-key, IP, or permissions for action."
UNSUPPORTED: Final = "This operation is not supported."
UNKNOWN_ORDER: Final = "Unknown order sent."
NO_SUCH_ORDER: Final = "Order does not exist."
CANCEL_RESTRICTED: Final = "Order was not canceled due to cancel restrictions."
TOO_MANY_REQUESTS: Final = "Too many requests; please use the websocket for live updates."
OVERLOADED: Final = "Server is currently overloaded with other requests. Please try again in a few minutes."
OUTCOME_UNKNOWN: Final = (
    "Timeout waiting for response from backend server. Send status unknown; execution status unknown."
)


class Binance(NamedTuple):
    """Binance's answer: its code, its message, and its HTTP status (400 unless the
    failure is about credentials, size, rate or the service itself)."""

    code: int
    message: str
    status: int = 400


class Rule(NamedTuple):
    status: int
    binance: Binance
    cancel: Binance | None = None  # the answer on a cancel, where Binance's differs
    retry_after: bool = False


def _rejected(message: str) -> Rule:
    """A business rejection: 422, -2010 on a new order and -2011 on a cancel."""
    return Rule(422, Binance(-2010, message), Binance(-2011, message))


# The range is literal text in a message template: its braces are escaped.
_NUMBER: Final = Rule(
    400, Binance(-1100, ILLEGAL.replace("{range}", DECIMAL_RANGE.replace("{", "{{").replace("}", "}}")))
)
_FILTER: Final = Rule(400, Binance(-1013, FILTER))
_UNAUTHORIZED: Final = Binance(-2015, INVALID_KEY, 401)
_UNKNOWN: Final = Binance(-1000, UNKNOWN_MSG)
_NOT_AVAILABLE: Final = Rule(503, Binance(-1001, INTERNAL_MSG, 503), retry_after=True)

ERRORS: Final[dict[ErrorCode, Rule]] = {
    # -- numbers (the field at fault is named in `{field}`, its filter in `{filter}`) --
    ErrorCode.INVALID_NUMBER: _NUMBER,
    ErrorCode.NOT_FINITE: _NUMBER,
    ErrorCode.NEGATIVE_VALUE: _NUMBER,
    ErrorCode.TOO_PRECISE: Rule(400, Binance(-1111, "Parameter '{field}' has too much precision.")),
    ErrorCode.ZERO_VALUE: _FILTER,
    ErrorCode.OFF_TICK: _FILTER,
    ErrorCode.OFF_STEP: _FILTER,
    ErrorCode.VALUE_OUT_OF_RANGE: _FILTER,
    # -- order and market rules --
    ErrorCode.INVALID_ORDER: Rule(400, Binance(-2010, "{message}"), Binance(-2011, "{message}")),
    ErrorCode.INVALID_MARKET: Rule(400, _UNKNOWN),
    ErrorCode.QUANTITY_BELOW_MIN: _FILTER,
    ErrorCode.QUANTITY_ABOVE_MAX: _FILTER,
    ErrorCode.PRICE_OUT_OF_RANGE: _FILTER,
    ErrorCode.NOTIONAL_BELOW_MIN: _FILTER,
    ErrorCode.UNKNOWN_MARKET: Rule(404, Binance(-1121, "Invalid symbol.")),
    ErrorCode.MARKET_EXISTS: Rule(409, _UNKNOWN),
    ErrorCode.MARKET_STATUS_UNCHANGED: Rule(409, _UNKNOWN),
    ErrorCode.UNKNOWN_ASSET: Rule(404, _UNKNOWN),
    ErrorCode.MARKET_HALTED: _rejected("Market is closed."),
    ErrorCode.MARKET_CANCEL_ONLY: _rejected("Market is closed."),
    ErrorCode.POST_ONLY_WOULD_TAKE: _rejected("Order would immediately match and take."),
    ErrorCode.STOP_WOULD_TRIGGER: _rejected("Order would trigger immediately."),
    ErrorCode.ORDER_NOT_AMENDABLE: _rejected("{message}"),
    ErrorCode.CANCEL_RESTRICTED: Rule(
        409, Binance(-2011, CANCEL_RESTRICTED), Binance(-2011, CANCEL_RESTRICTED)
    ),
    # -- accounts --
    ErrorCode.INSUFFICIENT_BALANCE: _rejected("Account has insufficient balance for requested action."),
    ErrorCode.BALANCE_LIMIT_EXCEEDED: _rejected("{message}"),
    # -- identity --
    ErrorCode.ORDER_NOT_FOUND: Rule(404, Binance(-2013, NO_SUCH_ORDER), Binance(-2011, UNKNOWN_ORDER)),
    ErrorCode.ORDER_NOT_OPEN: Rule(409, Binance(-2013, NO_SUCH_ORDER), Binance(-2011, UNKNOWN_ORDER)),
    ErrorCode.DUPLICATE_CLIENT_ORDER_ID: Rule(
        409, Binance(-2010, "Duplicate order sent."), Binance(-2011, "Duplicate order sent.")
    ),
    ErrorCode.DUPLICATE_REFERENCE: Rule(409, _UNKNOWN),
    # -- requests --
    ErrorCode.VALIDATION_ERROR: Rule(400, _UNKNOWN),
    # An endpoint Binance has and this service does not serve: Binance's "not supported".
    ErrorCode.NOT_FOUND: Rule(404, Binance(-1020, UNSUPPORTED, 404)),
    ErrorCode.METHOD_NOT_ALLOWED: Rule(405, Binance(-1020, UNSUPPORTED, 405)),
    ErrorCode.BODY_TOO_LARGE: Rule(413, Binance(-1101, "Too many parameters sent for this endpoint.", 413)),
    ErrorCode.UNAUTHENTICATED: Rule(401, _UNAUTHORIZED),
    ErrorCode.INVALID_TOKEN: Rule(401, _UNAUTHORIZED),
    ErrorCode.TOKEN_EXPIRED: Rule(401, _UNAUTHORIZED),
    ErrorCode.FORBIDDEN: Rule(403, _UNAUTHORIZED),
    ErrorCode.RATE_LIMITED: Rule(429, Binance(-1003, TOO_MANY_REQUESTS, 429), retry_after=True),
    # (their messages are Binance's, with the limit and the window filled in)
    ErrorCode.REQUEST_WEIGHT_EXCEEDED: Rule(429, Binance(-1003, "{message}", 429), retry_after=True),
    ErrorCode.TOO_MANY_ORDERS: Rule(429, Binance(-1015, "{message}", 429), retry_after=True),
    ErrorCode.ADDRESS_BANNED: Rule(418, Binance(-1003, "{message}", 418), retry_after=True),
    ErrorCode.INVALID_LISTEN_KEY: Rule(400, Binance(-1125, "This listenKey does not exist.")),
    # -- WebSocket (no HTTP exchange; the status is for completeness) --
    ErrorCode.INVALID_MESSAGE: Rule(400, _UNKNOWN),
    ErrorCode.UNKNOWN_CHANNEL: Rule(400, _UNKNOWN),
    ErrorCode.TOO_MANY_SUBSCRIPTIONS: Rule(400, _UNKNOWN),
    ErrorCode.TOO_MANY_CLIENTS: Rule(503, Binance(-1003, TOO_MANY_REQUESTS, 429), retry_after=True),
    ErrorCode.SLOW_CONSUMER: Rule(400, _UNKNOWN),
    # -- the service --
    ErrorCode.NOT_READY: _NOT_AVAILABLE,
    ErrorCode.UNAVAILABLE: _NOT_AVAILABLE,
    ErrorCode.BUSY: Rule(503, Binance(-1008, OVERLOADED, 503), retry_after=True),
    ErrorCode.OUTCOME_UNKNOWN: Rule(503, Binance(-1007, OUTCOME_UNKNOWN, 503), retry_after=True),
    ErrorCode.INTERNAL_ERROR: Rule(500, Binance(-1000, UNKNOWN_MSG, 500)),
}


def status_of(code: ErrorCode) -> int:
    return ERRORS[code].status


def headers_of(error: TradeEngineError) -> dict[str, str]:
    """The headers an error answers with: `Retry-After` for the faults that pass."""
    if not ERRORS[error.code].retry_after:
        return {}
    seconds = error.detail("retry_after_seconds")
    return {"Retry-After": str(seconds if isinstance(seconds, int) else RETRY_AFTER_SECONDS)}


def envelope(error: TradeEngineError) -> dict[str, Any]:
    """The native API's error body."""
    body = {"code": error.code.value, "message": error.message, "details": error.details or None}
    return {"success": False, "error": body}


def internal_error() -> TradeEngineError:
    return TradeEngineError(ErrorCode.INTERNAL_ERROR, "an internal error occurred")
