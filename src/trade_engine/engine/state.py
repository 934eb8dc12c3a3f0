"""The engine's state, which every stage reads and changes: `EngineState` and, per market,
`MarketState`.

This module owns the shape of the state and nothing else: no rules, no events. Each
stage module says which parts it changes. The state is native (mypyc) classes so that
the stages read it as memory loads rather than dictionary lookups.
"""

from trade_engine.domain.market import Market
from trade_engine.domain.units import Lots, Minor, Ticks
from trade_engine.domain.vocabulary import BUY, MAX_AMOUNT, SELL
from trade_engine.engine.accounts import Account
from trade_engine.engine.book import BookSide
from trade_engine.engine.stopbook import StopBook


class MarketState:
    """A market's rules, status, books, stop book and counters."""

    __slots__ = (
        "asks",
        "base",
        "base_per_lot",
        "bids",
        "last_price",
        "maker_fee",
        "market",
        "max_fee",
        "max_price",
        "max_quantity",
        "min_notional",
        "min_price",
        "min_quantity",
        "quote",
        "quote_per_tick_lot",
        "seq",
        "status",
        "stops",
        "stp_mode",
        "symbol",
        "taker_fee",
        "touched",
        "trade_high",
        "trade_low",
    )

    def __init__(self, market: Market) -> None:
        self.market = market
        # The rules again as native attributes: read on every command, and reading a
        # compiled class's attribute is far cheaper than reading a msgspec struct's.
        self.symbol = market.symbol
        self.base = market.base
        self.quote = market.quote
        # Quote minor units of one lot at one tick, and base minor units of one lot.
        self.quote_per_tick_lot = market.quote_per_tick_lot
        self.base_per_lot = market.base_per_lot
        self.min_price = Ticks(market.min_price)
        self.max_price = Ticks(market.max_price)
        self.min_quantity = Lots(market.min_quantity)
        self.max_quantity = Lots(market.max_quantity)
        self.min_notional = Minor(market.min_notional)
        # Fee rates in millionths (FEE_SCALE).
        self.maker_fee = market.maker_fee
        self.taker_fee = market.taker_fee
        self.max_fee = max(market.maker_fee, market.taker_fee)
        self.stp_mode = market.stp_mode
        self.status = market.status
        self.seq = 0
        self.bids = BookSide(BUY, 1)
        self.asks = BookSide(SELL, -1)
        self.stops = StopBook()
        self.last_price = Ticks(0)
        # Highest and lowest trade price of the current command (stops compare them).
        self.trade_high = Ticks(0)
        self.trade_low = Ticks(MAX_AMOUNT)
        # Book keys (price for bids, -price for asks) changed by the current command.
        self.touched: dict[int, None] = {}

    def book(self, side: str) -> BookSide:
        """The side of the book where orders of `side` rest."""
        return self.bids if side == BUY else self.asks

    def opposite(self, side: str) -> BookSide:
        """The side of the book that orders of `side` trade against."""
        return self.asks if side == BUY else self.bids

    def held_asset(self, side: str) -> str:
        """What an order of `side` holds: quote for buys, base for sells."""
        return self.quote if side == BUY else self.base


class EngineState:
    """Everything one engine owns besides its markets' books: accounts, assets, the
    supply, transfer references and the engine-wide id counters."""

    __slots__ = (
        "accounts",
        "assets",
        "markets",
        "next_order_id",
        "next_trade_id",
        "next_transfer_id",
        "references",
        "supply",
    )

    def __init__(self) -> None:
        self.markets: dict[str, MarketState] = {}
        self.accounts: dict[str, Account] = {}
        # Asset -> its decimals, as the first market that used it gave them.
        self.assets: dict[str, int] = {}
        # Per asset: deposits minus withdrawals, which every balance must add up to.
        self.supply: dict[str, int] = {}
        # Transfer references (idempotency keys) taken, and by which transfer: forever.
        self.references: dict[str, int] = {}
        self.next_order_id = 1
        self.next_trade_id = 1
        self.next_transfer_id = 1

    def account(self, user_id: str) -> Account:
        """The user's account, opened empty on first use."""
        account = self.accounts.get(user_id)
        if account is None:
            account = self.accounts[user_id] = Account()
        return account
