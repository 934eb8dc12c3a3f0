"""Binance's klines (marketdata/candles.py `klines`) on SQLite and PostgreSQL, against a
recomputation from the trades with `datetime`'s calendar: every interval, weeks that
open on Monday, calendar months, trades on the exact edges, and history asked for from
before the market's first trade (python-binance asks `startTime=0&limit=1` first)."""

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import postgres_database
from tests.flows import MARKETS
from trade_engine.core.bootstrap import Core, start_core
from trade_engine.engine import Deposit, PlaceOrder, TradeExecuted
from trade_engine.marketdata.candles import Candle, klines
from trade_engine.marketdata.intervals import DAY, KLINE_INTERVALS
from trade_engine.storage.market_reads import MarketHistory

MARKET = MARKETS[0].symbol  # tick 0.5, step 0.001
NS = 10**9
MS = 10**6


def at(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, micro: int = 0
) -> int:
    return int(datetime(year, month, day, hour, minute, second, tzinfo=UTC).timestamp()) * NS + micro * 1_000


# (when, price in ticks): edges of seconds, days, a week (Monday 2026-02-02) and months.
TRADES = [
    (at(2026, 1, 30, 23, 59, 59, micro=500_000), 200),  # a Friday
    (at(2026, 1, 31), 204),  # Saturday, on a day edge
    (at(2026, 1, 31, 0, 0, 0, micro=1), 198),
    (at(2026, 2, 1), 201),  # Sunday, on a month edge
    (at(2026, 2, 2), 207),  # Monday, on a week edge
    (at(2026, 2, 2, 3, 29, 59), 195),
    (at(2026, 3, 2, 12), 210),
    (at(2026, 3, 2, 12, 0, 1), 209),
]
NOW = at(2026, 3, 2, 12, 30)


@dataclass(frozen=True)
class Trade:
    ts: int
    trade_id: int
    price: int
    quantity: int
    quote: int
    taker_buys: bool
    seq: int  # the market's sequence number of the trade


def opening(name: str, ts: int) -> int:
    """The bucket holding `ts`, by the calendar (not by intervals.py's arithmetic)."""
    moment = datetime.fromtimestamp(ts // NS, UTC)
    if name == "1M":
        return int(moment.replace(day=1, hour=0, minute=0, second=0).timestamp()) * NS
    if name == "1w":
        monday = (moment - timedelta(days=moment.weekday())).replace(hour=0, minute=0, second=0)
        return int(monday.timestamp()) * NS
    size = KLINE_INTERVALS[name].size
    return ts - ts % size


def following(name: str, start: int) -> int:
    moment = datetime.fromtimestamp(start // NS, UTC)
    if name == "1M":
        year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
        return int(datetime(year, month, 1, tzinfo=UTC).timestamp()) * NS
    return start + (7 * 86_400 * NS if name == "1w" else KLINE_INTERVALS[name].size)


def expected(name: str, trades: list[Trade], limit: int) -> list[Candle]:
    """The series from the first trade's bucket: every bucket up to now, at most `limit`."""
    series: list[Candle] = []
    start = opening(name, trades[0].ts)
    close = None
    while start <= opening(name, NOW) and len(series) < limit:
        end = following(name, start)
        inside = [t for t in trades if start <= t.ts < end]
        if inside:
            prices = [t.price for t in inside]
            bought = [t for t in inside if t.taker_buys]
            close = prices[-1]
            candle = Candle(
                start, end - start, prices[0], max(prices), min(prices), close,
                sum(t.quantity for t in inside), sum(t.quote for t in inside), len(inside),
                sum(t.quantity for t in bought), sum(t.quote for t in bought),
                inside[0].trade_id, inside[-1].trade_id,
            )  # fmt: skip
        else:
            candle = Candle(start, end - start, close, close, close, close, 0, 0, 0)
        series.append(candle)
        start = end
    return series


async def trade_history(database_url: str) -> tuple[Core, list[Trade]]:
    """A core whose market traded at each of TRADES' instants (the taker's stamp)."""
    clock = [TRADES[0][0] - NS]
    core = await start_core(database_url, markets=MARKETS, clock_ns=lambda: clock[0])
    await core.sequencer.submit(Deposit(ts=0, user_id="buyer", asset="USDT", amount=10**13))
    await core.sequencer.submit(Deposit(ts=0, user_id="seller", asset="BTC", amount=10**11))
    trades: list[Trade] = []
    for number, (when, price) in enumerate(TRADES):
        quantity = number + 1
        maker, taker = ("seller", "buyer") if number % 3 else ("buyer", "seller")
        sides = {"seller": "SELL", "buyer": "BUY"}
        clock[0] = when - MS
        order = PlaceOrder(
            ts=0, user_id=maker, market=MARKET, side=sides[maker], price=price, quantity=quantity
        )
        await core.sequencer.submit(order)
        clock[0] = when
        taking = PlaceOrder(
            ts=0, user_id=taker, market=MARKET, side=sides[taker], price=price, quantity=quantity
        )
        events = await core.sequencer.submit(taking)
        (trade,) = [e for e in events if isinstance(e, TradeExecuted)]
        assert trade.ts == when
        trades.append(
            Trade(
                when,
                trade.trade_id,
                trade.price,
                trade.quantity,
                trade.quote_amount,
                taker == "buyer",
                trade.seq,
            )
        )
    await core.settled()  # the tables are written behind the acknowledgement
    return core, trades


Series = dict[tuple[str, int | None, int | None, int], list[Candle]]
# (interval, startTime, endTime, limit) of each series the tests read.
END = at(2026, 2, 1)  # the first of February opens a day and a month, not a week
ASKED = [
    *((name, 0, None, 1000) for name in KLINE_INTERVALS),
    *((name, 0, None, 1) for name in KLINE_INTERVALS),
    ("1w", None, None, 6),
    ("1M", None, None, 3),
    *((name, None, None, 2) for name in ("1d", "3d", "1w", "1M")),
    ("1d", 0, END, 1000),
    ("1w", 0, END, 1000),
]


async def read_all(database_url: str) -> tuple[list[Trade], Series]:
    core, trades = await trade_history(database_url)
    try:
        found: Series = {}
        for name, start, end, limit in ASKED:
            interval = KLINE_INTERVALS[name]
            found[name, start, end, limit] = await klines(
                MarketHistory(core.database),
                MARKET,
                interval,
                start_ns=start,
                end_ns=end,
                limit=limit,
                now_ns=NOW,
            )
    finally:
        await core.close()
    return trades, found


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def history(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('klines')}/trade-engine.db"
        yield asyncio.run(read_all(url))
    else:
        for url in postgres_database():
            yield asyncio.run(read_all(url))


def test_every_interval_from_before_the_first_trade_matches_the_calendar(history) -> None:
    trades, found = history
    for name in KLINE_INTERVALS:
        assert found[name, 0, None, 1000] == expected(name, trades, 1000), name


def test_a_start_before_the_first_trade_with_limit_one_gets_the_first_kline(history) -> None:
    trades, found = history
    for name in KLINE_INTERVALS:
        (first,) = found[name, 0, None, 1]
        assert first.open_ts == opening(name, trades[0].ts), name
        assert first.first_id == trades[0].trade_id, name


def test_weeks_open_on_monday_and_months_on_the_first(history) -> None:
    _, found = history
    weeks = [c.open_ts for c in found["1w", None, None, 6]]
    assert [datetime.fromtimestamp(w // NS, UTC).strftime("%a %H:%M") for w in weeks] == ["Mon 00:00"] * 6
    months = found["1M", None, None, 3]
    assert [datetime.fromtimestamp(m.open_ts // NS, UTC).date().isoformat() for m in months] == [
        "2026-01-01",
        "2026-02-01",
        "2026-03-01",
    ]
    # A month lasts as long as it does: February 2026 has 28 days.
    assert months[1].interval == 28 * 86_400 * NS


def test_without_a_start_the_latest_klines_end_with_the_current_bucket(history) -> None:
    trades, found = history
    for name in ("1d", "3d", "1w", "1M"):
        assert found[name, None, None, 2] == expected(name, trades, 1000)[-2:], name


def test_an_end_time_keeps_only_buckets_opening_at_or_before_it(history) -> None:
    trades, found = history
    assert [c.open_ts for c in found["1d", 0, END, 1000]][-1] == END
    assert found["1w", 0, END, 1000] == expected("1w", trades, 1)


def test_the_history_cut_at_a_market_sequence_number_leaves_the_later_trades_out(tmp_path: Path) -> None:
    # A gateway loads its live market data as of the state it starts from, while the
    # tables may already hold later trades (marketdata/live.py).
    async def run() -> tuple[list[Trade], list[tuple[int, ...]], object, object]:
        core, trades = await trade_history(f"sqlite:///{tmp_path}/trade-engine.db")
        try:
            history = MarketHistory(core.database)
            rows, _ = await history.buckets(MARKET, DAY, 0, 2**62, through_seq=trades[4].seq)
            cut = await history.last_trade(MARKET, through_seq=trades[4].seq)
            everything = await history.last_trade(MARKET)
        finally:
            await core.close()
        return trades, rows, cut, everything

    trades, rows, cut, everything = asyncio.run(run())
    assert sum(row[7] for row in rows) == 5  # each row: ..., trade count, ..., first id, last id
    assert max(row[-1] for row in rows) == trades[4].trade_id
    assert cut == (trades[4].quantity, trades[4].ts)
    assert everything == (trades[-1].quantity, trades[-1].ts)
