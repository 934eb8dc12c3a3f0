"""The ledger: every balance movement an event causes, with its cause.

Events are the source of truth; this module spells out, as data, what each one does to
balances (the rules in events.py). Storage writes these movements as ledger entries,
and tests fold them over whole histories to check they reproduce every balance.

Double entry: within one event the movements of an asset sum to zero (a hold moves
funds between available and locked of one account; a trade moves base and quote
between accounts and fees to the fee account). Deposits and withdrawals are the only
movements against the world outside, so per asset the sum of all balances is deposits
minus withdrawals.
"""

from collections.abc import Callable
from typing import Final, NamedTuple

from trade_engine.domain.vocabulary import BUY, FEE_ACCOUNT
from trade_engine.engine.events import (
    ENDED,
    Event,
    FundsDeposited,
    FundsWithdrawn,
    OrderAccepted,
    OrderAmended,
    StopTriggered,
    TradeExecuted,
)

DEPOSIT: Final = "DEPOSIT"
WITHDRAWAL: Final = "WITHDRAWAL"
HOLD: Final = "HOLD"
RELEASE: Final = "RELEASE"
TRADE: Final = "TRADE"
FEE: Final = "FEE"


class Movement(NamedTuple):
    user_id: str
    asset: str
    available: int  # change of the available balance
    locked: int  # change of the locked balance
    kind: str


# Events that change a hold by `hold_change` (a tuple for `isinstance`: events.ENDED).
_HOLD_CHANGES: Final = (OrderAmended, StopTriggered)

# market symbol -> (base asset, quote asset)
AssetsOf = Callable[[str], tuple[str, str]]


def movements(event: Event, assets_of: AssetsOf) -> list[Movement]:
    """The balance movements `event` causes (none for events that move no funds)."""
    if isinstance(event, TradeExecuted):
        return _trade(event, *assets_of(event.market))
    if isinstance(event, OrderAccepted):
        return _hold(event.user_id, _held(event.side, event.market, assets_of), event.hold)
    if isinstance(event, _HOLD_CHANGES):
        return _hold(event.user_id, _held(event.side, event.market, assets_of), event.hold_change)
    if isinstance(event, ENDED):
        return _hold(event.user_id, _held(event.side, event.market, assets_of), -event.released)
    if isinstance(event, FundsDeposited):
        return [Movement(event.user_id, event.asset, event.amount, 0, DEPOSIT)]
    if isinstance(event, FundsWithdrawn):
        return [Movement(event.user_id, event.asset, -event.amount, 0, WITHDRAWAL)]
    return []


def _held(side: str, market: str, assets_of: AssetsOf) -> str:
    """Buys hold quote, sells hold base."""
    base, quote = assets_of(market)
    return quote if side == BUY else base


def _hold(user_id: str, asset: str, amount: int) -> list[Movement]:
    """Positive: available -> locked (a hold); negative: locked -> available (a release)."""
    if amount > 0:
        return [Movement(user_id, asset, -amount, amount, HOLD)]
    if amount < 0:
        return [Movement(user_id, asset, -amount, amount, RELEASE)]
    return []


def _trade(trade: TradeExecuted, base: str, quote: str) -> list[Movement]:
    if trade.taker_side == BUY:
        buyer, seller = trade.taker_user_id, trade.maker_user_id
        buyer_fee, seller_fee = trade.taker_fee, trade.maker_fee
    else:
        buyer, seller = trade.maker_user_id, trade.taker_user_id
        buyer_fee, seller_fee = trade.maker_fee, trade.taker_fee
    result = [
        Movement(buyer, quote, 0, -(trade.quote_amount + buyer_fee), TRADE),
        Movement(buyer, base, trade.base_amount, 0, TRADE),
        Movement(seller, base, 0, -trade.base_amount, TRADE),
        Movement(seller, quote, trade.quote_amount - seller_fee, 0, TRADE),
    ]
    if trade.maker_fee + trade.taker_fee:
        result.append(Movement(FEE_ACCOUNT, quote, trade.maker_fee + trade.taker_fee, 0, FEE))
    result += _hold(buyer, quote, -trade.buyer_released)
    return result
