"""Commands: what a caller asks the engine to do, already converted to engine integers.

Every command carries `ts`, its time in Unix nanoseconds, stamped by the sequencer; the
engine never asks a clock. Amounts are integers: prices in ticks, quantities in lots,
quote amounts and asset amounts in minor units (see `trade_engine.domain.market`).
"""

import msgspec

from trade_engine.domain.market import Market
from trade_engine.domain.order_meta import OrderMeta
from trade_engine.domain.vocabulary import GTC, LIMIT


class Command(msgspec.Struct, frozen=True, kw_only=True, tag=True):
    ts: int


class PlaceOrder(Command, frozen=True):
    """Place an order.

    `quantity` (lots) or, for MARKET orders and STOP_MARKET / TAKE_PROFIT_MARKET buys,
    `quote_quantity` (quote minor units: spend that much when buying, receive that much
    when selling) sets the size. `price` is the limit price (LIMIT, STOP_LIMIT,
    TAKE_PROFIT_LIMIT); `stop_price` the trigger price of the four conditional types,
    whose type also says which way the price must move to reach it (vocabulary.py).
    `stp_mode` None means the market's default. `meta`: the caller's labels, which the
    engine carries to `OrderAccepted` and otherwise ignores.
    """

    user_id: str
    market: str
    side: str
    order_type: str = LIMIT
    time_in_force: str = GTC
    quantity: int = 0
    quote_quantity: int = 0
    price: int = 0
    stop_price: int = 0
    client_order_id: str | None = None
    stp_mode: str | None = None
    post_only: bool = False
    meta: OrderMeta | None = None


class CancelOrder(Command, frozen=True):
    """Cancel one open order (or pending stop), named by id or by client order id.

    `only_status` (NEW or PARTIALLY_FILLED; Binance's `cancelRestrictions`) cancels the
    order only if that is its status when the engine gets to it: otherwise the command
    is refused with CANCEL_RESTRICTED, decided against the engine's own state, so no
    fill can slip between the check and the cancel. `cancel_request_id` is the cancel's
    own client id (Binance's `newClientOrderId` of a cancel), carried to its event so
    that every stream of it names the cancel as its answer does."""

    user_id: str
    order_id: int | None = None
    client_order_id: str | None = None
    only_status: str | None = None
    cancel_request_id: str | None = None


class CancelAllOrders(Command, frozen=True):
    """Cancel every open order and pending stop of a user, optionally in one market."""

    user_id: str
    market: str | None = None


class AmendOrder(Command, frozen=True):
    """Change the price and/or the total quantity of a resting limit order.

    Reducing the quantity keeps time priority; a new price or a larger quantity re-enters
    the book at the back of its level and may cross, filling at the makers' prices.
    """

    user_id: str
    order_id: int | None = None
    client_order_id: str | None = None
    price: int | None = None
    quantity: int | None = None


class CancelReplaceOrder(Command, frozen=True):
    """Cancel one open order and place a new one in its market, as one command: no
    other command comes between the two, and the new order may use what the cancelled
    one held (Binance's `order/cancelReplace`).

    `cancel_order_id` or `cancel_client_order_id` names the order to cancel, which must
    be the user's and in `place.market`; `place` is the new order, for the same user
    (its `ts` is the command's). The cancel goes first. With `allow_failure` false
    (Binance's STOP_ON_FAILURE) a refused cancel refuses the whole command and the new
    order is not tried; with it true (ALLOW_FAILURE) the new order is tried all the
    same. A new order refused after its cancel went through leaves the cancel done. A
    `PartRejected` event names the part refused while the other went through; both
    refused is a `ReplaceRejected`. `cancel_only_status` restricts the cancel as
    `CancelOrder.only_status` does; a cancel it refuses is a refused cancel like any.
    `cancel_request_id` is the cancel's own client id, as `CancelOrder`'s.
    """

    user_id: str
    place: PlaceOrder
    cancel_order_id: int | None = None
    cancel_client_order_id: str | None = None
    allow_failure: bool = False
    cancel_only_status: str | None = None
    cancel_request_id: str | None = None


class Deposit(Command, frozen=True):
    """Credit funds from outside (the operator's wallet system).

    `reference` is the caller's idempotency key: the engine refuses a reference that an
    earlier transfer (deposit or withdrawal) took, with DUPLICATE_REFERENCE naming it.
    """

    user_id: str
    asset: str
    amount: int
    reference: str | None = None


class Withdraw(Command, frozen=True):
    user_id: str
    asset: str
    amount: int
    reference: str | None = None


class AddMarket(Command, frozen=True):
    market: Market


class SetMarketStatus(Command, frozen=True):
    """Halt, resume or restrict a market to cancels only."""

    market: str
    status: str
