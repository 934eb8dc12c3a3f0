"""Exchange information, accounts and market data in Binance's JSON shapes.

Engine integers become Binance's decimal strings here (the market's own conversions do
the arithmetic, `wire.pad` the format); orders and fills are in `order_views.py`.
"""

from collections.abc import Mapping, Sequence
from typing import Any

from trade_engine.binance.wire import ORDER_TYPES, ZERO, pad, symbol_of
from trade_engine.domain.market import Market, asset_text, fee_rate_text
from trade_engine.domain.timestamps import ms
from trade_engine.domain.vocabulary import SELL, STP_MODES
from trade_engine.marketdata.candles import Candle
from trade_engine.marketdata.depth import MarketDepth
from trade_engine.readmodel.trades import TradeModel

# -- exchange information ----------------------------------------------------------------


def symbol_info(market: Market) -> dict[str, Any]:
    price, quantity = market.price_text, market.quantity_text
    lot_size = {
        "filterType": "LOT_SIZE",
        "minQty": pad(quantity(market.min_quantity)),
        "maxQty": pad(quantity(market.max_quantity)),
        "stepSize": pad(market.step_size),
    }
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
        "cancelReplaceAllowed": True,
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
            lot_size,
            # Market orders' quantities follow the same rules (engine/rules.py), and an
            # order refused by them names this filter (errors.py), as Binance's do.
            {**lot_size, "filterType": "MARKET_LOT_SIZE"},
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


def exchange_info(
    markets: Sequence[Market], now_ms: int, rate_limits: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "timezone": "UTC",
        "serverTime": now_ms,
        "rateLimits": rate_limits,
        "exchangeFilters": [],
        "symbols": [symbol_info(market) for market in markets],
    }


# -- account ----------------------------------------------------------------------------


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
            "maker": fee_rate_text(maker, 8),
            "taker": fee_rate_text(taker, 8),
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


def order_commissions(market: Market) -> dict[str, Any]:
    """What `POST /order/test?computeCommissionRates=true` answers: the market's maker and
    taker rates; no special or tax commission, and no discount (no asset pays fees at a
    discount here)."""
    standard = {"maker": fee_rate_text(market.maker_fee, 8), "taker": fee_rate_text(market.taker_fee, 8)}
    return {
        "standardCommissionForOrder": standard,
        "specialCommissionForOrder": {"maker": ZERO, "taker": ZERO},
        "taxCommissionForOrder": {"maker": ZERO, "taker": ZERO},
        "discount": {
            "enabledForAccount": False,
            "enabledForSymbol": False,
            "discountAsset": None,
            "discount": ZERO,
        },
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


def public_trade(trade: TradeModel, market: Market) -> dict[str, Any]:
    return {
        "id": trade.trade_id,
        "price": pad(market.price_text(trade.price)),
        "qty": pad(market.quantity_text(trade.quantity)),
        "quoteQty": pad(market.quote_text(trade.quote_amount)),
        "time": ms(trade.ts),
        "isBuyerMaker": trade.taker_side == SELL,
        "isBestMatch": True,
    }


def aggregate(trades: Sequence[TradeModel]) -> list[list[TradeModel]]:
    """Consecutive trades of one taker order at one price form one aggregate trade."""
    groups: list[list[TradeModel]] = []
    for trade in trades:
        last = groups[-1][-1] if groups else None
        if (
            last is not None
            and last.market == trade.market
            and last.taker_order_id == trade.taker_order_id
            and last.price == trade.price
            and last.trade_id + 1 == trade.trade_id
        ):
            groups[-1].append(trade)
        else:
            groups.append([trade])
    return groups


def agg_trade(group: Sequence[TradeModel], market: Market) -> dict[str, Any]:
    first, last = group[0], group[-1]
    return {
        "a": first.trade_id,
        "p": pad(market.price_text(first.price)),
        "q": pad(market.quantity_text(sum(trade.quantity for trade in group))),
        "f": first.trade_id,
        "l": last.trade_id,
        "T": ms(first.ts),
        "m": first.taker_side == SELL,
        "M": True,
    }


def kline(candle: Candle, market: Market) -> list[Any]:
    """One kline (a candle with at least one trade, or carrying the previous close)."""
    price, quantity = market.price_text, market.quantity_text
    return [
        ms(candle.open_ts),
        pad(price(candle.open or 0)),
        pad(price(candle.high or 0)),
        pad(price(candle.low or 0)),
        pad(price(candle.close or 0)),
        pad(quantity(candle.volume)),
        ms(candle.open_ts + candle.interval) - 1,
        pad(market.quote_text(candle.quote_volume)),
        candle.trades,
        pad(quantity(candle.buy_volume)),
        pad(market.quote_text(candle.buy_quote_volume)),
        "0",
    ]
