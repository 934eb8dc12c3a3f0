"""The native market-data routes: markets, depth, public trades, candles, the ticker."""

import time

from trade_engine.api import views
from trade_engine.api.params import CandlesQuery, DepthQuery, MarketPath, TradesQuery
from trade_engine.api.schemas import CandleView, DepthView, MarketView, TickerView, TradePage
from trade_engine.edge.gateway import Gateway
from trade_engine.edge.routes import Call
from trade_engine.marketdata import candles as candle_data


async def list_markets(gateway: Gateway, call: Call) -> list[MarketView]:
    """Every market, with its rules and status."""
    return [views.market_view(market) for market in gateway.read_model().markets.all()]


async def get_market(gateway: Gateway, call: Call) -> MarketView:
    """One market, with its rules and current status."""
    return views.market_view(gateway.market(call.path_as(MarketPath).symbol))


async def get_depth(gateway: Gateway, call: Call) -> DepthView:
    """Aggregated committed depth, best first; `sequence` lines it up with WebSocket deltas."""
    symbol = call.path_as(MarketPath).symbol
    market = gateway.market(symbol)
    depth = gateway.depth.market(symbol)
    bids, asks = depth.levels(call.query_as(DepthQuery).limit)
    return DepthView(
        market=symbol,
        sequence=depth.sequence,
        bids=[(market.price_text(p), market.quantity_text(q)) for p, q in bids],
        asks=[(market.price_text(p), market.quantity_text(q)) for p, q in asks],
    )


async def list_trades(gateway: Gateway, call: Call) -> TradePage:
    """Public trades, newest first; `total` and `has_more` for paging."""
    symbol = call.path_as(MarketPath).symbol
    query = call.query_as(TradesQuery)
    market = gateway.market(symbol)
    history = await gateway.history()
    start_ns, end_ns = views.time_range(query.start_time, query.end_time)
    rows, total = await history.trade_rows(
        symbol, start_ns=start_ns, end_ns=end_ns, limit=query.limit, offset=query.offset
    )
    trades = [views.trade_from_row(row, market) for row in rows]
    has_more = query.offset + len(trades) < total
    return TradePage(trades=trades, total=total, limit=query.limit, offset=query.offset, has_more=has_more)


async def list_candles(gateway: Gateway, call: Call) -> list[CandleView]:
    """OHLCV candles, oldest first. Buckets without trades are included with no prices
    (null open/high/low/close) and zero volume, so the series has no holes."""
    symbol = call.path_as(MarketPath).symbol
    query = call.query_as(CandlesQuery)
    market = gateway.market(symbol)
    history = await gateway.history()
    start_ns, end_ns = views.time_range(query.start_time, query.end_time)
    candles = await candle_data.candles(
        history,
        symbol,
        query.interval,
        start_ns=start_ns,
        end_ns=end_ns,
        limit=query.limit,
        now_ns=time.time_ns(),
    )
    return [views.candle_view(candle, market) for candle in candles]


async def get_ticker(gateway: Gateway, call: Call) -> TickerView:
    """Rolling 24-hour statistics: the 1,440 one-minute buckets ending with the current
    one (`open_time` inclusive, `close_time` exclusive), served from memory."""
    symbol = call.path_as(MarketPath).symbol
    market = gateway.market(symbol)
    best_bid, best_ask = gateway.depth.market(symbol).best()
    ticker = gateway.live.ticker(symbol, time.time_ns())
    return views.ticker_view(ticker, market, best_bid, best_ask)
