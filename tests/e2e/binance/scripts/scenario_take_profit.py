"""Take-profit orders through ccxt: placed with an explicit type and `stopPrice`, and with
ccxt's own `takeProfitPrice`; both wait, then fire and fill once trades move the price.

The last price starts at 100 (the counterparty sells 0.1 to the mover). The trader
places a TAKE_PROFIT_LIMIT buy (trigger 95, limit 95.5) and, with `takeProfitPrice`, a
TAKE_PROFIT sell (trigger 105, market). The counterparty offers 0.3 at 95 and the mover
buys 0.1 of it: the fall to 95 fires the buy, which takes the other 0.2. The mover bids
0.5 at 104 and buys 0.1 at 105 from the counterparty: the rise to 105 fires the sell,
which sells into that bid at 104.
"""

from typing import Any

from common import exchange, order_summary, run


def scenario(config: dict[str, Any]) -> dict[str, Any]:
    symbol = config["symbol"]
    trader, counterparty, mover = (exchange(config, account) for account in config["accounts"])
    for client in (trader, counterparty, mover):
        client.load_markets()
    result: dict[str, Any] = {}
    counterparty.create_order(symbol, "limit", "sell", 0.1, 100)
    mover.create_order(symbol, "limit", "buy", 0.1, 100)

    buy_tp = trader.create_order(symbol, "TAKE_PROFIT_LIMIT", "buy", 0.2, 95.5, {"stopPrice": 95})
    sell_tp = trader.create_order(symbol, "market", "sell", 0.1, None, {"takeProfitPrice": 105})
    result["buy_placed"] = order_summary(buy_tp)
    result["sell_placed"] = order_summary(sell_tp)
    result["buy_pending"] = order_summary(trader.fetch_order(buy_tp["id"], symbol))
    result["sell_pending"] = order_summary(trader.fetch_order(sell_tp["id"], symbol))
    result["open_before"] = sorted(o["id"] for o in trader.fetch_open_orders(symbol))
    balance = trader.fetch_balance()
    result["quote_used_while_pending"] = balance[symbol.split("/")[1]]["used"]

    counterparty.create_order(symbol, "limit", "sell", 0.3, 95)
    mover.create_order(symbol, "limit", "buy", 0.1, 95)  # the fall to 95
    result["buy_fired"] = order_summary(trader.fetch_order(buy_tp["id"], symbol))
    result["sell_after_fall"] = order_summary(trader.fetch_order(sell_tp["id"], symbol))

    mover.create_order(symbol, "limit", "buy", 0.5, 104)
    counterparty.create_order(symbol, "limit", "sell", 0.1, 105)
    mover.create_order(symbol, "limit", "buy", 0.1, 105)  # the rise to 105
    result["sell_fired"] = order_summary(trader.fetch_order(sell_tp["id"], symbol))
    result["open_after"] = [o["id"] for o in trader.fetch_open_orders(symbol)]
    result["my_trades"] = [
        {"order": t["order"], "side": t["side"], "price": t["price"], "amount": t["amount"]}
        for t in trader.fetch_my_trades(symbol)
    ]
    return result


run(scenario)
