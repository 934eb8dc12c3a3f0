"""The markets as committed: rules, current status, and each asset's decimals.

Built from the markets known at start and then from committed events (a market added,
a status changed), so readers need not ask the engine, which may be a batch ahead.
"""

from collections.abc import Iterable

import msgspec

from trade_engine.domain.errors import ErrorCode, TradeEngineError
from trade_engine.domain.market import Market
from trade_engine.engine import Event, MarketAdded, MarketStatusChanged

DEFAULT_DECIMALS = 8  # an asset no market names (none can hold a balance in it)


class Markets:
    def __init__(self, markets: Iterable[Market] = ()) -> None:
        self._markets: dict[str, Market] = {}
        self._decimals: dict[str, int] = {}
        for market in markets:
            self.add(market)

    def add(self, market: Market) -> None:
        self._markets[market.symbol] = market
        self._decimals[market.base] = market.base_decimals
        self._decimals[market.quote] = market.quote_decimals

    def apply(self, events: Iterable[Event]) -> None:
        for event in events:
            if isinstance(event, MarketAdded):
                self.add(event.market)
            elif isinstance(event, MarketStatusChanged):
                market = self._markets[event.market]
                self._markets[event.market] = msgspec.structs.replace(market, status=event.status)

    def get(self, symbol: str) -> Market | None:
        return self._markets.get(symbol)

    def require(self, symbol: str) -> Market:
        market = self._markets.get(symbol)
        if market is None:
            raise TradeEngineError(ErrorCode.UNKNOWN_MARKET, f"unknown market {symbol!r}")
        return market

    def all(self) -> list[Market]:
        return list(self._markets.values())

    def decimals(self, asset: str) -> int:
        return self._decimals.get(asset, DEFAULT_DECIMALS)

    def assets(self) -> dict[str, int]:
        """Every asset a market names, with its decimals."""
        return dict(self._decimals)
