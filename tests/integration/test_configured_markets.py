"""The configured markets a store lacks are added when a core starts, through the
sequencer; one the engine refuses is a setting that cannot work (`ConfigError`, so the
service exits with status 2 naming it), the same for `serve` and a cluster's leader
(both use `add_configured_markets`)."""

import asyncio

import pytest

from tests.flows import MARKETS
from trade_engine.config import ConfigError
from trade_engine.core.bootstrap import start_core
from trade_engine.domain.market import MarketSpec, market_from_spec

# BTC is in the store with 8 decimals (BTC-USDT); this market says 6.
CONFLICTING = market_from_spec(
    MarketSpec(symbol="SOL-BTC", tick_size="0.0001", step_size="0.01", quote_decimals=6)
)


def test_a_configured_market_is_added_once_and_a_refused_one_is_a_configuration_error(
    database_url: str,
) -> None:
    async def scenario() -> tuple[list[str], list[str], str]:
        core = await start_core(database_url, markets=MARKETS[:1])
        first = [market.symbol for market in core.engine.markets()]
        await core.close()
        core = await start_core(database_url, markets=MARKETS)  # one more: added
        second = [market.symbol for market in core.engine.markets()]
        await core.close()
        with pytest.raises(ConfigError) as refused:
            await start_core(database_url, markets=[*MARKETS, CONFLICTING])
        return first, second, str(refused.value)

    first, second, refused = asyncio.run(scenario())
    assert first == [MARKETS[0].symbol]
    assert sorted(second) == sorted(market.symbol for market in MARKETS)
    assert refused.startswith("markets: SOL-BTC: ")
    assert "BTC already has 8 decimals, not 6" in refused
