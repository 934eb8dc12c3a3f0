"""The pure matching core: `Engine.apply(command) -> list[Event]`.

Theory of operation
-------------------
- One engine object owns every book, stop book, account and counter. It is used by one
  writer at a time and never does I/O, reads a clock or draws a random number: the
  timestamp of every command comes in with the command, and ids and sequence numbers are
  counted inside. The same commands therefore always produce the same events.
- A command is validated completely before anything changes. A rejected command returns
  exactly one `CommandRejected` event and leaves the engine as it was.
- Every change of state is announced by an event; persistence, APIs and market data are
  built from events alone.
"""

from trade_engine.engine.commands import (
    AddMarket,
    AmendOrder,
    CancelAllOrders,
    CancelOrder,
    CancelReplaceOrder,
    Command,
    Deposit,
    PlaceOrder,
    SetMarketStatus,
    Withdraw,
)
from trade_engine.engine.engine import Balance, Engine
from trade_engine.engine.events import (
    ENDED,
    ENDINGS,
    TRANSFERS,
    BookLevelChanged,
    CommandRejected,
    Event,
    FundsDeposited,
    FundsWithdrawn,
    MarketAdded,
    MarketStatusChanged,
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderExpired,
    OrderFilled,
    PartRejected,
    ReplaceRejected,
    StopTriggered,
    TradeExecuted,
)
from trade_engine.engine.order import Order

__all__ = [
    "ENDED",
    "ENDINGS",
    "TRANSFERS",
    "AddMarket",
    "AmendOrder",
    "Balance",
    "BookLevelChanged",
    "CancelAllOrders",
    "CancelOrder",
    "CancelReplaceOrder",
    "Command",
    "CommandRejected",
    "Deposit",
    "Engine",
    "Event",
    "FundsDeposited",
    "FundsWithdrawn",
    "MarketAdded",
    "MarketStatusChanged",
    "Order",
    "OrderAccepted",
    "OrderAmended",
    "OrderCancelled",
    "OrderExpired",
    "OrderFilled",
    "PartRejected",
    "PlaceOrder",
    "ReplaceRejected",
    "SetMarketStatus",
    "StopTriggered",
    "TradeExecuted",
    "Withdraw",
]
