"""Trading through ccxt: balances, every order type we support, queries, cancels, fills.

The counterparty rests 2 at 100 (ask). The trader then buys 0.5 at 100 (limit), 0.3
at market by amount, 20 USDT at market by cost (0.2), rests a post-only bid at 90,
sends an IOC bid at 95 (nothing to take), an IOC bid for 5 at 100 (takes the last 1.0)
and a stop-limit sell (trigger 85, limit 80).
"""

from typing import Any

from common import exchange, order_summary, run


def balance_of(client: Any, asset: str) -> dict[str, Any]:
    balance = client.fetch_balance()
    return {key: balance[asset][key] for key in ("free", "used", "total")}


def scenario(config: dict[str, Any]) -> dict[str, Any]:
    symbol = config["symbol"]
    base, quote = symbol.split("/")
    trader = exchange(config, config["accounts"][0])
    counterparty = exchange(config, config["accounts"][1])
    trader.load_markets()
    counterparty.load_markets()
    result: dict[str, Any] = {"balance_before": {a: balance_of(trader, a) for a in (base, quote)}}
    counterparty.create_order(symbol, "limit", "sell", 2, 100)
    result["limit"] = order_summary(trader.create_order(symbol, "limit", "buy", 0.5, 100))
    result["market_amount"] = order_summary(trader.create_order(symbol, "market", "buy", 0.3))
    result["market_cost"] = order_summary(trader.create_market_buy_order_with_cost(symbol, 20))
    post_only = trader.create_order(symbol, "limit", "buy", 0.1, 90, {"postOnly": True})
    result["post_only"] = order_summary(post_only)
    result["ioc_unfilled"] = order_summary(
        trader.create_order(symbol, "limit", "buy", 0.1, 95, {"timeInForce": "IOC"})
    )
    result["ioc_partial"] = order_summary(
        trader.create_order(symbol, "limit", "buy", 5, 100, {"timeInForce": "IOC"})
    )
    stop = trader.create_order(symbol, "limit", "sell", 0.1, 80, {"triggerPrice": 85})
    result["stop_limit"] = order_summary(stop)
    result["fetched_post_only"] = order_summary(trader.fetch_order(post_only["id"], symbol))
    result["fetched_stop"] = order_summary(trader.fetch_order(stop["id"], symbol))
    result["open_before"] = sorted(o["id"] for o in trader.fetch_open_orders(symbol))
    result["cancelled"] = order_summary(trader.cancel_order(post_only["id"], symbol))
    result["cancel_all"] = [order_summary(o) for o in trader.cancel_all_orders(symbol)]
    result["open_after"] = [o["id"] for o in trader.fetch_open_orders(symbol)]
    result["all_orders"] = [order_summary(o) for o in trader.fetch_orders(symbol)]
    result["my_trades"] = [
        {
            "order": t["order"],
            "side": t["side"],
            "price": t["price"],
            "amount": t["amount"],
            "cost": t["cost"],
            "takerOrMaker": t["takerOrMaker"],
            "fee": t["fee"],
        }
        for t in trader.fetch_my_trades(symbol)
    ]
    result["balance_after"] = {a: balance_of(trader, a) for a in (base, quote)}
    return result


run(scenario)
