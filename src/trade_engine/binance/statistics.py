"""Binance's 1-second statistics streams: `@ticker`, `@miniTicker` and `@kline_<i>`,
from the live market data (the figures the REST API serves).

A kline goes out for each bucket that traded in the last second: the bucket the trades
fell in, not the bucket of now, so a trade just before a bucket's edge is reported in
its own bucket, already closed (`"x": true`). A bucket sent open is sent once more,
final, when it closes (Binance's closing message).
"""

from trade_engine.binance.outlet import StreamOutlet
from trade_engine.binance.tickers import day_ticker
from trade_engine.binance.views import kline
from trade_engine.binance.wire import symbol_of
from trade_engine.domain.timestamps import ms
from trade_engine.marketdata.depth import DepthBook
from trade_engine.marketdata.intervals import KLINE_INTERVALS
from trade_engine.marketdata.live import LiveMarketData
from trade_engine.readmodel.markets import Markets


class StatisticsStreams:
    def __init__(
        self, markets: Markets, depth: DepthBook, live: LiveMarketData, outlet: StreamOutlet
    ) -> None:
        self._markets = markets
        self._depth = depth
        self._live = live
        self._outlet = outlet
        # Per market and interval: the bucket last sent open, sent again when it closes.
        self._open_klines: dict[tuple[str, str], int] = {}

    def publish(self, traded: dict[str, tuple[int, int]], now_ns: int) -> None:
        """`traded`: the first and last trade time of each market that traded since the
        last call."""
        for symbol in traded:
            self._publish_tickers(symbol, now_ns)
        self._publish_klines(traded, now_ns)

    def _publish_tickers(self, symbol: str, now_ns: int) -> None:
        market = self._markets.require(symbol)
        stream = symbol_of(symbol).lower()
        now = ms(now_ns)
        if self._outlet.wanted(f"{stream}@ticker") or self._outlet.wanted(f"{stream}@miniTicker"):
            ticker = self._live.ticker(symbol, now_ns)
            t = day_ticker(market, ticker, self._depth.market(symbol), now_ns)
            common = {
                "c": t["lastPrice"],
                "o": t["openPrice"],
                "h": t["highPrice"],
                "l": t["lowPrice"],
                "v": t["volume"],
                "q": t["quoteVolume"],
            }
            self._outlet.publish(
                f"{stream}@miniTicker", {"e": "24hrMiniTicker", "E": now, "s": t["symbol"], **common}
            )
            self._outlet.publish(
                f"{stream}@ticker",
                {
                    "e": "24hrTicker",
                    "E": now,
                    "s": t["symbol"],
                    "p": t["priceChange"],
                    "P": t["priceChangePercent"],
                    "w": t["weightedAvgPrice"],
                    "x": t["prevClosePrice"],
                    "Q": t["lastQty"],
                    "b": t["bidPrice"],
                    "B": t["bidQty"],
                    "a": t["askPrice"],
                    "A": t["askQty"],
                    "O": t["openTime"],
                    "C": t["closeTime"],
                    "F": t["firstId"],
                    "L": t["lastId"],
                    "n": t["count"],
                    **common,
                },
            )

    def _publish_klines(self, traded: dict[str, tuple[int, int]], now_ns: int) -> None:
        """Each bucket that traded (`traded`: the first and last trade time per market)
        and each bucket sent open that has closed since, once, in time order."""
        due: dict[tuple[str, str], set[int]] = {}
        for key, start in self._open_klines.items():
            if KLINE_INTERVALS[key[1]].next(start) <= now_ns:
                due.setdefault(key, set()).add(start)
        for symbol, (first, last) in traded.items():
            stream = symbol_of(symbol).lower()
            for interval, kind in KLINE_INTERVALS.items():
                if not self._outlet.wanted(f"{stream}@kline_{interval}"):
                    continue
                # A second's trades span at most three buckets (of `1s`, the timer late).
                start = max(kind.start(first), kind.shift(kind.start(last), -2))
                while start <= last:
                    due.setdefault((symbol, interval), set()).add(start)
                    start = kind.next(start)
        for (symbol, interval), starts in due.items():
            kind = KLINE_INTERVALS[interval]
            for start in sorted(starts):
                closed = kind.next(start) <= now_ns
                if not closed:
                    self._open_klines[(symbol, interval)] = start
                elif self._open_klines.get((symbol, interval)) == start:
                    del self._open_klines[(symbol, interval)]
                self._publish_kline(symbol, interval, start, closed, ms(now_ns))

    def _publish_kline(self, symbol: str, interval: str, start: int, closed: bool, now: int) -> None:
        name = f"{symbol_of(symbol).lower()}@kline_{interval}"
        candle = self._live.candle(symbol, interval, start)
        if not candle.trades or not self._outlet.wanted(name):
            return
        market = self._markets.require(symbol)
        k = kline(candle, market)
        self._outlet.publish(
            name,
            {
                "e": "kline",
                "E": now,
                "s": symbol_of(symbol),
                "k": {
                    "t": k[0],
                    "T": k[6],
                    "s": symbol_of(symbol),
                    "i": interval,
                    "f": candle.first_id,
                    "L": candle.last_id,
                    "o": k[1],
                    "c": k[4],
                    "h": k[2],
                    "l": k[3],
                    "v": k[5],
                    "n": k[8],
                    "x": closed,
                    "q": k[7],
                    "V": k[9],
                    "Q": k[10],
                    "B": "0",
                },
            },
        )
