"""Rendering engine state as Binance's JSON: symbols, decimal strings, order objects.

Binance writes prices and quantities with at least eight decimals ("0.01000000") and
times as integer milliseconds. Engine integers become strings here and only here (the
market's own conversions do the arithmetic).
"""

from collections.abc import Mapping, Sequence
from typing import Any, Final

from trade_engine.domain.market import Market, asset_text
from trade_engine.domain.vocabulary import (
    BUY,
    CONDITIONAL_TYPES,
    FEE_SCALE,
    LIMIT,
    MARKET,
    SELL,
    STOP_LIMIT,
    STOP_MARKET,
    STP_MODES,
    TAKE_PROFIT_LIMIT,
    TAKE_PROFIT_MARKET,
)
from trade_engine.engine import (
    Event,
    OrderAccepted,
    OrderCancelled,
    OrderExpired,
    OrderFilled,
    TradeExecuted,
)
from trade_engine.marketdata.depth import MarketDepth

NS_PER_MS: Final = 1_000_000
ZERO: Final = "0.00000000"
# The Binance order types this API accepts, and what each is in the engine. Binance's
# trigger rule is the engine's: STOP_LOSS buys on a rise and sells on a fall,
# TAKE_PROFIT the other way round.
ORDER_TYPES: Final = (
    "LIMIT",
    "LIMIT_MAKER",
    "MARKET",
    "STOP_LOSS",
    "STOP_LOSS_LIMIT",
    "TAKE_PROFIT",
    "TAKE_PROFIT_LIMIT",
)
ENGINE_TYPE: Final = {
    "LIMIT": LIMIT,
    "LIMIT_MAKER": LIMIT,
    "MARKET": MARKET,
    "STOP_LOSS": STOP_MARKET,
    "STOP_LOSS_LIMIT": STOP_LIMIT,
    "TAKE_PROFIT": TAKE_PROFIT_MARKET,
    "TAKE_PROFIT_LIMIT": TAKE_PROFIT_LIMIT,
}
# Binance's names for the engine's types (LIMIT with post-only is LIMIT_MAKER).
_BINANCE_TYPE: Final = {
    STOP_MARKET: "STOP_LOSS",
    STOP_LIMIT: "STOP_LOSS_LIMIT",
    TAKE_PROFIT_MARKET: "TAKE_PROFIT",
    TAKE_PROFIT_LIMIT: "TAKE_PROFIT_LIMIT",
}
RATE_LIMITS: Final = [
    {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
    {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
    {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000},
    {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 61000},
]


def ms(ns: int) -> int:
    return ns // NS_PER_MS


def pad(text: str) -> str:
    """At least eight decimals, as Binance writes amounts."""
    whole, _, fraction = text.partition(".")
    return f"{whole}.{fraction.ljust(8, '0')}"


def symbol_of(market: str) -> str:
    """`BTC-USDT` -> `BTCUSDT`."""
    return market.replace("-", "")


def binance_type(order_type: str, post_only: bool) -> str:
    if order_type == LIMIT:
        return "LIMIT_MAKER" if post_only else "LIMIT"
    return _BINANCE_TYPE.get(order_type, order_type)


def binance_tif(order_type: str, time_in_force: str) -> str:
    # Market-type orders run IOC inside the engine; Binance shows them as GTC.
    return time_in_force if order_type in (LIMIT, STOP_LIMIT, TAKE_PROFIT_LIMIT) else "GTC"


def _rate(rate: int) -> str:
    whole, part = divmod(rate, FEE_SCALE)
    return f"{whole}.{part:06d}00"


# -- exchange information ----------------------------------------------------------------


def symbol_info(market: Market) -> dict[str, Any]:
    price, quantity = market.price_text, market.quantity_text
    return {
        "symbol": symbol_of(market.symbol),
        "status": market.status,
        "baseAsset": market.base,
        "baseAssetPrecision": market.base_decimals,
        "quoteAsset": market.quote,
        "quotePrecision": market.quote_decimals,
        "quoteAssetPrecision": market.quote_decimals,
        "baseCommissionPrecision": market.base_decimals,
        "quoteCommissionPrecision": market.quote_decimals,
        "orderTypes": list(ORDER_TYPES),
        "icebergAllowed": False,
        "ocoAllowed": False,
        "otoAllowed": False,
        "opoAllowed": False,
        "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": False,
        "cancelReplaceAllowed": False,
        "amendAllowed": False,
        "pegInstructionsAllowed": False,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False,
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": pad(price(market.min_price)),
                "maxPrice": pad(price(market.max_price)),
                "tickSize": pad(market.tick_size),
            },
            {
                "filterType": "LOT_SIZE",
                "minQty": pad(quantity(market.min_quantity)),
                "maxQty": pad(quantity(market.max_quantity)),
                "stepSize": pad(market.step_size),
            },
            {
                "filterType": "NOTIONAL",
                "minNotional": pad(market.quote_text(market.min_notional)),
                "applyMinToMarket": True,
                "maxNotional": "9000000000.00000000",
                "applyMaxToMarket": False,
                "avgPriceMins": 0,
            },
        ],
        "permissions": [],
        "permissionSets": [["SPOT"]],
        "defaultSelfTradePreventionMode": market.stp_mode,
        "allowedSelfTradePreventionModes": sorted(STP_MODES),
    }


def exchange_info(markets: Sequence[Market], now_ms: int) -> dict[str, Any]:
    return {
        "timezone": "UTC",
        "serverTime": now_ms,
        "rateLimits": RATE_LIMITS,
        "exchangeFilters": [],
        "symbols": [symbol_info(market) for market in markets],
    }


# -- orders ------------------------------------------------------------------------------


def order_from_row(row: Mapping[str, Any], market: Market) -> dict[str, Any]:
    """A query-order object (GET /order, /openOrders, /allOrders) from a committed row."""
    pending = bool(row["pending"])
    order_type = row["order_type"]
    executed = int(row["executed"])
    return {
        "symbol": symbol_of(market.symbol),
        "orderId": row["id"],
        "orderListId": -1,
        "clientOrderId": row["client_order_id"] or "",
        "price": pad(market.price_text(row["price"])) if row["price"] else ZERO,
        "origQty": _orig_qty(market, int(row["quantity"]), executed, row["status"]),
        "executedQty": pad(market.quantity_text(executed)),
        "cummulativeQuoteQty": pad(market.quote_text(int(row["filled_quote"]))),
        "status": row["status"],
        "timeInForce": binance_tif(order_type, row["time_in_force"]),
        "type": binance_type(order_type, bool(row["post_only"])),
        "side": row["side"],
        "stopPrice": pad(market.price_text(row["stop_price"])) if row["stop_price"] else ZERO,
        "icebergQty": ZERO,
        "time": ms(row["created_ts"]),
        "updateTime": ms(row["updated_ts"]),
        "isWorking": not pending,
        "workingTime": -1 if pending else ms(row["created_ts"]),
        "origQuoteOrderQty": pad(market.quote_text(int(row["quote_quantity"]))),
        "selfTradePreventionMode": row["stp_mode"],
    }


def _orig_qty(market: Market, quantity: int, executed: int, status: str) -> str:
    # A market order sized by quote amount has no quantity of its own: once done, its
    # size is what it executed.
    if quantity == 0 and status not in ("NEW", "PARTIALLY_FILLED"):
        quantity = executed
    return pad(market.quantity_text(quantity))


def _terminal_status(event: Event | None, executed: int) -> str:
    if isinstance(event, OrderFilled):
        return "FILLED"
    if isinstance(event, OrderCancelled):
        return "CANCELED"
    if isinstance(event, OrderExpired):
        return "EXPIRED_IN_MATCH" if event.reason == "SELF_TRADE_PREVENTION" else "EXPIRED"
    return "PARTIALLY_FILLED" if executed else "NEW"


def new_order(events: Sequence[Event], market: Market, response_type: str) -> dict[str, Any]:
    """The answer to POST /order (ACK, RESULT or FULL) from the events the order caused."""
    accepted = next(e for e in events if isinstance(e, OrderAccepted))
    order_id = accepted.order_id
    body: dict[str, Any] = {
        "symbol": symbol_of(market.symbol),
        "orderId": order_id,
        "orderListId": -1,
        "clientOrderId": accepted.client_order_id or "",
        "transactTime": ms(accepted.ts),
    }
    if response_type == "ACK":
        return body
    executed = filled_quote = 0
    terminal: Event | None = None
    fills: list[dict[str, Any]] = []
    for event in events:
        if isinstance(event, TradeExecuted) and order_id in (event.maker_order_id, event.taker_order_id):
            taker = event.taker_order_id == order_id
            executed += event.quantity
            filled_quote += event.quote_amount
            fills.append(
                {
                    "price": pad(market.price_text(event.price)),
                    "qty": pad(market.quantity_text(event.quantity)),
                    "commission": pad(market.quote_text(event.taker_fee if taker else event.maker_fee)),
                    "commissionAsset": market.quote,
                    "tradeId": event.trade_id,
                }
            )
        elif isinstance(event, OrderFilled | OrderCancelled | OrderExpired) and event.order_id == order_id:
            terminal = event
    status = _terminal_status(terminal, executed)
    is_stop = accepted.order_type in CONDITIONAL_TYPES
    body.update(
        {
            "price": pad(market.price_text(accepted.price)) if accepted.price else ZERO,
            "origQty": _orig_qty(market, accepted.quantity, executed, status),
            "executedQty": pad(market.quantity_text(executed)),
            "origQuoteOrderQty": pad(market.quote_text(accepted.quote_quantity)),
            "cummulativeQuoteQty": pad(market.quote_text(filled_quote)),
            "status": status,
            "timeInForce": binance_tif(accepted.order_type, accepted.time_in_force),
            "type": binance_type(accepted.order_type, accepted.post_only),
            "side": accepted.side,
            "workingTime": -1 if is_stop else ms(accepted.ts),
            "selfTradePreventionMode": accepted.stp_mode,
        }
    )
    if is_stop:
        body["stopPrice"] = pad(market.price_text(accepted.stop_price))
    if response_type == "FULL":
        body["fills"] = fills
    return body


def cancelled_order(
    row: Mapping[str, Any], cancelled: OrderCancelled, market: Market, client_order_id: str
) -> dict[str, Any]:
    """The answer to DELETE /order: fixed terms from the order, final state from the event."""
    body = {
        "symbol": symbol_of(market.symbol),
        "origClientOrderId": row["client_order_id"] or "",
        "orderId": row["id"],
        "orderListId": -1,
        "clientOrderId": client_order_id,
        "transactTime": ms(cancelled.ts),
        "price": pad(market.price_text(cancelled.price)) if cancelled.price else ZERO,
        "origQty": pad(market.quantity_text(cancelled.quantity or cancelled.executed)),
        "executedQty": pad(market.quantity_text(cancelled.executed)),
        "origQuoteOrderQty": pad(market.quote_text(int(row["quote_quantity"]))),
        "cummulativeQuoteQty": pad(market.quote_text(cancelled.filled_quote)),
        "status": "CANCELED",
        "timeInForce": binance_tif(row["order_type"], row["time_in_force"]),
        "type": binance_type(row["order_type"], bool(row["post_only"])),
        "side": row["side"],
        "selfTradePreventionMode": row["stp_mode"],
    }
    if row["stop_price"]:
        body["stopPrice"] = pad(market.price_text(row["stop_price"]))
    return body


def user_trades(row: Mapping[str, Any], user_id: str, market: Market) -> list[dict[str, Any]]:
    """A trade as GET /myTrades shows it: once per side the user was on."""
    views = []
    for side in (BUY, SELL):
        if row["buyer_user_id" if side == BUY else "seller_user_id"] != user_id:
            continue
        maker = row["taker_side"] != side
        views.append(
            {
                "symbol": symbol_of(market.symbol),
                "id": row["id"],
                "orderId": row["maker_order_id"] if maker else row["taker_order_id"],
                "orderListId": -1,
                "price": pad(market.price_text(row["price"])),
                "qty": pad(market.quantity_text(row["quantity"])),
                "quoteQty": pad(market.quote_text(row["quote_amount"])),
                "commission": pad(market.quote_text(row["maker_fee"] if maker else row["taker_fee"])),
                "commissionAsset": market.quote,
                "time": ms(row["ts"]),
                "isBuyer": side == BUY,
                "isMaker": maker,
                "isBestMatch": True,
            }
        )
    return views


def account(
    user_id: str,
    permissions: frozenset[str],
    assets: Mapping[str, int],
    rows: Sequence[tuple[str, int, int, int]],
    markets: Sequence[Market],
    omit_zero: bool,
) -> dict[str, Any]:
    """GET /account: every asset the exchange lists, with the user's free and locked."""
    held = {asset: (free, locked) for asset, free, locked, _ in rows}
    updated = max((ts for *_, ts in rows), default=0)
    balances = []
    for asset in sorted(set(assets) | set(held)):
        free, locked = held.get(asset, (0, 0))
        if omit_zero and not free and not locked:
            continue
        decimals = assets.get(asset, 8)
        balances.append(
            {
                "asset": asset,
                "free": pad(asset_text(free, decimals)),
                "locked": pad(asset_text(locked, decimals)),
            }
        )
    maker = markets[0].maker_fee if markets else 0
    taker = markets[0].taker_fee if markets else 0
    return {
        "makerCommission": maker // 100,
        "takerCommission": taker // 100,
        "buyerCommission": 0,
        "sellerCommission": 0,
        "commissionRates": {
            "maker": _rate(maker),
            "taker": _rate(taker),
            "buyer": ZERO,
            "seller": ZERO,
        },
        "canTrade": "trade" in permissions,
        "canWithdraw": False,
        "canDeposit": False,
        "brokered": False,
        "requireSelfTradePrevention": False,
        "preventSor": False,
        "updateTime": ms(updated),
        "accountType": "SPOT",
        "balances": balances,
        "permissions": ["SPOT"],
        "uid": 0,
    }


# -- market data -------------------------------------------------------------------------


def top(depth: MarketDepth) -> tuple[tuple[int, int], tuple[int, int]]:
    """((best bid, its quantity), (best ask, its quantity)); zeros for an empty side."""
    bid, ask = depth.best()
    return (
        (bid, depth.bids[bid]) if bid is not None else (0, 0),
        (ask, depth.asks[ask]) if ask is not None else (0, 0),
    )


def levels(market: Market, pairs: Sequence[tuple[int, int]]) -> list[list[str]]:
    return [[pad(market.price_text(p)), pad(market.quantity_text(q))] for p, q in pairs]


def public_trade(row: Mapping[str, Any], market: Market) -> dict[str, Any]:
    return {
        "id": row["id"],
        "price": pad(market.price_text(row["price"])),
        "qty": pad(market.quantity_text(row["quantity"])),
        "quoteQty": pad(market.quote_text(row["quote_amount"])),
        "time": ms(row["ts"]),
        "isBuyerMaker": row["taker_side"] == SELL,
        "isBestMatch": True,
    }


def aggregate(rows: Sequence[Mapping[str, Any]]) -> list[list[Mapping[str, Any]]]:
    """Consecutive trades of one taker order at one price form one aggregate trade."""
    groups: list[list[Mapping[str, Any]]] = []
    for row in rows:
        last = groups[-1][-1] if groups else None
        if (
            last is not None
            and last["taker_order_id"] == row["taker_order_id"]
            and last["price"] == row["price"]
            and last["id"] + 1 == row["id"]
        ):
            groups[-1].append(row)
        else:
            groups.append([row])
    return groups


def agg_trade(group: Sequence[Mapping[str, Any]], market: Market) -> dict[str, Any]:
    first, last = group[0], group[-1]
    return {
        "a": first["id"],
        "p": pad(market.price_text(first["price"])),
        "q": pad(market.quantity_text(sum(int(r["quantity"]) for r in group))),
        "f": first["id"],
        "l": last["id"],
        "T": ms(first["ts"]),
        "m": first["taker_side"] == SELL,
        "M": True,
    }
