"""Markets: adding one (`AddMarket`) and changing its status (`SetMarketStatus`).

A market's assets keep the decimals the first market that used them gave; a symbol is
added once. A status change cancels nothing: resting orders and pending stops stay, and
the order rules (rules.py) read the status on every order command.

Owns: the set of markets, the known assets and each market's status. Must not touch:
books, balances, holds.
"""

from trade_engine.domain.errors import ErrorCode, TradeEngineError
from trade_engine.domain.market import Market
from trade_engine.domain.vocabulary import MARKET_STATUSES
from trade_engine.engine.commands import AddMarket, SetMarketStatus
from trade_engine.engine.events import Event, MarketAdded, MarketStatusChanged
from trade_engine.engine.rules import known_market
from trade_engine.engine.state import EngineState, MarketState


def add_market(state: EngineState, cmd: AddMarket, events: list[Event]) -> None:
    market = cmd.market
    if market.symbol in state.markets:
        raise TradeEngineError(ErrorCode.MARKET_EXISTS, f"market {market.symbol} already exists")
    for asset, decimals in ((market.base, market.base_decimals), (market.quote, market.quote_decimals)):
        known = state.assets.get(asset)
        if known is not None and known != decimals:
            raise TradeEngineError(
                ErrorCode.INVALID_MARKET, f"{asset} already has {known} decimals, not {decimals}"
            )

    # -- from here on nothing is rejected --
    m = register(state, market)
    m.seq += 1
    events.append(MarketAdded(ts=cmd.ts, seq=m.seq, market=market))


def set_status(state: EngineState, cmd: SetMarketStatus, events: list[Event]) -> None:
    m = known_market(state, cmd.market)
    if cmd.status not in MARKET_STATUSES:
        raise TradeEngineError(ErrorCode.INVALID_MARKET, f"unknown market status {cmd.status!r}")
    if cmd.status == m.status:
        message = f"market {cmd.market} is already {cmd.status}"
        raise TradeEngineError(ErrorCode.MARKET_STATUS_UNCHANGED, message)

    # -- from here on nothing is rejected --
    m.status = cmd.status
    m.seq += 1
    events.append(MarketStatusChanged(ts=cmd.ts, seq=m.seq, market=cmd.market, status=cmd.status))


def register(state: EngineState, market: Market) -> MarketState:
    """Make `market` known, with empty books, and its assets with their decimals."""
    state.assets[market.base] = market.base_decimals
    state.assets[market.quote] = market.quote_decimals
    m = state.markets[market.symbol] = MarketState(market)
    return m
