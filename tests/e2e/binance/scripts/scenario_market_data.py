"""Public market data through ccxt: markets, book, trades, candles, tickers.

The script makes its own trades first: the maker rests asks at 100 and 101 and a bid at
99; the taker buys 0.4 at 100 (limit) and 0.2 at market, so two trades at 100.
"""

from typing import Any

from common import exchange, run


def scenario(config: dict[str, Any]) -> dict[str, Any]:
    symbol = config["symbol"]
    maker = exchange(config, config["accounts"][0])
    taker = exchange(config, config["accounts"][1])
    markets = maker.load_markets()
    taker.load_markets()
    maker.create_order(symbol, "limit", "sell", 1, 100)
    maker.create_order(symbol, "limit", "sell", 1, 101)
    maker.create_order(symbol, "limit", "buy", 0.5, 99)
    taker.create_order(symbol, "limit", "buy", 0.4, 100)
    taker.create_order(symbol, "market", "buy", 0.2)
    market = markets[symbol]
    book = maker.fetch_order_book(symbol, 50)
    trades = maker.fetch_trades(symbol)
    candles = maker.fetch_ohlcv(symbol, "1m", limit=5)
    ticker = maker.fetch_ticker(symbol)
    tickers = maker.fetch_tickers()
    return {
        "market": {
            key: market[key]
            for key in ("id", "symbol", "base", "quote", "type", "spot", "active", "precision", "limits")
        },
        "book": {"bids": book["bids"], "asks": book["asks"], "nonce": book["nonce"]},
        "trades": [
            {"id": t["id"], "price": t["price"], "amount": t["amount"], "side": t["side"]} for t in trades
        ],
        "candles": candles,
        "ticker": {
            key: ticker[key]
            for key in ("symbol", "last", "open", "high", "low", "bid", "ask", "baseVolume", "quoteVolume")
        },
        "tickers": sorted(tickers),
    }


run(scenario)
