"""Names of sides, order types, time-in-force, self-trade prevention and market status.

They are plain string constants (not Enum members) because the matching loop compares
them millions of times a second and they go to JSON unchanged; the `Literal` aliases
give the type checker the same precision an Enum would.
"""

from typing import Final, Literal

Side = Literal["BUY", "SELL"]
BUY: Final = "BUY"
SELL: Final = "SELL"
SIDES: Final[frozenset[str]] = frozenset({BUY, SELL})

OrderType = Literal["LIMIT", "MARKET", "STOP_LIMIT", "STOP_MARKET", "TAKE_PROFIT_LIMIT", "TAKE_PROFIT_MARKET"]
LIMIT: Final = "LIMIT"
MARKET: Final = "MARKET"
# Conditional orders wait (pending) until the last trade price reaches their stop price,
# then act as a LIMIT or a MARKET order. A stop (stop-loss) buys when the price rises to
# the stop price and sells when it falls to it; a take-profit is the other way round: it
# buys when the price falls to the stop price and sells when it rises to it.
STOP_LIMIT: Final = "STOP_LIMIT"
STOP_MARKET: Final = "STOP_MARKET"
TAKE_PROFIT_LIMIT: Final = "TAKE_PROFIT_LIMIT"
TAKE_PROFIT_MARKET: Final = "TAKE_PROFIT_MARKET"
ORDER_TYPES: Final[frozenset[str]] = frozenset(
    {LIMIT, MARKET, STOP_LIMIT, STOP_MARKET, TAKE_PROFIT_LIMIT, TAKE_PROFIT_MARKET}
)
CONDITIONAL_TYPES: Final[frozenset[str]] = frozenset(
    {STOP_LIMIT, STOP_MARKET, TAKE_PROFIT_LIMIT, TAKE_PROFIT_MARKET}
)

TimeInForce = Literal["GTC", "IOC", "FOK"]
GTC: Final = "GTC"
IOC: Final = "IOC"
FOK: Final = "FOK"
TIMES_IN_FORCE: Final[frozenset[str]] = frozenset({GTC, IOC, FOK})

StpMode = Literal["NONE", "EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"]
STP_NONE: Final = "NONE"
EXPIRE_TAKER: Final = "EXPIRE_TAKER"
EXPIRE_MAKER: Final = "EXPIRE_MAKER"
EXPIRE_BOTH: Final = "EXPIRE_BOTH"
STP_MODES: Final[frozenset[str]] = frozenset({STP_NONE, EXPIRE_TAKER, EXPIRE_MAKER, EXPIRE_BOTH})

MarketStatus = Literal["TRADING", "HALT", "CANCEL_ONLY"]
TRADING: Final = "TRADING"
HALT: Final = "HALT"
CANCEL_ONLY: Final = "CANCEL_ONLY"
MARKET_STATUSES: Final[frozenset[str]] = frozenset({TRADING, HALT, CANCEL_ONLY})

# Why an order left the book (or never rested) without being filled.
ExpiryReason = Literal[
    "IOC_REMAINDER",
    "FOK_NOT_FILLABLE",
    "NO_LIQUIDITY",
    "INSUFFICIENT_FUNDS",
    "SELF_TRADE_PREVENTION",
]
CancelReason = Literal["USER", "CANCEL_ALL"]

# The account that receives every maker and taker fee.
FEE_ACCOUNT: Final = "exchange:fees"

# Fee rates are integers in millionths (1_000 = 0.1%).
FEE_SCALE: Final = 1_000_000

# Largest amount of any asset, in minor units, that the engine will hold in one balance
# or move in one trade: keeps every stored number inside a signed 64-bit column.
MAX_AMOUNT: Final = 2**62
