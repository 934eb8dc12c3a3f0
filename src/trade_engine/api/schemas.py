"""Request and response bodies of the native API (msgspec structs: validated, documented).

Amounts travel as decimal strings in both directions; a JSON number where a decimal
string belongs is refused, so no client ever loses precision to a float.
"""

from typing import Annotated, Any, Generic, Literal, TypeVar

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

from trade_engine.domain import identifiers
from trade_engine.domain.identifiers import whole
from trade_engine.domain.lifecycle import OrderChange
from trade_engine.domain.market import MarketSpec
from trade_engine.domain.money import DecimalText
from trade_engine.domain.order_meta import OrderMeta

T = TypeVar("T")

# The grammar is stated for clients, and enforced by the domain's parser (money.py), which
# says precisely what is wrong (INVALID_NUMBER, NOT_FINITE, NEGATIVE_VALUE ...).
Decimal = DecimalText
ClientOrderId = Annotated[str, Meta(pattern=whole(identifiers.CLIENT_ORDER_ID))]
Reference = Annotated[str, Meta(pattern=whole(identifiers.REFERENCE))]
UserId = Annotated[str, Meta(pattern=whole(identifiers.USER_ID))]
Symbol = Annotated[str, Meta(pattern=whole(identifiers.SYMBOL), examples=["BTC-USDT"])]
Asset = Annotated[str, Meta(pattern=whole(identifiers.ASSET))]


OrderTypeName = Annotated[
    Literal["LIMIT", "MARKET", "STOP_LIMIT", "STOP_MARKET", "TAKE_PROFIT_LIMIT", "TAKE_PROFIT_MARKET"],
    Meta(
        description=(
            "STOP_* and TAKE_PROFIT_* wait until the last trade price reaches `stop_price`, then act "
            "as a LIMIT (`_LIMIT`, with `price`) or a MARKET order (`_MARKET`). A stop buys when the "
            "price rises to `stop_price` and sells when it falls to it; a take-profit buys when the "
            "price falls to it and sells when it rises to it."
        )
    ),
]


class PlaceOrderBody(Struct, kw_only=True, forbid_unknown_fields=True):
    market: Symbol
    side: Literal["BUY", "SELL"]
    type: OrderTypeName = "LIMIT"
    time_in_force: Literal["GTC", "IOC", "FOK"] = "GTC"
    quantity: Decimal | None = None
    quote_quantity: Decimal | None = None
    price: Decimal | None = None
    stop_price: Decimal | None = None
    client_order_id: ClientOrderId | None = None
    stp_mode: Literal["NONE", "EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"] | None = None
    post_only: bool = False
    meta: OrderMeta | None = None  # labels of the caller's own, returned with the order


class AmendOrderBody(Struct, kw_only=True, forbid_unknown_fields=True):
    """The new price and/or total quantity: at least one of them."""

    price: Decimal | UnsetType = UNSET
    quantity: Decimal | UnsetType = UNSET


# An amendment names at least one change (the router decodes bodies into this type, and
# the OpenAPI document says the same).
AmendOrderRequest = Annotated[AmendOrderBody, Meta(extra_json_schema={"minProperties": 1})]


class TransferBody(Struct, kw_only=True, forbid_unknown_fields=True):
    user_id: UserId
    asset: Asset
    amount: Decimal
    reference: Reference | None = None


class MarketBody(MarketSpec, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A market to add, as in the configuration file."""


class ApiKeyBody(Struct, kw_only=True, forbid_unknown_fields=True):
    user_id: UserId
    permissions: Annotated[list[Literal["read", "trade"]], Meta(min_length=1)] = msgspec.field(
        default_factory=lambda: ["read", "trade"]
    )
    # Printable text only: PostgreSQL cannot store NUL, and labels are shown to operators.
    label: Annotated[str, Meta(max_length=100, pattern=whole(identifiers.PRINTABLE))] = ""


# -- responses --


class Envelope(Struct, Generic[T], kw_only=True):
    """`{"success": true, "data": ...}`; errors use the same envelope (api/errors.py)."""

    success: bool = True
    data: T


class HealthView(Struct, kw_only=True):
    status: Literal["ok"]


class ReadyView(Struct, kw_only=True):
    """Ready: recovered and verified, taking orders, and the database answers."""

    ready: bool
    recovered: bool
    database: bool
    accepting_orders: bool


class ErrorBody(Struct, kw_only=True):
    code: Annotated[str, Meta(examples=["ORDER_NOT_FOUND"])]
    message: str
    details: Any = None


class ErrorEnvelope(Struct, kw_only=True):
    """`{"success": false, "error": {"code", "message", "details"}}` (api/errors.py)."""

    success: bool = False
    error: ErrorBody


class Fill(Struct, kw_only=True):
    trade_id: int
    price: str
    quantity: str
    quote_amount: str
    fee: str
    fee_asset: str
    role: Literal["MAKER", "TAKER"]
    time: int


class OrderView(Struct, kw_only=True):
    order_id: int
    client_order_id: str | None
    market: str
    side: str
    type: str
    time_in_force: str
    status: str
    reason: str | None
    price: str | None
    stop_price: str | None
    quantity: str | None
    quote_quantity: str | None
    executed_quantity: str
    executed_quote: str
    fee: str
    fee_asset: str
    post_only: bool
    stp_mode: str
    created_at: int
    updated_at: int
    fills: list[Fill] | None = None
    meta: OrderMeta | UnsetType = UNSET  # absent when the order has no labels


class OrderUpdateView(Struct, kw_only=True, omit_defaults=True):
    """One change of one of the user's orders. Terms are given in full with `NEW`;
    later updates carry what changed. Cumulative `executed_*` and `fee` are always set."""

    order_id: int
    market: str
    side: str
    event: OrderChange
    status: str
    time: int
    executed_quantity: str
    executed_quote: str
    fee: str
    fee_asset: str
    client_order_id: str | None = None
    type: str | None = None
    time_in_force: str | None = None
    price: str | None = None
    stop_price: str | None = None
    quantity: str | None = None
    quote_quantity: str | None = None
    post_only: bool | None = None
    stp_mode: str | None = None
    remaining_quantity: str | None = None
    priority_kept: bool | None = None
    reason: str | None = None
    trade: Fill | None = None
    meta: OrderMeta | None = None


class OrderPage(Struct, kw_only=True):
    orders: list[OrderView]
    total: int
    limit: int
    offset: int
    has_more: bool


class FillView(Struct, kw_only=True):
    trade_id: int
    order_id: int
    market: str
    side: str
    role: Literal["MAKER", "TAKER"]
    price: str
    quantity: str
    quote_amount: str
    fee: str
    fee_asset: str
    time: int


class FillPage(Struct, kw_only=True):
    fills: list[FillView]
    total: int
    limit: int
    offset: int
    has_more: bool


class BalanceView(Struct, kw_only=True):
    asset: str
    available: str
    locked: str
    total: str


class CancelAllView(Struct, kw_only=True):
    cancelled: list[int]


class MarketView(Struct, kw_only=True):
    symbol: str
    base: str
    quote: str
    status: str
    tick_size: str
    step_size: str
    min_price: str
    max_price: str
    min_quantity: str
    max_quantity: str
    min_notional: str
    maker_fee: str
    taker_fee: str
    stp_mode: str


class DepthView(Struct, kw_only=True):
    market: str
    sequence: int
    bids: list[tuple[str, str]]
    asks: list[tuple[str, str]]


class TradeView(Struct, kw_only=True):
    trade_id: int
    price: str
    quantity: str
    quote_amount: str
    taker_side: str
    time: int


class TradePage(Struct, kw_only=True):
    trades: list[TradeView]
    total: int
    limit: int
    offset: int
    has_more: bool


class CandleView(Struct, kw_only=True):
    open_time: int
    close_time: int
    open: str | None
    high: str | None
    low: str | None
    close: str | None
    volume: str
    quote_volume: str
    trades: int


class TickerView(Struct, kw_only=True):
    market: str
    open: str | None
    high: str | None
    low: str | None
    last: str | None
    volume: str
    quote_volume: str
    change: str | None
    change_percent: str | None
    best_bid: str | None
    best_ask: str | None
    trades: int
    open_time: int
    close_time: int


class TransferView(Struct, kw_only=True):
    transfer_id: int
    user_id: str
    asset: str
    amount: str
    kind: Literal["DEPOSIT", "WITHDRAWAL"]
    reference: str | None
    balance: BalanceView
    replayed: bool = False


class ApiKeyCreated(Struct, kw_only=True):
    api_key: str
    secret: str
    user_id: str
    permissions: list[str]
    label: str


class ApiKeyView(Struct, kw_only=True):
    api_key: str
    user_id: str
    permissions: list[str]
    label: str
    created_at: int
    revoked_at: int | None
