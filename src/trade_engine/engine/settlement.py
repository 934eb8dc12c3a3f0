"""Settlement: the money of one fill, once matching has decided it.

Matching decides who trades how many lots at which price and takes the lots off both
orders' `remaining`; `settle` then does everything a fill does to money:

- fees: each order's running `fee_numer` grows by notional × its rate and the fill
  charges the increase of its rounded-up total (holds.py), maker and taker rate each;
- the orders' totals, `executed` and `filled_quote`;
- the buyer's slack: a limit buy held enough for its remaining lots at its limit price
  and the highest fee rate, so after a fill it releases what its new hold no longer
  needs (price improvement and the lower rate). A market buy spends from its budget
  and releases nothing per fill;
- the balance moves: buyer's locked quote pays the notional and its fee (and the slack
  goes back to available), seller's locked base goes to the buyer, the seller receives
  the notional less its fee, both fees go to the fee account;
- the trade id, and the `TradeExecuted` that states all of the above.

Owns: fill arithmetic and the balance moves of trades. Must not touch: books, order
`remaining`, matching decisions, stops.
"""

from trade_engine.domain.units import Lots, Minor, Ticks
from trade_engine.domain.vocabulary import BUY, FEE_ACCOUNT, FEE_SCALE
from trade_engine.engine import emit
from trade_engine.engine.accounts import Account
from trade_engine.engine.events import Event
from trade_engine.engine.holds import buy_hold
from trade_engine.engine.order import Order
from trade_engine.engine.state import EngineState, MarketState


def charge_fee(order: Order, notional: Minor, rate: int) -> Minor:
    """Add a fill's exact fee to the order's running total; return what the fill charges."""
    before = order.fee_numer
    after = before + notional * rate
    order.fee_numer = after
    return Minor(-(-after // FEE_SCALE) - (-(-before // FEE_SCALE)))


def buyer_slack(
    m: MarketState, buyer: Order, limit: Ticks, lots: Lots, fee_numer_before: int, notional: Minor, fee: Minor
) -> Minor:
    """What a limit buy's hold no longer needs after a fill of `lots` (its `remaining`
    and `fee_numer` already after it): the old hold less the new one and the fill's cost."""
    per, rate = m.quote_per_tick_lot, m.max_fee
    remaining = buyer.remaining
    held = buy_hold(Lots(remaining + lots), limit, per, fee_numer_before, rate)
    still_held = buy_hold(remaining, limit, per, buyer.fee_numer, rate)
    return Minor(held - still_held - notional - fee)


def move_funds(
    m: MarketState,
    buyer: Account,
    seller: Account,
    fee_account: Account,
    notional: Minor,
    base_amount: Minor,
    buyer_fee: Minor,
    seller_fee: Minor,
    released: Minor,
) -> None:
    """The balance moves of one fill (the ledger rules of `TradeExecuted`, events.py).

    The buyer's locked quote pays the notional, its fee and the released slack, which
    goes back to its available quote; the seller's locked base goes to the buyer; the
    seller gets the notional less its fee; both fees go to the fee account. The same
    account can be buyer and seller (no self-trade prevention): each line reads what the
    one before wrote."""
    quote, base = m.quote, m.base
    buyer_locked = buyer.locked
    buyer_locked[quote] -= notional + buyer_fee + released
    buyer_available = buyer.available
    if released:
        buyer_available[quote] += released
    buyer_available[base] = buyer_available.get(base, 0) + base_amount
    seller.locked[base] -= base_amount
    seller_available = seller.available
    seller_available[quote] = seller_available.get(quote, 0) + notional - seller_fee
    fee_available = fee_account.available
    fee_available[quote] = fee_available.get(quote, 0) + buyer_fee + seller_fee


def settle(
    state: EngineState,
    m: MarketState,
    maker: Order,
    taker: Order,
    taker_account: Account,
    price: Ticks,
    lots: Lots,
    from_budget: bool,
    ts: int,
    events: list[Event],
) -> Minor:
    """Settle a fill of `lots` at `price` and announce it. `from_budget`: the taker spends
    from a budget rather than its hold. Returns what the fill cost the taker: quote (fee
    included) for a buy, base for a sell."""
    notional = Minor(lots * price * m.quote_per_tick_lot)
    base_amount = Minor(lots * m.base_per_lot)
    maker_numer, taker_numer = maker.fee_numer, taker.fee_numer
    maker_fee = charge_fee(maker, notional, m.maker_fee)
    taker_fee = charge_fee(taker, notional, m.taker_fee)
    maker.executed = Lots(maker.executed + lots)
    maker.filled_quote = Minor(maker.filled_quote + notional)
    taker.executed = Lots(taker.executed + lots)
    taker.filled_quote = Minor(taker.filled_quote + notional)
    accounts = state.accounts
    maker_account = accounts[maker.user_id]
    if taker.side == BUY:
        buyer, seller = taker_account, maker_account
        buyer_fee, seller_fee = taker_fee, maker_fee
        if from_budget:
            released = Minor(0)
        else:
            released = buyer_slack(m, taker, taker.price, lots, taker_numer, notional, taker_fee)
        cost = Minor(notional + taker_fee)
    else:
        buyer, seller = maker_account, taker_account
        buyer_fee, seller_fee = maker_fee, taker_fee
        released = buyer_slack(m, maker, price, lots, maker_numer, notional, maker_fee)
        cost = base_amount
    move_funds(
        m, buyer, seller, state.account(FEE_ACCOUNT), notional, base_amount, buyer_fee, seller_fee, released
    )
    trade_id = state.next_trade_id
    state.next_trade_id = trade_id + 1
    m.seq += 1
    events.append(
        emit.trade_executed(
            maker,
            taker,
            ts=ts,
            seq=m.seq,
            trade_id=trade_id,
            price=price,
            quantity=lots,
            base_amount=base_amount,
            quote_amount=notional,
            maker_fee=maker_fee,
            taker_fee=taker_fee,
            buyer_released=released,
        )
    )
    return cost
