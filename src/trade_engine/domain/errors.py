"""The one error type of the trade engine, and every code it can carry.

Every failure anywhere — a refused command, a malformed request, a failed token, a
database that is down — is a `TradeEngineError` with an `ErrorCode`, from the engine to
the wire. How each code answers on each API (HTTP status, Binance code and message,
Retry-After) is one table: `trade_engine.edge.errors`.

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
    MARKET_STATUS_UNCHANGED = "MARKET_STATUS_UNCHANGED"  # the market already has that status
    POST_ONLY_WOULD_TAKE = "POST_ONLY_WOULD_TAKE"
    STOP_WOULD_TRIGGER = "STOP_WOULD_TRIGGER"
    ORDER_NOT_AMENDABLE = "ORDER_NOT_AMENDABLE"
    # A cancel restricted to an order status (NEW or PARTIALLY_FILLED) the order has not.
    CANCEL_RESTRICTED = "CANCEL_RESTRICTED"
    # -- accounts --
    INSUFFICIENT_BALANCE = "INSUFFICIENT_BALANCE"
    BALANCE_LIMIT_EXCEEDED = "BALANCE_LIMIT_EXCEEDED"
    # -- identity --
    ORDER_NOT_FOUND = "ORDER_NOT_FOUND"
    DUPLICATE_CLIENT_ORDER_ID = "DUPLICATE_CLIENT_ORDER_ID"
    # A deposit or withdrawal reused an idempotency reference that an earlier transfer
    # took (forever: references are never freed).
    DUPLICATE_REFERENCE = "DUPLICATE_REFERENCE"
    ORDER_NOT_OPEN = "ORDER_NOT_OPEN"  # it exists, but is filled, cancelled or expired
    # -- requests (the edge) --
    VALIDATION_ERROR = "VALIDATION_ERROR"
    NOT_FOUND = "NOT_FOUND"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    BODY_TOO_LARGE = "BODY_TOO_LARGE"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    INVALID_TOKEN = "INVALID_TOKEN"
    TOKEN_EXPIRED = "TOKEN_EXPIRED"
    FORBIDDEN = "FORBIDDEN"
    RATE_LIMITED = "RATE_LIMITED"
    # Binance's limits (the Binance-compatible API): request weight per address, new
    # orders per user, and the ban of an address that kept on after being refused.
    REQUEST_WEIGHT_EXCEEDED = "REQUEST_WEIGHT_EXCEEDED"
    TOO_MANY_ORDERS = "TOO_MANY_ORDERS"
    ADDRESS_BANNED = "ADDRESS_BANNED"
    # A listen key (Binance's user-data stream) that does not exist, expired or was closed.
    INVALID_LISTEN_KEY = "INVALID_LISTEN_KEY"
    # -- WebSocket --
    INVALID_MESSAGE = "INVALID_MESSAGE"
    UNKNOWN_CHANNEL = "UNKNOWN_CHANNEL"
    TOO_MANY_SUBSCRIPTIONS = "TOO_MANY_SUBSCRIPTIONS"
    TOO_MANY_CLIENTS = "TOO_MANY_CLIENTS"
    SLOW_CONSUMER = "SLOW_CONSUMER"
    # -- the service itself: these pass, so they come with Retry-After --
    NOT_READY = "NOT_READY"  # still recovering
    UNAVAILABLE = "UNAVAILABLE"  # storage down, or shutting down: not applied, retry
    BUSY = "BUSY"  # too many commands in flight
    # The command reached the database, which then could not confirm it committed.
    OUTCOME_UNKNOWN = "OUTCOME_UNKNOWN"
    INTERNAL_ERROR = "INTERNAL_ERROR"  # a bug


class TradeEngineError(Exception):
    """A refused input, command or request. It carries a stable code and never a partial
    effect. `details` (JSON values) tell the caller more: the fields given as keywords
    (`field="price"`), or a value given as `details` (a list of validation failures)."""

    def __init__(self, code: ErrorCode, message: str, *, details: object = None, **fields: object) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details: object = details if details is not None else fields

    def detail(self, name: str) -> object:
        """One named detail, if the details are named."""
        return self.details.get(name) if isinstance(self.details, dict) else None

    def __repr__(self) -> str:
        return f"TradeEngineError({self.code.value!r}, {self.message!r})"
