"""Markets shared by the property tests.

Small tick/step products (`quote_per_tick_lot` of 1 and 5) keep every notional small, so
fee rounding is exercised on almost every fill, and `base_per_lot` differs from 1 so unit
mix-ups between lots and base minor units show up in the balances.

- BTC-USDT: BTC 4 decimals, USDT 4 decimals; 1 lot = 100 BTC units; maker 0.1%,
  taker 0.2%; at most 30 lots; min notional 100 USDT units; default STP EXPIRE_MAKER.
- ETH-BTC: ETH 3 decimals, BTC 4 decimals; 1 lot = 500 ETH units; maker 0.3% above
  taker 0.15% (the buy hold uses the larger rate); default STP EXPIRE_TAKER.
"""

from trade_engine.domain.market import Market, MarketSpec, market_from_spec

BTC_USDT = market_from_spec(
    MarketSpec(
        symbol="BTC-USDT",
        tick_size="0.01",
        step_size="0.01",
        base_decimals=4,
        quote_decimals=4,
        max_quantity="0.3",
        maker_fee="0.001",
        taker_fee="0.002",
        min_notional="0.01",
        stp_mode="EXPIRE_MAKER",
    )
)

ETH_BTC = market_from_spec(
    MarketSpec(
        symbol="ETH-BTC",
        tick_size="0.001",
        step_size="0.5",
        base_decimals=3,
        quote_decimals=4,
        maker_fee="0.003",
        taker_fee="0.0015",
        stp_mode="EXPIRE_TAKER",
    )
)

MARKETS: dict[str, Market] = {m.symbol: m for m in (BTC_USDT, ETH_BTC)}

# A narrow price grid per market (in ticks), so orders cross often.
PRICE_GRID: dict[str, tuple[int, int]] = {"BTC-USDT": (95, 105), "ETH-BTC": (46, 54)}

USERS = ("alice", "bob", "carol", "dave")
ASSETS = ("USDT", "BTC", "ETH")

assert BTC_USDT.quote_per_tick_lot == 1
assert BTC_USDT.base_per_lot == 100
assert ETH_BTC.quote_per_tick_lot == 5
assert ETH_BTC.base_per_lot == 500
