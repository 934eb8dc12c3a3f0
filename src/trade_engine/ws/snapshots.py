"""What a new subscriber of a native channel starts from: the book, the ticker, the
current candle, the user's balances, as of the last committed batch."""

import time

from trade_engine.api import views
from trade_engine.domain.market import Market
from trade_engine.edge.connection import Connection, Frame
from trade_engine.engine import Balance
from trade_engine.marketdata.candles import INTERVALS
from trade_engine.ws.channels import Channels, encode
from trade_engine.ws.protocol import (
    BALANCES,
    BOOK,
    CANDLES,
    TICKER,
    Balances,
    BookSnapshot,
    CandleUpdate,
    Channel,
    TickerUpdate,
)


class Snapshots:
    def __init__(self, channels: Channels) -> None:
        self._channels = channels
        # Per market: the book snapshot frame and the (delta seq, market seq) it is of.
        self._books: dict[str, tuple[tuple[int, int], Frame]] = {}

    def offer(self, connection: Connection, channel: Channel, user_id: str | None) -> None:
        """Queue what a new subscriber starts from, if the channel has a snapshot."""
        kind = channel.kind
        channels = self._channels
        if kind == BALANCES:
            assert user_id is not None
            connection.offer(self._balances(user_id))
            return
        if channel.market is None:
            return
        market = channels.markets.require(channel.market)
        if kind == BOOK:
            connection.offer(self._book(market))
        elif kind == TICKER:
            now = time.time_ns()
            view = channels.ticker_view(market, now)
            if channels.tickers.get(market.symbol) != view:
                # Newer than what subscribers last got: everyone gets it (the new
                # subscriber is subscribed already).
                channels.publish_ticker(market, now, 0)
            else:
                connection.offer(Frame(encode(TickerUpdate(channel.name, market.symbol, None, view))))
        elif kind == CANDLES:
            assert channel.interval is not None
            size = INTERVALS[channel.interval]
            now = time.time_ns()
            candle = channels.live.candle(market.symbol, channel.interval, now - now % size)
            message = CandleUpdate(
                channel.name, market.symbol, channel.interval, None, [views.candle_view(candle, market)]
            )
            connection.offer(Frame(encode(message)))

    def _book(self, market: Market) -> Frame:
        symbol = market.symbol
        depth = self._channels.depth.market(symbol)
        seq = self._channels.book_seq.get(symbol, 0)
        version = (seq, depth.sequence)
        cached = self._books.get(symbol)
        if cached is not None and cached[0] == version:
            return cached[1]
        bids, asks = depth.levels(0)
        message = BookSnapshot(
            self._channels.keys(symbol).book,
            symbol,
            seq,
            depth.sequence,
            views.levels(market, bids),
            views.levels(market, asks),
        )
        frame = Frame(encode(message))
        self._books[symbol] = (version, frame)
        return frame

    def _balances(self, user_id: str) -> Frame:
        channels = self._channels
        held: dict[str, Balance] = {
            asset: balance
            for asset, balance in channels.balances.of_user(user_id).items()
            if balance.available or balance.locked
        }
        return Frame(encode(Balances(BALANCES, None, channels.balance_views(held))))
