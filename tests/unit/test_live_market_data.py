"""Live candles and tickers (marketdata/live.py) against a recomputation from the trades.

Trades at random instants over two days, many of them exactly on bucket edges; after
each one, the live ticker (at several "now"s) and the candles of the current and the
previous bucket of every interval must equal what the plain definition gives.
"""

from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from trade_engine.marketdata.candles import DAY, INTERVALS, Candle, Ticker
from trade_engine.marketdata.intervals import KLINE_INTERVALS, MINUTE
from trade_engine.marketdata.live import LiveMarketData
from trade_engine.readmodel.trades import TradeModel

SYMBOL = "BTC-USDT"
START = 1_767_225_600 * 10**9  # a day edge


@dataclass(frozen=True)
class Trade:
    ts: int
    price: int
    quantity: int
    taker_side: str = "BUY"
    trade_id: int = 0

    @property
    def quote(self) -> int:
        return self.price * self.quantity * 10


def event(trade_id: int, trade: Trade) -> TradeModel:
    return TradeModel(
        trade_id=trade_id, market=SYMBOL, price=trade.price, quantity=trade.quantity,
        quote_amount=trade.quote, taker_side=trade.taker_side, taker_order_id=2, ts=trade.ts,
    )  # fmt: skip


def ids(inside: list[Trade]) -> tuple[int, int]:
    return inside[0].trade_id, inside[-1].trade_id


def expected_candle(trades: list[Trade], start: int, size: int) -> Candle:
    inside = [t for t in trades if start <= t.ts < start + size]
    if not inside:
        return Candle(start, size, None, None, None, None, 0, 0, 0)
    prices = [t.price for t in inside]
    bought = [t for t in inside if t.taker_side == "BUY"]
    return Candle(
        start, size, prices[0], max(prices), min(prices), prices[-1],
        sum(t.quantity for t in inside), sum(t.quote for t in inside), len(inside),
        sum(t.quantity for t in bought), sum(t.quote for t in bought), *ids(inside),
    )  # fmt: skip


def expected_ticker(trades: list[Trade], now: int) -> Ticker:
    end = (now // MINUTE + 1) * MINUTE
    candle = expected_candle(trades, end - DAY, DAY)
    before = [t for t in trades if t.ts < end - DAY]
    previous_close = before[-1].price if before else None
    inside = [t for t in trades if end - DAY <= t.ts < end]
    return Ticker(
        end - DAY, end, candle.open, candle.high, candle.low, candle.close,
        candle.volume, candle.quote_volume, candle.trades, candle.first_id, candle.last_id,
        inside[-1].quantity if inside else 0, previous_close,
    )  # fmt: skip


# Offsets from START: on an edge of some bucket, or anywhere.
edges = st.builds(lambda n, unit: n * unit, st.integers(0, 2 * 1440), st.sampled_from([MINUTE, 300 * 10**9]))
anywhere = st.integers(0, 2 * DAY)
near = st.integers(0, 10 * MINUTE)  # dense: several trades a minute
# (offset, price, quantity, peek): the ticker is also read `peek` after the trade, before
# the next one, which may still be stamped earlier (a commit overlapping a minute edge).
steps = st.lists(
    st.tuples(
        st.one_of(edges, anywhere, near),
        st.integers(1, 50),
        st.integers(1, 9),
        st.integers(0, 2 * MINUTE),
        st.sampled_from(["BUY", "SELL"]),
    ),
    min_size=1,
    max_size=60,
)


@settings(max_examples=60, deadline=None)
@given(steps=steps, lags=st.lists(st.integers(0, 2 * DAY), min_size=1, max_size=3))
def test_live_candles_and_ticker_equal_a_recomputation_from_the_trades(
    steps: list[tuple[int, int, int, int, str]], lags: list[int]
) -> None:
    live = LiveMarketData()
    trades: list[Trade] = []
    # Trades arrive in time order (the sequencer stamps them so).
    for trade_id, (offset, price, quantity, peek, side) in enumerate(sorted(steps), start=1):
        trade = Trade(START + offset, price, quantity, side, trade_id)
        trades.append(trade)
        live.add_trades([event(trade_id, trade)])
        for name, size in INTERVALS.items():
            current = trade.ts - trade.ts % size
            assert live.candle(SYMBOL, name, current) == expected_candle(trades, current, size)
            earlier = {t.ts - t.ts % size for t in trades if t.ts - t.ts % size < current}
            if earlier:  # the bucket before the current one is kept too
                previous = max(earlier)
                assert live.candle(SYMBOL, name, previous) == expected_candle(trades, previous, size)
        assert live.ticker(SYMBOL, trade.ts) == expected_ticker(trades, trade.ts)
        assert live.ticker(SYMBOL, trade.ts + peek) == expected_ticker(trades, trade.ts + peek)
    last = trades[-1].ts
    for lag in sorted(lags):  # the window slides on with no new trades
        assert live.ticker(SYMBOL, last + lag) == expected_ticker(trades, last + lag)


def test_a_market_without_trades_has_an_empty_ticker_and_empty_candles() -> None:
    live = LiveMarketData()
    ticker = live.ticker(SYMBOL, START + 1)
    assert ticker == Ticker(START + MINUTE - DAY, START + MINUTE, None, None, None, None, 0, 0, 0)
    assert live.candle(SYMBOL, "1h", START) == Candle(START, INTERVALS["1h"], None, None, None, None, 0, 0, 0)


def test_a_trade_committed_across_a_minute_edge_still_counts_in_the_ticker() -> None:
    """A trade stamped at 00:01:10 whose commit lands after the ticker was read at 00:02:00."""
    live = LiveMarketData()
    first, late = Trade(START + 30 * 10**9, 10, 1, trade_id=1), Trade(START + 70 * 10**9, 12, 2, trade_id=2)
    live.add_trades([event(1, first)])
    read_at = START + 2 * MINUTE
    assert live.ticker(SYMBOL, read_at) == expected_ticker([first], read_at)
    live.add_trades([event(2, late)])
    assert live.ticker(SYMBOL, read_at) == expected_ticker([first, late], read_at)
    assert live.ticker(SYMBOL, read_at).trades == 2


@settings(max_examples=40, deadline=None)
@given(steps=steps, lags=st.lists(st.integers(0, DAY), min_size=1, max_size=3))
def test_every_kline_interval_and_rolling_window_equal_a_recomputation(
    steps: list[tuple[int, int, int, int, str]], lags: list[int]
) -> None:
    """The candles Binance's kline streams read (the bucket of now, whatever the
    interval: weeks and months included) and the rolling-window tickers of up to a day."""
    live = LiveMarketData()
    trades: list[Trade] = []
    for trade_id, (offset, price, quantity, _, side) in enumerate(sorted(steps), start=1):
        trade = Trade(START + offset, price, quantity, side, trade_id)
        trades.append(trade)
        live.add_trades([event(trade_id, trade)])
        for name, interval in KLINE_INTERVALS.items():
            start = interval.start(trade.ts)
            want = expected_candle(trades, start, interval.length(start))
            assert live.candle(SYMBOL, name, start) == want, name
    last = trades[-1].ts
    for lag in sorted(lags):
        now = last + lag
        for window in (MINUTE, 59 * MINUTE, 4 * 60 * MINUTE, DAY):
            start = (now - window) // MINUTE * MINUTE
            inside = [t for t in trades if start <= t.ts <= now]
            candle = expected_candle(trades, start, now + 1 - start)
            before = [t for t in trades if t.ts < start]
            assert live.window(SYMBOL, now, window) == Ticker(
                start, now, candle.open, candle.high, candle.low, candle.close,
                candle.volume, candle.quote_volume, candle.trades, candle.first_id, candle.last_id,
                inside[-1].quantity if inside else 0, before[-1].price if before else None,
            )  # fmt: skip
