"""The Binance-compatible API's limits default to Binance's own values (tests shorten
them through the configuration to run in seconds)."""

from trade_engine.config import BinanceConfig, Config


def test_the_defaults_are_binance_s() -> None:
    binance = Config().binance
    assert binance == BinanceConfig()
    assert binance.listen_key_validity_seconds == 60 * 60  # a listen key lives 60 minutes
    assert (binance.request_weight_limit, binance.request_weight_window_seconds) == (6_000, 60)
    assert (binance.orders_limit, binance.orders_window_seconds) == (100, 10)
    assert (binance.orders_daily_limit, binance.orders_daily_window_seconds) == (200_000, 86_400)
    assert (binance.ban_seconds, binance.max_ban_seconds) == (2 * 60, 3 * 86_400)
