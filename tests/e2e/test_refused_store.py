"""A store that contradicts itself is refused at start (docs/storage.md, "Recovery"): the
service answers /health but never /ready, says why in its log, takes no order, and
stops cleanly. The check runs after the read model is built (recover_core, then
Core.start), from a snapshot as from the tables."""

import asyncio
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import update

from tests.e2e.server import Server
from trade_engine.storage import schema
from trade_engine.storage.database import normalise_url, open_database


def tamper_with_a_balance(database_url: str) -> None:
    """One more USDT for one account than its ledger and the deposits account for."""

    async def run() -> None:
        database = open_database(normalise_url(database_url))
        try:
            async with database.begin() as connection:
                balances = schema.balances
                await connection.execute(
                    update(balances)
                    .where(balances.c.user_id == "refused-a", balances.c.asset == "USDT")
                    .values(available=balances.c.available + 1)
                )
        finally:
            await database.dispose()

    asyncio.run(run())


@pytest.mark.parametrize("snapshots", ["0", "1"])
def test_an_inconsistent_store_is_refused_and_the_service_never_becomes_ready(
    database_url: str, tmp_path: Path, snapshots: str
) -> None:
    settings = {"TRADE_ENGINE_SEQUENCER_SNAPSHOT_EVERY_COMMANDS": snapshots}
    server = Server(database_url, tmp_path, **settings)
    server.start()
    admin = server.headers("refused-ops", "admin")
    body = {"user_id": "refused-a", "asset": "USDT", "amount": "1000", "reference": "refused-1"}
    response = httpx.post(f"{server.url}/api/v1/admin/deposits", json=body, headers=admin, timeout=10)
    assert response.status_code == 201, response.text
    assert server.terminate() in (0, -15)
    tamper_with_a_balance(database_url)

    server.start(wait=False)
    try:
        deadline = time.monotonic() + 30
        while "inconsistent store" not in server.log_tail(200) and time.monotonic() < deadline:
            time.sleep(0.1)
        log = server.log_tail(200)
        assert "inconsistent store" in log
        # From the tables the tampered balance disagrees with the ledger; from a
        # snapshot (which holds the true balance) the balances table disagrees with it.
        said = "the balances table says" if snapshots == "1" else "ledger adds up to"
        assert f"refused-a/USDT: {said}" in log
        assert httpx.get(f"{server.url}/health", timeout=5).status_code == 200
        assert httpx.get(f"{server.url}/ready", timeout=5).status_code == 503
        order = {"market": "BTC-USDT", "side": "BUY", "price": "30000.00", "quantity": "0.001"}
        placed = httpx.post(
            f"{server.url}/api/v1/orders", json=order, headers=server.headers("refused-a"), timeout=5
        )
        assert placed.status_code == 503
        assert server.terminate() in (0, -15)
    finally:
        server.kill()
