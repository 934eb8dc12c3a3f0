"""Binance's 1-second statistics streams: `@ticker`, `@miniTicker` and `@kline_<i>`,
from the live market data (the figures the REST API serves).

A kline goes out for each bucket that traded in the last second: the bucket the trades
fell in, not the bucket of now, so a trade just before a bucket's edge is reported in
its own bucket. A bucket sent open is sent once more, final (`"x": true`), when it has
closed: `CLOSE_GRACE` after its end, since a trade stamped just before the edge may
still be committing at it. A trade committed later still (a commit slower than the
grace) is in the REST klines but not streamed: a bucket sent final is never sent again.
"""

from typing import Final

from trade_engine.binance.outlet import StreamOutlet
from trade_engine.binance.tickers import day_ticker
from trade_engine.binance.views import kline
from trade_engine.binance.wire import symbol_of
from trade_engine.domain.timestamps import NS_PER_SECOND, ms
from trade_engine.marketdata.depth import DepthBook
from trade_engine.marketdata.intervals import KLINE_INTERVALS
from trade_engine.marketdata.live import LiveMarketData
from trade_engine.readmodel.markets import Markets

CLOSE_GRACE: Final = NS_PER_SECOND


class StatisticsStreams:
    def __init__(
        self, markets: Markets, depth: DepthBook, live: LiveMarketData, outlet: StreamOutlet
    ) -> None:
        self._markets = markets
        self._depth = depth
        self._live = live
        self._outlet = outlet
        # Per market and interval: the buckets sent open (sent again, final, when they
        # close), and the latest bucket sent final (never sent again).
        self._open_klines: dict[tuple[str, str], set[int]] = {}
        self._final: dict[tuple[str, str], int] = {}

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
        for key, starts in self._open_klines.items():
            kind = KLINE_INTERVALS[key[1]]
            ended = {start for start in starts if kind.next(start) + CLOSE_GRACE <= now_ns}
            if ended:
                due[key] = ended
        for symbol, (first, last) in traded.items():
            stream = symbol_of(symbol).lower()
            for interval, kind in KLINE_INTERVALS.items():
                if not self._outlet.wanted(f"{stream}@kline_{interval}"):
                    continue
                # A second's trades span at most three buckets (of `1s`, the loop late).
                start = max(kind.start(first), kind.shift(kind.start(last), -2))
                while start <= last:
                    due.setdefault((symbol, interval), set()).add(start)
                    start = kind.next(start)
        for key, starts in due.items():
            kind, final = KLINE_INTERVALS[key[1]], self._final.get(key, -1)
            for start in sorted(starts):
                if start <= final:
                    continue  # sent final already
                closed = kind.next(start) + CLOSE_GRACE <= now_ns
                if closed:
                    self._final[key] = final = start
                    self._forget_open(key, start)
                else:
                    self._open_klines.setdefault(key, set()).add(start)
                self._publish_kline(key[0], key[1], start, closed, ms(now_ns))

    def _forget_open(self, key: tuple[str, str], start: int) -> None:
        starts = self._open_klines.get(key)
        if starts is not None:
            starts.discard(start)
            if not starts:
                del self._open_klines[key]

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
