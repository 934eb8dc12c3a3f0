"""The one error hierarchy of the trade engine: every rejection has a stable code.

Codes are part of the public contract (APIs return them, clients match on them), so a
code is never renamed; new failure kinds get new codes.
"""

from enum import StrEnum


class ErrorCode(StrEnum):
    # -- malformed numbers (edge conversion) --
    INVALID_NUMBER = "INVALID_NUMBER"
    NOT_FINITE = "NOT_FINITE"
    NEGATIVE_VALUE = "NEGATIVE_VALUE"
    ZERO_VALUE = "ZERO_VALUE"
    TOO_PRECISE = "TOO_PRECISE"
    OFF_TICK = "OFF_TICK"
    OFF_STEP = "OFF_STEP"
    VALUE_OUT_OF_RANGE = "VALUE_OUT_OF_RANGE"
    # -- order and market rules --
    INVALID_ORDER = "INVALID_ORDER"
    INVALID_MARKET = "INVALID_MARKET"
    QUANTITY_BELOW_MIN = "QUANTITY_BELOW_MIN"
    QUANTITY_ABOVE_MAX = "QUANTITY_ABOVE_MAX"
    PRICE_OUT_OF_RANGE = "PRICE_OUT_OF_RANGE"
    NOTIONAL_BELOW_MIN = "NOTIONAL_BELOW_MIN"
    UNKNOWN_MARKET = "UNKNOWN_MARKET"
    MARKET_EXISTS = "MARKET_EXISTS"
    UNKNOWN_ASSET = "UNKNOWN_ASSET"
    MARKET_HALTED = "MARKET_HALTED"
    MARKET_CANCEL_ONLY = "MARKET_CANCEL_ONLY"
    POST_ONLY_WOULD_TAKE = "POST_ONLY_WOULD_TAKE"
    STOP_WOULD_TRIGGER = "STOP_WOULD_TRIGGER"
    ORDER_NOT_AMENDABLE = "ORDER_NOT_AMENDABLE"
    # -- accounts --
    INSUFFICIENT_BALANCE = "INSUFFICIENT_BALANCE"
    BALANCE_LIMIT_EXCEEDED = "BALANCE_LIMIT_EXCEEDED"
    # -- identity --
    ORDER_NOT_FOUND = "ORDER_NOT_FOUND"
    DUPLICATE_CLIENT_ORDER_ID = "DUPLICATE_CLIENT_ORDER_ID"
    # A deposit or withdrawal reused an idempotency reference that an earlier transfer
    # took (forever: references are never freed).
    DUPLICATE_REFERENCE = "DUPLICATE_REFERENCE"


class TradeEngineError(Exception):
    """A rejected input or command. It carries a stable code and never a partial effect."""

    def __init__(self, code: ErrorCode, message: str, **details: object) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details

    def __repr__(self) -> str:
        return f"TradeEngineError({self.code.value!r}, {self.message!r})"
