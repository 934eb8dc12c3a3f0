"""Reading rows straight from the driver (storage/database.driver_batches), as recovery
reads a million open orders: on SQLite and PostgreSQL, the same rows in the same order
as through SQLAlchemy, in batches of the size asked, and a restart reading its orders
in many small batches restores exactly the committed state."""

import asyncio
from typing import Any

import pytest
from sqlalchemy import select

from tests.flows import MARKETS
from tests.integration.test_storage import fund, random_flow
from trade_engine.core.bootstrap import start_core
from trade_engine.storage import recovery, schema
from trade_engine.storage.database import driver_batches
from trade_engine.storage.recovery import OPEN_ORDERS_IN_PRIORITY


def test_driver_batches_give_sqlalchemys_rows_in_batches_and_a_restart_restores_the_state(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def scenario() -> tuple[list[list[Any]], list[Any], bytes, bytes]:
        core = await start_core(database_url, markets=MARKETS)
        await fund(core)
        await random_flow(core, seed=3, count=600)
        await core.settled()
        async with core.database.connect() as connection:
            through_sqlalchemy = [tuple(row) for row in await connection.execute(OPEN_ORDERS_IN_PRIORITY)]
            batches = [list(batch) async for batch in driver_batches(connection, OPEN_ORDERS_IN_PRIORITY, 3)]
            # Still usable afterwards, in the same transaction.
            assert (await connection.execute(select(schema.markets.c.symbol))).all()
        snapshot = core.engine.snapshot()
        await core.close()
        monkeypatch.setattr(recovery, "ORDER_BATCH", 3)
        restarted = await start_core(database_url, markets=MARKETS)
        restored = restarted.engine.snapshot()
        await restarted.close()
        return batches, through_sqlalchemy, snapshot, restored

    batches, rows, snapshot, restored = asyncio.run(scenario())
    assert len(rows) > 3 * 3, "too few open orders to need several batches"
    assert all(len(batch) == 3 for batch in batches[:-1])
    assert 1 <= len(batches[-1]) <= 3
    from_driver = [tuple(row) for batch in batches for row in batch]
    # SQLite's driver gives booleans as 0 or 1; otherwise the values are the same.
    assert [tuple(int(v) if isinstance(v, bool) else v for v in row) for row in from_driver] == [
        tuple(int(v) if isinstance(v, bool) else v for v in row) for row in rows
    ]
    assert restored == snapshot


def test_driver_batches_refuse_a_statement_with_parameters(database_url: str) -> None:
    async def scenario() -> None:
        core = await start_core(database_url, markets=MARKETS)
        try:
            async with core.database.connect() as connection:
                statement = select(schema.markets).where(schema.markets.c.symbol == "BTC-USDT")
                with pytest.raises(ValueError, match="without parameters"):
                    async for _ in driver_batches(connection, statement, 10):
                        pass
        finally:
            await core.close()

    asyncio.run(scenario())
