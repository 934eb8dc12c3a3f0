"""Ledger verification on demand (api/verification.py), on SQLite and PostgreSQL: the
start-up checks on a live store, on one consistent snapshot, one run at a time."""

import asyncio
import threading

import pytest
from sqlalchemy import update

from tests.flows import MARKETS
from tests.integration.test_storage import fund, random_flow
from tests.postgres_locks import held
from trade_engine.api import verification
from trade_engine.api.verification import LedgerVerifier, Verification, verify_snapshot
from trade_engine.config import DatabaseConfig
from trade_engine.core.bootstrap import start_core
from trade_engine.storage import schema
from trade_engine.storage.database import open_database

TIMEOUT = DatabaseConfig().verification_timeout_seconds


def run(coroutine):
    return asyncio.run(coroutine)


def test_a_sound_store_verifies_consistent_with_what_it_holds(database_url):
    async def scenario():
        core = await start_core(database_url, markets=MARKETS)
        await fund(core)
        await random_flow(core, seed=3, count=300)
        open_orders = len(core.engine.all_open_orders())
        await core.close()
        return open_orders, await verify_snapshot(database_url, TIMEOUT)

    open_orders, result = run(scenario())
    assert result.outcome == "CONSISTENT"
    assert (result.problems, result.problem_count, result.error) == ([], 0, None)
    # Accounts: the four users and the exchange's fee account.
    assert (result.markets, result.accounts, result.open_orders) == (len(MARKETS), 5, open_orders)
    assert result.finished_ns >= result.started_ns


def test_a_tampered_balance_is_reported_inconsistent(database_url):
    async def scenario():
        core = await start_core(database_url, markets=MARKETS)
        await fund(core)
        await core.close()
        database = open_database(database_url)
        async with database.begin() as connection:
            await connection.execute(
                update(schema.balances)
                .where(schema.balances.c.user_id == "u2", schema.balances.c.asset == "BTC")
                .values(available=schema.balances.c.available - 1)
            )
        await database.dispose()
        return await verify_snapshot(database_url, TIMEOUT)

    result = run(scenario())
    assert result.outcome == "INCONSISTENT"
    assert result.problem_count == len(result.problems) >= 2
    assert any(problem.startswith("BTC: balances sum to") for problem in result.problems)
    assert any(problem.startswith("u2/BTC: ledger adds up to") for problem in result.problems)


def test_verifying_while_orders_commit_sees_one_committed_state(database_url):
    """Reads at different moments would see a batch in some tables and not in others;
    every run during a busy flow of orders must still find the store consistent."""

    async def scenario():
        core = await start_core(database_url, markets=MARKETS)
        await fund(core)
        flow = asyncio.create_task(random_flow(core, seed=5, count=3000, concurrency=50))
        results: list[Verification] = []
        batches: list[int] = []
        while not flow.done():
            before = core.sequencer.stats.batches
            results.append(await asyncio.to_thread(asyncio.run, verify_snapshot(database_url, TIMEOUT)))
            batches.append(core.sequencer.stats.batches - before)
        await flow
        await core.close()
        return results, batches

    results, batches = run(scenario())
    assert [r.outcome for r in results] == ["CONSISTENT"] * len(results)
    assert sum(batches) > 0  # batches did commit while verifications read


def test_a_store_that_cannot_be_read_is_reported_as_a_failed_run(tmp_path):
    result = run(verify_snapshot(f"sqlite:///{tmp_path}/missing/never-created.db", TIMEOUT))
    assert result.outcome == "FAILED"
    assert result.error is not None
    assert "OperationalError" in result.error


def test_a_run_that_a_stalled_database_holds_up_fails_at_its_time_limit(postgres_url):
    """Once a run waited on a stalled database for ever, and every later request joined
    it. Here a lock on the ledger, which the run reads, stalls it."""

    async def funded() -> None:
        core = await start_core(postgres_url, markets=MARKETS)
        await fund(core)
        await core.close()

    run(funded())
    with held(postgres_url, "LOCK TABLE ledger_entries IN ACCESS EXCLUSIVE MODE"):
        stalled = run(verify_snapshot(postgres_url, 1.0))
    after = run(verify_snapshot(postgres_url, TIMEOUT))
    assert stalled.outcome == "FAILED"
    assert stalled.error == "TimeoutError: did not finish within 1 s"
    assert after.outcome == "CONSISTENT"


def test_a_request_during_a_run_gets_that_runs_result(monkeypatch: pytest.MonkeyPatch):
    """One verification at a time: a second request joins the run in progress."""
    started, release = threading.Event(), threading.Event()
    runs: list[str] = []

    async def blocking_run(url: str, timeout: float) -> Verification:  # on the run's own loop and thread
        runs.append(url)
        started.set()
        release.wait(timeout=30)
        return Verification("CONSISTENT", 1, 2, 0.001, [], 0, 1, 2, 3)

    monkeypatch.setattr(verification, "verify_snapshot", blocking_run)

    async def scenario():
        verifier = LedgerVerifier("sqlite:///unused.db", TIMEOUT)
        first = asyncio.create_task(verifier.run())
        await asyncio.to_thread(started.wait, 30)
        second = asyncio.create_task(verifier.run())
        running = verifier.running
        await asyncio.sleep(0)  # let the second request reach the run it joins
        release.set()
        results = await asyncio.gather(first, second)
        return results, running, verifier.running, verifier.last

    (one, two), running, still_running, last = run(scenario())
    assert runs == ["sqlite:///unused.db"]
    assert one is two is last
    assert (running, still_running) == (True, False)
