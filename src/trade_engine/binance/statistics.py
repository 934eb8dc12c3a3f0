"""Binance's 1-second statistics streams: `@ticker`, `@miniTicker`, `!miniTicker@arr`
and `@kline_<i>`, from the live market data (the figures the REST API serves).

Tickers go out for the markets that changed in the last second, as Binance's
`!miniTicker@arr` says of its own ("only tickers that have changed"): a mini ticker when
the market traded, a full one then too or when its best bid or ask moved (it shows
them). `!miniTicker@arr` holds the mini tickers of every market that traded.

A kline goes out for each bucket that traded in the last second: the bucket the trades
fell in, not the bucket of now, so a trade just before a bucket's edge is reported in
its own bucket. A bucket sent open is sent once more, final (`"x": true`), when it has
closed: `CLOSE_GRACE` after its end, since a trade stamped just before the edge may
still be committing at it. A trade committed later still (a commit slower than the
grace) is in the REST klines but not streamed: a bucket sent final is never sent again.
"""

from typing import Any, Final

from trade_engine.binance.outlet import ALL_MINI_TICKERS, StreamOutlet
from trade_engine.binance.tickers import day_ticker
from trade_engine.binance.views import kline, top
from trade_engine.binance.wire import symbol_of
from trade_engine.domain.timestamps import NS_PER_SECOND, ms
from trade_engine.marketdata.depth import DepthBook
from trade_engine.marketdata.intervals import KLINE_INTERVALS
from trade_engine.marketdata.live import LiveMarketData
from trade_engine.readmodel.markets import Markets

CLOSE_GRACE: Final = NS_PER_SECOND


def _mini(t: dict[str, Any], now: int) -> dict[str, Any]:
    """A mini ticker's event, from a 24-hour ticker."""
    return {"e": "24hrMiniTicker", "E": now, "s": t["symbol"], **_common(t)}


def _common(t: dict[str, Any]) -> dict[str, Any]:
    """The fields `@ticker` and `@miniTicker` share, from a 24-hour ticker."""
    return {
        "c": t["lastPrice"],
        "o": t["openPrice"],
        "h": t["highPrice"],
        "l": t["lowPrice"],
        "v": t["volume"],
        "q": t["quoteVolume"],
    }


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
        # Per market with `@ticker` subscribers: the best bid and ask the last one sent.
        self._ticker_tops: dict[str, tuple[tuple[int, int], tuple[int, int]]] = {}

    def publish(self, traded: dict[str, tuple[int, int]], quoted: set[str], now_ns: int) -> None:
        """`traded`: the first and last trade time of each market that traded since the
        last call; `quoted`: the markets whose book changed since then."""
        made: dict[str, dict[str, Any]] = {}  # the day tickers made this second
        for symbol in traded:
            self._publish_tickers(symbol, now_ns, made, traded=True)
        for symbol in quoted.difference(traded):
            self._publish_tickers(symbol, now_ns, made, traded=False)
        if traded and self._outlet.wanted(ALL_MINI_TICKERS):
            now = ms(now_ns)
            minis = [_mini(self._day_ticker(symbol, now_ns, made), now) for symbol in sorted(traded)]
            self._outlet.publish(ALL_MINI_TICKERS, minis)
        self._publish_klines(traded, now_ns)

    def _day_ticker(self, symbol: str, now_ns: int, made: dict[str, dict[str, Any]]) -> dict[str, Any]:
        ticker = made.get(symbol)
        if ticker is None:
            market, depth = self._markets.require(symbol), self._depth.market(symbol)
            ticker = made[symbol] = day_ticker(market, self._live.ticker(symbol, now_ns), depth, now_ns)
        return ticker

    def _publish_tickers(
        self, symbol: str, now_ns: int, made: dict[str, dict[str, Any]], *, traded: bool
    ) -> None:
        """`@miniTicker` when the market traded; `@ticker` then too, or when its best bid
        or ask moved (it shows them: a quote that moved is a ticker that changed)."""
        stream = symbol_of(symbol).lower()
        full, mini = f"{stream}@ticker", f"{stream}@miniTicker"
        best = top(self._depth.market(symbol)) if self._outlet.wanted(full) else None
        if best is None:
            self._ticker_tops.pop(symbol, None)
        elif not traded and self._ticker_tops.get(symbol) == best:
            best = None  # nothing the full ticker shows moved
        send_mini = traded and self._outlet.wanted(mini)
        if best is None and not send_mini:
            return
        now = ms(now_ns)
        t = self._day_ticker(symbol, now_ns, made)
        if send_mini:
            self._outlet.publish(mini, _mini(t, now))
        if best is not None:
            self._ticker_tops[symbol] = best
            self._outlet.publish(
                full,
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
                    **_common(t),
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
