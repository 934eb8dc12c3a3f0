"""ccxt's exception for each kind of refusal (ccxt maps Binance codes and messages)."""

from typing import Any

from common import error_of, exchange, run


def scenario(config: dict[str, Any]) -> dict[str, Any]:
    symbol = config["symbol"]
    market_id = symbol.replace("/", "")
    poor, maker = config["accounts"][0], config["accounts"][1]
    client = exchange(config, poor)
    client.load_markets()
    resting = exchange(config, maker)
    resting.load_markets()
    resting.create_order(symbol, "limit", "sell", 1, 100)
    wrong_secret = exchange(config, {"key": poor["key"], "secret": "0" * 64})
    unknown_key = exchange(config, {"key": "A" * 64, "secret": poor["secret"]})
    read_only = exchange(config, config["accounts"][2])
    read_only.load_markets()
    late = exchange(config, poor)
    late.load_markets()
    late.options["timeDifference"] = 120_000  # its timestamps are two minutes old
    off_step = {
        "symbol": market_id,
        "side": "BUY",
        "type": "LIMIT",
        "timeInForce": "GTC",
        "quantity": "0.0015",
        "price": "10",
    }
    off_tick = {**off_step, "quantity": "0.1", "price": "10.005"}
    return {
        "insufficient_funds": error_of(lambda: client.create_order(symbol, "limit", "buy", 1000, 50)),
        "fetch_unknown_order": error_of(lambda: client.fetch_order("999999999", symbol)),
        "cancel_unknown_order": error_of(lambda: client.cancel_order("999999999", symbol)),
        "bad_signature": error_of(wrong_secret.fetch_balance),
        "unknown_key": error_of(unknown_key.fetch_balance),
        "read_only_key_trading": error_of(lambda: read_only.create_order(symbol, "limit", "buy", 0.1, 10)),
        "read_only_key_reading": error_of(read_only.fetch_balance),
        "unknown_symbol_server": error_of(lambda: client.publicGetDepth({"symbol": "NOPE" + market_id})),
        "unknown_symbol_client": error_of(lambda: client.fetch_order_book("NOPE/" + symbol.split("/")[1])),
        "off_step_amount": error_of(lambda: client.privatePostOrder(off_step)),
        "off_tick_price": error_of(lambda: client.privatePostOrder(off_tick)),
        "below_min_notional": error_of(lambda: client.create_order(symbol, "limit", "buy", 0.001, 10)),
        "post_only_would_take": error_of(
            lambda: client.create_order(symbol, "limit", "buy", 0.02, 100, {"postOnly": True})
        ),
        "stale_timestamp": error_of(late.fetch_balance),
        "bad_interval": error_of(lambda: client.publicGetKlines({"symbol": market_id, "interval": "7m"})),
    }


run(scenario)
