"""Where a command's time goes between `submit` and its answer (the sequencer's
`stage_seconds`, exposed as `trade_engine_command_stage_seconds_total`): each stage is
a part of the round trip, the time inside the store a part of the commit, and a batch
held behind its predecessor's commit counts that wait as its own stage."""

import asyncio
import time

from tests.flows import MARKETS
from tests.integration.test_pipeline import GatedWriter, buy
from tests.integration.test_storage import fund, run
from trade_engine.core.bootstrap import start_core
from trade_engine.sequencer.messages import journal_entry
from trade_engine.sequencer.ports import STAGES, AppendTiming, CommitFailed

WAVES = 3
PER_WAVE = 20


def test_each_stage_is_a_part_of_the_round_trip_and_the_store_a_part_of_the_commit(database_url):
    async def scenario():
        core = await start_core(database_url, markets=MARKETS)
        await fund(core)
        sequencer = core.sequencer
        before = dict(sequencer.stats.stage_seconds)
        round_trips = 0.0

        async def timed(price: int) -> None:
            nonlocal round_trips
            began = time.perf_counter()
            await sequencer.submit(buy(price))
            round_trips += time.perf_counter() - began

        for wave in range(WAVES):  # concurrent submits: batches form, and queue behind commits
            await asyncio.gather(*(timed(100 + wave * PER_WAVE + n) for n in range(PER_WAVE)))
        after = dict(sequencer.stats.stage_seconds)
        timing = core.writer.last_append
        await core.close()
        return {stage: after[stage] - before[stage] for stage in STAGES}, round_trips, timing

    stages, round_trips, timing = run(scenario())
    assert set(stages) == set(STAGES)
    assert all(seconds >= 0 for seconds in stages.values()), stages
    assert stages["apply"] > 0
    assert stages["commit"] > 0
    assert stages["queue"] + stages["apply"] + stages["previous_commit"] + stages["commit"] <= round_trips
    assert 0 < stages["store"] <= stages["commit"]
    assert timing.store_seconds > 0
    if database_url.startswith("sqlite"):
        # SQLite's COMMIT (the log's write and fsync) is timed apart from the INSERT.
        assert 0 < stages["sync"] <= stages["store"]
        assert timing.sync_seconds is not None
        assert 0 < timing.sync_seconds <= timing.store_seconds
    else:
        # PostgreSQL commits inside the append's one statement: no sync of its own.
        assert stages["sync"] == 0
        assert timing.sync_seconds is None


def test_a_batch_held_behind_the_commit_before_it_counts_the_wait_as_its_own_stage(tmp_path):
    held = 0.2

    async def scenario():
        core = await start_core(f"sqlite:///{tmp_path}/held.db", markets=MARKETS)
        await fund(core)
        sequencer = core.sequencer
        gated = GatedWriter(core.writer)
        sequencer._writer = gated
        before = dict(sequencer.stats.stage_seconds)
        first = asyncio.create_task(sequencer.submit(buy(100)))
        await gated.writing.wait()  # the first batch is committing, and held there
        second = asyncio.create_task(sequencer.submit(buy(101)))
        await asyncio.sleep(held)
        gated.gate.set()
        await asyncio.wait_for(asyncio.gather(first, second), 10)
        after = dict(sequencer.stats.stage_seconds)
        await core.close()
        return {stage: after[stage] - before[stage] for stage in STAGES}

    stages = run(scenario())
    # The first command's commit was held; the second, applied meanwhile, waited for it.
    assert stages["commit"] >= held
    # (Half the hold at least: however late the loop applied the second batch, it
    # waited for the first one's commit far longer than nothing.)
    assert stages["previous_commit"] >= held / 2
    assert stages["store"] < held  # the hold was outside the store


def test_a_failed_append_leaves_no_time_in_the_store_behind(database_url):
    """After an append that failed, `last_append` measures nothing: a batch then found
    committed (its answer lost) counts no store time that belonged to another append."""

    async def scenario():
        core = await start_core(database_url, markets=MARKETS)
        await fund(core)  # appends that succeeded: their time was measured
        writer = core.writer
        measured = writer.last_append
        # The append's statement refused by the database (SQLite's and PostgreSQL's name).
        bad = "INSERT INTO no_such_table VALUES (1)"
        setattr(writer, "_append_sql" if database_url.startswith("sqlite") else "_append", bad)
        entry = journal_entry(10**9, 10**9, 1, [buy(100)], 0)
        refused: CommitFailed | None = None
        try:
            await writer.append(entry)
        except CommitFailed as failure:
            refused = failure
        after = writer.last_append
        await core.close()
        return measured, refused, after

    measured, refused, after = run(scenario())
    assert measured.store_seconds > 0
    assert refused is not None
    assert after == AppendTiming()
