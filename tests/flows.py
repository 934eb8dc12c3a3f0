"""Random command flows shared by property, storage and end-to-end tests.

Two markets with different grids and fees, four users, and every kind of command
(limit orders of each time in force, post-only, market orders by quantity and by quote
amount, stops and take-profits, cancels, cancel-replaces, amends, cancel-all, deposits
and withdrawals),
with prices drawn close together so that orders cross often.
"""

import random

from trade_engine.domain.market import MarketSpec, market_from_spec
from trade_engine.domain.vocabulary import BUY, SELL
from trade_engine.engine import (
    AmendOrder,
    CancelAllOrders,
    CancelOrder,
    CancelReplaceOrder,
    Command,
    Deposit,
    PlaceOrder,
    Withdraw,
)

MARKETS = [
    market_from_spec(
        MarketSpec(
            symbol="BTC-USDT", tick_size="0.5", step_size="0.001", maker_fee="0.001", taker_fee="0.0025"
        )
    ),
    market_from_spec(
        MarketSpec(
            symbol="ETH-BTC",
            tick_size="0.0001",
            step_size="0.01",
            maker_fee="0",
            taker_fee="0.0007",
            stp_mode="EXPIRE_TAKER",
        )
    ),
]
USERS = ["u1", "u2", "u3", "u4"]
ASSETS = {"BTC": 10**11, "USDT": 10**13, "ETH": 10**12}


def random_command(rng: random.Random, ts: int, ids: list[tuple[int, str]]) -> Command:
    user = rng.choice(USERS)
    market = rng.choice(MARKETS)
    roll = rng.random()
    side = rng.choice((BUY, SELL))
    mid = 200 if market.symbol == "BTC-USDT" else 500
    price = mid + rng.randint(-6, 6)
    if roll < 0.35:
        return PlaceOrder(
            ts=ts,
            user_id=user,
            market=market.symbol,
            side=side,
            price=price,
            quantity=rng.randint(1, 40),
            time_in_force=rng.choice(("GTC", "GTC", "IOC", "FOK")),
            post_only=rng.random() < 0.1,
            client_order_id=rng.choice((None, None, f"c{rng.randint(1, 5)}")),
            stp_mode=rng.choice((None, "NONE", "EXPIRE_MAKER", "EXPIRE_BOTH")),
        )
    if roll < 0.45:
        by_quote = rng.random() < 0.5
        return PlaceOrder(
            ts=ts,
            user_id=user,
            market=market.symbol,
            side=side,
            order_type="MARKET",
            quantity=0 if by_quote else rng.randint(1, 60),
            quote_quantity=rng.randint(1, 10**8) if by_quote else 0,
        )
    if roll < 0.55:
        limit = rng.random() < 0.5
        take_profit = rng.random() < 0.5
        # Away from the price in the direction the order fires: a stop buys on a rise,
        # a take-profit on a fall (and sells the other way round).
        rises = (side == BUY) != take_profit
        stop = price + (rng.randint(1, 5) if rises else -rng.randint(1, 5))
        kind = "TAKE_PROFIT" if take_profit else "STOP"
        return PlaceOrder(
            ts=ts,
            user_id=user,
            market=market.symbol,
            side=side,
            order_type=f"{kind}_LIMIT" if limit else f"{kind}_MARKET",
            price=stop if limit else 0,
            stop_price=stop,
            quantity=rng.randint(1, 30),
        )
    if roll < 0.72 and ids:
        order_id, owner = rng.choice(ids)
        if rng.random() < 0.25:
            new = PlaceOrder(
                ts=ts,
                user_id=owner,
                market=market.symbol,
                side=side,
                price=price,
                quantity=rng.randint(1, 40),
            )
            allow_failure = rng.random() < 0.5
            return CancelReplaceOrder(
                ts=ts, user_id=owner, cancel_order_id=order_id, place=new, allow_failure=allow_failure
            )
        return CancelOrder(ts=ts, user_id=owner, order_id=order_id)
    if roll < 0.85 and ids:
        order_id, owner = rng.choice(ids)
        if rng.random() < 0.5:
            return AmendOrder(ts=ts, user_id=owner, order_id=order_id, quantity=rng.randint(1, 40))
        return AmendOrder(ts=ts, user_id=owner, order_id=order_id, price=price)
    if roll < 0.88:
        return CancelAllOrders(ts=ts, user_id=user, market=rng.choice((None, market.symbol)))
    asset = rng.choice(list(ASSETS))
    amount = rng.randint(1, ASSETS[asset] // 10)
    if roll < 0.94:
        return Deposit(ts=ts, user_id=user, asset=asset, amount=amount)
    return Withdraw(ts=ts, user_id=user, asset=asset, amount=amount)
