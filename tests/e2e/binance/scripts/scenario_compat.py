"""What bots found missing through ccxt (issue 14): edit_order (cancelReplace),
fetch_ohlcv on every timeframe ccxt advertises, history from before the market's first
trade, fetch_trading_fees, fetch_status, the weight headers, and unsupported endpoints
(margin, OCO, futures, options, portfolio margin) raising ccxt's own exceptions.

The maker rests an ask of 1 at 100; the trader buys 0.4 at 100 and rests a bid of 0.5 at
90, which edit_order moves to 0.3 at 91.
"""

import time
from typing import Any

import ccxt
from common import exchange, order_summary, run


def api_error(call: Any) -> list[Any]:
    """[ccxt exception class, whether it is an ExchangeError, the Binance code it carries]."""
    try:
        call()
    except ccxt.BaseError as error:
        text = str(error)
        code = text.partition('"code":')[2].partition(",")[0] or None
        return [type(error).__name__, isinstance(error, ccxt.ExchangeError), code]
    except Exception as error:  # anything else is what the issue forbids
        return [type(error).__name__, False, None]
    return ["none", False, None]


def unsupported(client: Any, symbol: str) -> dict[str, list[Any]]:
    market_id = client.market(symbol)["id"]
    calls = {
        "margin account": client.sapi_get_margin_account,
        "margin order": lambda: client.sapi_post_margin_order(
            {"symbol": market_id, "side": "BUY", "type": "LIMIT", "quantity": "1", "price": "1"}
        ),
        "margin pairs": client.sapi_get_margin_allpairs,
        "margin create_order": lambda: client.create_order(
            symbol, "limit", "buy", 1, 1, {"marginMode": "cross"}
        ),
        "currencies": client.sapi_get_capital_config_getall,
        "OCO order": lambda: client.private_post_orderlist_oco(
            {
                "symbol": market_id,
                "side": "SELL",
                "quantity": "0.1",
                "aboveType": "LIMIT_MAKER",
                "belowType": "STOP_LOSS",
                "abovePrice": "130",
                "belowStopPrice": "70",
            }
        ),
        "open OCO orders": client.private_get_openorderlist,
        "futures exchangeInfo": client.fapipublic_get_exchangeinfo,
        "futures account": client.fapiprivatev2_get_account,
        "futures data": lambda: client.fapidata_get_openinteresthist({"symbol": market_id, "period": "5m"}),
        "coin futures exchangeInfo": client.dapipublic_get_exchangeinfo,
        "options exchangeInfo": client.eapipublic_get_exchangeinfo,
        "portfolio margin balance": client.papi_get_balance,
    }
    return {name: api_error(call) for name, call in calls.items()}


def scenario(config: dict[str, Any]) -> dict[str, Any]:
    symbol = config["symbol"]
    trader = exchange(config, config["accounts"][0])
    maker = exchange(config, config["accounts"][1])
    trader.load_markets()
    maker.load_markets()
    # 40 days back: before the first trade, its week and its month.
    before = trader.milliseconds() - 40 * 86_400_000
    maker.create_order(symbol, "limit", "sell", 1, 100)
    trader.create_order(symbol, "limit", "buy", 0.4, 100)
    traded_by = time.time()
    resting = trader.create_order(symbol, "limit", "buy", 0.5, 90)
    edited = trader.edit_order(resting["id"], symbol, "limit", "buy", 0.3, 91)
    result: dict[str, Any] = {
        "resting": order_summary(resting),
        "edited": order_summary(edited),
        "open_after_edit": [order_summary(o) for o in trader.fetch_open_orders(symbol)],
        "timeframes": sorted(trader.timeframes),
    }
    # The series are fetched in a later second than the trade's, so the 1s one always
    # holds an empty kline after the trade's (carrying its close).
    time.sleep(max(0.0, int(traded_by) + 1.05 - time.time()))
    result["ohlcv"] = {
        timeframe: trader.fetch_ohlcv(symbol, timeframe, since=before, limit=5)
        for timeframe in trader.timeframes
    }
    result["latest_1m"] = trader.fetch_ohlcv(symbol, "1m", limit=5)
    result["first_trade"] = trader.fetch_my_trades(symbol)[0]["timestamp"]
    result["trading_fees"] = {
        name: {"maker": fee["maker"], "taker": fee["taker"]}
        for name, fee in trader.fetch_trading_fees().items()
        if name == symbol
    }
    status = trader.fetch_status()
    result["status"] = {key: status[key] for key in ("status", "updated")}
    trader.fetch_ticker(symbol)
    headers = {name.lower(): value for name, value in trader.last_response_headers.items()}
    result["weight_after_ticker"] = headers.get("x-mbx-used-weight-1m")
    trader.create_order(symbol, "limit", "buy", 0.02, 80)
    headers = {name.lower(): value for name, value in trader.last_response_headers.items()}
    result["order_counts"] = [headers.get("x-mbx-order-count-10s"), headers.get("x-mbx-order-count-1d")]
    result["unsupported"] = unsupported(trader, symbol)
    result["now"] = int(time.time() * 1000)
    return result


run(scenario)
