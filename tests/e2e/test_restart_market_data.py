"""After a crash with the tables behind the journal, the restarted service's market data
counts every acknowledged trade: recovery hands the rows the tables lack to the table
writer, behind the journal, and the 24h ticker (loaded from the tables) starts only once
they are written (app/root.py, `Core.settled`)."""

import asyncio
import subprocess
import sys
from pathlib import Path

import httpx
from sqlalchemy import func, select

from tests.e2e.client import API, ok
from tests.e2e.server import Server
from trade_engine.storage import schema
from trade_engine.storage.database import normalise_url, open_database

ROOT = Path(__file__).resolve().parents[2]


def trades_per_market(database_url: str) -> dict[str, int]:
    async def run() -> dict[str, int]:
        database = open_database(normalise_url(database_url))
        try:
            async with database.connect() as connection:
                trades = schema.trades.c
                query = select(trades.market, func.count()).group_by(trades.market)
                return {market: int(count) for market, count in await connection.execute(query)}
        finally:
            await database.dispose()

    return asyncio.run(run())


def test_the_ticker_after_a_crash_counts_the_trades_only_the_journal_held(
    database_url: str, tmp_path: Path
) -> None:
    crashed = subprocess.run(
        [sys.executable, "-m", "tests.integration.journal_child", database_url, str(tmp_path / "out")],
        cwd=ROOT,
        check=False,
        capture_output=True,
        timeout=120,
    )
    assert crashed.returncode == -9, crashed.stderr.decode()[-2000:]
    written_before = trades_per_market(database_url)

    server = Server(database_url, tmp_path)
    server.start()
    try:
        tickers = {
            market: ok(httpx.get(f"{server.url}{API}/markets/{market}/ticker", timeout=10))
            for market in ("BTC-USDT", "ETH-BTC")
        }
    finally:
        assert server.terminate() in (0, -15)
    written_after = trades_per_market(database_url)

    # Trades acknowledged from the journal alone: the restart wrote their rows.
    assert sum(written_after.values()) > sum(written_before.values())
    assert {market: ticker["trades"] for market, ticker in tickers.items()} == {
        market: written_after.get(market, 0) for market in tickers
    }
