"""The operators' records on SQLite and PostgreSQL: the audit log table (migration
`0005`), writing and paging it, and the transfer history with references."""

import asyncio

from tests.flows import MARKETS
from tests.integration.migrations import round_trip
from trade_engine.core.bootstrap import start_core
from trade_engine.engine import Deposit, Withdraw
from trade_engine.storage.database import open_database
from trade_engine.storage.migrate import upgrade
from trade_engine.storage.operations import AuditEntry, OperatorHistory, record_audit

OURS = {"audit_log", "ix_idempotency_keys_scope_ref_id"}


def run(coroutine):
    return asyncio.run(coroutine)


def test_audit_log_migration_matches_the_schema_and_goes_both_ways(database_url):
    trip = run(round_trip(database_url, "0003", OURS))
    assert trip.after_upgrade == []
    assert "audit_log" not in trip.tables_below
    assert trip.again == []


def test_audit_entries_are_paged_newest_first(database_url):
    async def scenario():
        database = open_database(database_url)
        await upgrade(database)
        for n in range(5):
            entry = AuditEntry(
                ts=1_767_225_600_000_000_000 + n,
                actor="ops",
                action=f"POST /api/v1/admin/markets/{{symbol}}/halt #{n}",
                target=f"M{n}-USDT",
                summary=f'{{"n": {n}}}',
                status=200,
                request_id=f"rid-{n}",
            )
            await record_audit(database, entry)
        first = await OperatorHistory(database).audit_rows(limit=2, offset=0)
        rest = await OperatorHistory(database).audit_rows(limit=10, offset=2)
        await database.dispose()
        return first, rest

    (first, total), (rest, total_again) = run(scenario())
    assert total == total_again == 5
    assert [row["target"] for row in first + rest] == ["M4-USDT", "M3-USDT", "M2-USDT", "M1-USDT", "M0-USDT"]
    assert first[0]["actor"] == "ops"
    assert first[0]["summary"] == '{"n": 4}'
    assert first[0]["request_id"] == "rid-4"


def test_transfers_are_listed_newest_first_with_their_references(database_url):
    async def scenario():
        core = await start_core(database_url, markets=MARKETS)
        submit = core.sequencer.submit
        await submit(Deposit(ts=0, user_id="u1", asset="USDT", amount=500, reference="wallet-1"))
        await submit(Deposit(ts=0, user_id="u2", asset="BTC", amount=7))
        await submit(Withdraw(ts=0, user_id="u1", asset="USDT", amount=200, reference="wallet-2"))
        await core.settled()  # the tables are written behind the acknowledgement
        history = OperatorHistory(core.database)
        everything = await history.transfer_rows(user_id=None, asset=None, kind=None, limit=10, offset=0)
        of_u1 = await history.transfer_rows(user_id="u1", asset=None, kind=None, limit=1, offset=1)
        deposits = await history.transfer_rows(user_id=None, asset=None, kind="DEPOSIT", limit=10, offset=0)
        btc = await history.transfer_rows(user_id=None, asset="BTC", kind=None, limit=10, offset=0)
        await core.close()
        return everything, of_u1, deposits, btc

    (rows, total), (u1_rows, u1_total), (deposit_rows, _), (btc_rows, _) = run(scenario())
    assert total == 3
    assert [(r["kind"], r["user_id"], r["amount"], r["reference"]) for r in rows] == [
        ("WITHDRAWAL", "u1", 200, "wallet-2"),
        ("DEPOSIT", "u2", 7, None),
        ("DEPOSIT", "u1", 500, "wallet-1"),
    ]
    assert u1_total == 2
    assert [r["reference"] for r in u1_rows] == ["wallet-1"]
    assert [r["kind"] for r in deposit_rows] == ["DEPOSIT", "DEPOSIT"]
    assert [r["user_id"] for r in btc_rows] == ["u2"]
