"""The few `/sapi` endpoints spot bots call besides `/api/v3`: system status, trade fees
and account status (ccxt's `fetch_status` and `fetch_trading_fees`, python-binance's
`get_system_status`, `get_trade_fee` and `get_account_status`, the connector's
`system_status`, `trade_fee` and `account_status`).

Every other `/sapi` path (margin, savings, sub-accounts, ...) is not served and answers
Binance's error body (-1020) through the error table, like any unknown Binance path.
"""

from typing import Any

from trade_engine.binance.auth import READ
from trade_engine.binance.requests import market_named, markets_by_symbol, signed
from trade_engine.binance.wire import symbol_of
from trade_engine.domain.market import fee_rate_text
from trade_engine.edge.gateway import Gateway
from trade_engine.edge.routes import Call


def fee_text(rate: int) -> str:
    """A fee rate (millionths) as Binance writes commissions: "0.001", "0"."""
    return fee_rate_text(rate).rstrip("0").rstrip(".")


async def system_status(gateway: Gateway, call: Call) -> dict[str, Any]:
    """0 "normal" while the service is ready (recovered, database reachable, taking
    orders); 1 "system maintenance" otherwise. Answers even while recovering."""
    readiness = await gateway.readiness()
    if readiness.ready:
        return {"status": 0, "msg": "normal"}
    return {"status": 1, "msg": "system maintenance"}


async def trade_fee(gateway: Gateway, call: Call) -> list[dict[str, Any]]:
    """The maker and taker rates of `symbol`, or of every market: each market's own (no
    account has rates of its own here)."""
    _, params = await signed(gateway, call, READ)
    symbol = params.text("symbol")
    markets = (
        [market_named(gateway, symbol)] if symbol is not None else list(markets_by_symbol(gateway).values())
    )
    return [
        {
            "symbol": symbol_of(market.symbol),
            "makerCommission": fee_text(market.maker_fee),
            "takerCommission": fee_text(market.taker_fee),
        }
        for market in markets
    ]


async def account_status(gateway: Gateway, call: Call) -> dict[str, Any]:
    """A key that verifies belongs to an account in good standing: there is no other kind."""
    await signed(gateway, call, READ)
    return {"data": "Normal"}
