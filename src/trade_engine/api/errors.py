"""API errors: the envelope, and the one table from error codes to HTTP statuses."""

from typing import Any, Final

from trade_engine.domain.errors import ErrorCode

# Every engine/domain code, by the HTTP status it answers with.
STATUS_OF: Final[dict[str, int]] = {
    **{
        code.value: 400
        for code in (
            ErrorCode.INVALID_NUMBER,
            ErrorCode.NOT_FINITE,
            ErrorCode.NEGATIVE_VALUE,
            ErrorCode.ZERO_VALUE,
            ErrorCode.TOO_PRECISE,
            ErrorCode.OFF_TICK,
            ErrorCode.OFF_STEP,
            ErrorCode.VALUE_OUT_OF_RANGE,
            ErrorCode.INVALID_ORDER,
            ErrorCode.INVALID_MARKET,
            ErrorCode.QUANTITY_BELOW_MIN,
            ErrorCode.QUANTITY_ABOVE_MAX,
            ErrorCode.PRICE_OUT_OF_RANGE,
            ErrorCode.NOTIONAL_BELOW_MIN,
            ErrorCode.UNKNOWN_ASSET,
        )
    },
    ErrorCode.UNKNOWN_MARKET.value: 404,
    ErrorCode.ORDER_NOT_FOUND.value: 404,
    ErrorCode.DUPLICATE_CLIENT_ORDER_ID.value: 409,
    ErrorCode.DUPLICATE_REFERENCE.value: 409,
    ErrorCode.MARKET_EXISTS.value: 409,
    **{
        code.value: 422
        for code in (
            ErrorCode.INSUFFICIENT_BALANCE,
            ErrorCode.BALANCE_LIMIT_EXCEEDED,
            ErrorCode.POST_ONLY_WOULD_TAKE,
            ErrorCode.STOP_WOULD_TRIGGER,
            ErrorCode.MARKET_HALTED,
            ErrorCode.MARKET_CANCEL_ONLY,
            ErrorCode.ORDER_NOT_AMENDABLE,
        )
    },
    # Codes of the API layer itself.
    "VALIDATION_ERROR": 400,
    "UNAUTHENTICATED": 401,
    "INVALID_TOKEN": 401,
    "TOKEN_EXPIRED": 401,
    "FORBIDDEN": 403,
    "NOT_FOUND": 404,
    "METHOD_NOT_ALLOWED": 405,
    "ORDER_NOT_OPEN": 409,
    "BODY_TOO_LARGE": 413,
    "RATE_LIMITED": 429,
    "INTERNAL_ERROR": 500,
    "NOT_READY": 503,
    "UNAVAILABLE": 503,
    "BUSY": 503,
    # The command reached the database, which then could not confirm it committed:
    # look it up by the ids in `details` once the service answers again.
    "OUTCOME_UNKNOWN": 503,
}
RETRY_AFTER_SECONDS: Final = "1"


class ApiError(Exception):
    """An error answered with the standard envelope."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        details: Any = None,
        headers: dict[str, str] | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details
        self.headers = headers or {}
        self.status = status if status is not None else STATUS_OF.get(code, 400)
        if self.status == 503:
            # Every 503 says when to come back: these faults pass.
            self.headers.setdefault("Retry-After", RETRY_AFTER_SECONDS)


def envelope(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"success": False, "error": {"code": code, "message": message, "details": details}}
