"""The sequencer's pipeline: a batch is applied while the one before it commits, yet
nothing is answered or published before its own commit, and the published balances
(those the read model holds) are the committed ones."""

import asyncio
from collections.abc import Sequence

import asyncpg

from tests.flows import MARKETS
from tests.integration.test_storage import fund, run
from trade_engine.config import SequencerConfig
from trade_engine.core.bootstrap import Core, start_core
from trade_engine.core.local import LocalCore
from trade_engine.engine import Balance, OrderAccepted, PlaceOrder
from trade_engine.readmodel.views import ReadModel, ViewBatch
from trade_engine.sequencer import Unavailable
from trade_engine.sequencer.messages import JournalEntry
from trade_engine.sequencer.ports import AppendTiming
from trade_engine.storage.pgarrays import Texts, booleans, integers
from trade_engine.storage.projection import BatchRows
from trade_engine.storage.writer import BatchWriter, CommitFailed, PreparedBatch


class GatedWriter:
    """The real writer, holding each acknowledging commit (the journal append) until
    `gate` is open; the tables' writes, behind it, pass straight through."""

    def __init__(self, inner: BatchWriter, *, fail_preparing: int = 0) -> None:
        self.inner = inner
        self.gate = asyncio.Event()
        self.writing = asyncio.Event()
        self.fail = False
        self.prepared = 0
        self.fail_preparing = fail_preparing  # the n-th prepare raises (0: none)

    def prepare(self, rows: BatchRows) -> PreparedBatch:
        self.prepared += 1
        if self.prepared == self.fail_preparing:
            raise RuntimeError("cannot encode the batch (simulated)")
        return self.inner.prepare(rows)

    async def append(self, entry: JournalEntry) -> None:
        self.writing.set()
        await self.gate.wait()
        if self.fail:
            raise CommitFailed("database gone (simulated)", maybe_committed=False)
        await self.inner.append(entry)

    @property
    def last_append(self) -> AppendTiming:
        return self.inner.last_append

    @property
    def ready_ahead(self) -> bool:
        ready: bool = self.inner.ready_ahead
        return ready

    def merge(self, batches: Sequence[PreparedBatch]) -> PreparedBatch:
        return self.inner.merge(batches)

    async def write(self, batch: PreparedBatch) -> None:
        await self.inner.write(batch)

    async def committed_seq(self) -> int:
        return await self.inner.committed_seq()

    async def close(self) -> None:
        await self.inner.close()


def follow(core: Core) -> ReadModel:
    """A read model of `core`'s committed state, following it through the core port."""
    view = ReadModel()
    view.start_from(LocalCore(core, roundtrip=True).attach(view.on_commit))
    return view


def buy(price: int) -> PlaceOrder:
    return PlaceOrder(ts=0, user_id="u1", market="BTC-USDT", side="BUY", price=price, quantity=1000)


async def until(condition) -> None:
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never held")


def test_a_batch_applied_behind_a_commit_is_neither_answered_nor_published_before_its_own(database_url):
    async def scenario():
        core = await start_core(database_url, markets=MARKETS)
        await fund(core)
        sequencer = core.sequencer
        gated = GatedWriter(core.writer)
        sequencer._writer = gated
        view = follow(core)
        published: list[Balance] = []

        def on_view(_view: ViewBatch) -> None:
            published.append(view.balances.balance("u1", "USDT"))

        view.subscribe(on_view)
        before = core.engine.balance("u1", "USDT")
        first = asyncio.create_task(sequencer.submit(buy(100)))
        await gated.writing.wait()  # the first batch is committing
        second = asyncio.create_task(sequencer.submit(buy(101)))
        await until(
            lambda: core.engine.balance("u1", "USDT").locked > 0 and len(core.engine.all_open_orders()) == 2
        )
        # Both batches are applied; neither is committed, answered or visible.
        during = (core.engine.balance("u1", "USDT"), view.balances.balance("u1", "USDT"))
        answered_early = first.done() or second.done()
        gated.gate.set()
        await asyncio.wait_for(asyncio.gather(first, second), 10)
        after = (core.engine.balance("u1", "USDT"), view.balances.balance("u1", "USDT"))
        await core.close()
        return before, during, answered_early, published, after

    before, (engine_during, committed_during), answered_early, published, (engine_after, committed_after) = (
        run(scenario())
    )
    assert not answered_early
    assert committed_during == before
    assert engine_during.locked > before.locked
    # The first commit published the first order's hold only, the second both.
    assert before.locked < published[0].locked < published[1].locked
    assert published[0].available + published[0].locked == before.available + before.locked
    assert published[1] == engine_after == committed_after


def test_a_failed_commit_fails_the_batch_applied_behind_it_too(tmp_path):
    async def scenario():
        url = f"sqlite:///{tmp_path}/pipeline.db"
        core = await start_core(url, markets=MARKETS, settings=SequencerConfig(retry_total_seconds=0.05))
        await fund(core)
        acknowledged = core.engine.snapshot()
        acknowledged_balance = core.engine.balance("u1", "USDT")
        view = follow(core)
        gated = GatedWriter(core.writer)
        core.sequencer._writer = gated
        first = asyncio.create_task(core.sequencer.submit(buy(100)))
        await gated.writing.wait()
        second = asyncio.create_task(core.sequencer.submit(buy(101)))
        await until(lambda: len(core.engine.all_open_orders()) == 2)
        gated.fail = True
        gated.gate.set()
        outcomes = await asyncio.wait_for(asyncio.gather(first, second, return_exceptions=True), 10)
        # The failed batches' holds were never committed, so they are not shown.
        committed_view = view.balances.balance("u1", "USDT")
        await core.close()
        restarted = await start_core(url)
        recovered = restarted.engine.snapshot()
        await restarted.close()
        return outcomes, acknowledged, recovered, committed_view, acknowledged_balance

    outcomes, acknowledged, recovered, committed_view, acknowledged_balance = run(scenario())
    assert all(isinstance(outcome, Unavailable) for outcome in outcomes)
    assert recovered == acknowledged
    assert committed_view == acknowledged_balance


def test_a_batch_that_cannot_be_applied_stops_the_sequencer_but_the_one_committing_is_answered(tmp_path):
    async def scenario():
        url = f"sqlite:///{tmp_path}/pipeline.db"
        core = await start_core(url, markets=MARKETS)
        await fund(core)
        view = follow(core)
        gated = GatedWriter(core.writer, fail_preparing=2)
        core.sequencer._writer = gated
        first = asyncio.create_task(core.sequencer.submit(buy(100)))
        await gated.writing.wait()  # the first batch is committing
        second = asyncio.create_task(core.sequencer.submit(buy(101)))
        await until(second.done)  # its batch failed while being prepared
        gated.gate.set()
        outcomes = await asyncio.wait_for(asyncio.gather(first, second, return_exceptions=True), 10)
        committed_view = view.balances.balance("u1", "USDT")
        await core.close()  # drains and closes cleanly
        restarted = await start_core(url)
        orders = [order.price for order in restarted.engine.all_open_orders()]
        restored = restarted.engine.balance("u1", "USDT")
        await restarted.close()
        return outcomes, orders, committed_view, restored

    (first, second), orders, committed_view, restored = run(scenario())
    assert isinstance(second, Unavailable)
    assert isinstance(first, list)
    assert isinstance(first[0], OrderAccepted)
    assert orders == [100]  # the first batch was committed (and answered), the second not
    assert committed_view == restored


class RefusingTables(GatedWriter):
    """The real writer, whose table writes fail as a bug would (an encoding one, say):
    not a `CommitFailed`, so not retried."""

    async def write(self, batch: PreparedBatch) -> None:
        self.writing.set()
        raise ValueError("cannot encode the batch's rows (simulated)")


def test_tables_that_cannot_be_written_stop_the_sequencer_and_a_restart_writes_them(database_url):
    """The rows reach the tables after the acknowledgement, encoded as their write is
    readied or written (storage/writes.py): a write that fails for good stops the
    sequencer, refuses what comes next, and loses nothing acknowledged."""

    async def scenario():
        core = await start_core(database_url, markets=MARKETS)
        await fund(core)
        refusing = RefusingTables(core.writer)
        core.sequencer.tables._writer = refusing
        accepted = (await core.sequencer.submit(buy(100)))[0]  # journaled and acknowledged
        failure = await asyncio.wait_for(core.sequencer.stopped_for_good(), 10)
        try:
            await core.sequencer.submit(buy(101))
            refused: BaseException | None = None
        except Unavailable as error:
            refused = error
        await core.close()
        restarted = await start_core(database_url)
        orders = [order.price for order in restarted.engine.all_open_orders()]
        history = await restarted.sequencer.tables.reached(restarted.sequencer.last_seq, 5)
        await restarted.close()
        return accepted, refusing.writing.is_set(), failure, refused, orders, history

    accepted, tried, failure, refused, orders, history = run(scenario())
    assert isinstance(accepted, OrderAccepted)
    assert tried
    assert isinstance(failure, ValueError)
    assert isinstance(refused, Unavailable)
    assert orders == [100]  # the acknowledged order, recovered from the journal
    assert history  # and written to the tables this time


def test_array_literals_carry_any_text_integer_and_boolean_exactly(postgres_url):
    texts = [
        "plain",
        "",
        'quo"te',
        "back\\slash",
        "\\",
        '\\"',
        "comma,and{braces}",
        "  spaced  ",
        "NULL",
        "null",
        "ünïcødé ✓ 漢字",
        "new\nline\ttab",
        None,
    ]
    numbers = [0, -1, 2**63 - 1, -(2**63), None, 42]
    flags = [True, False, None]

    async def scenario():
        connection = await asyncpg.connect(postgres_url)
        try:
            encode = Texts()
            return (
                await connection.fetchval("SELECT $1::text::text[]", encode(texts)),
                await connection.fetchval("SELECT $1::text::text[]", encode(texts)),  # quoted from memory
                await connection.fetchval("SELECT $1::text::bigint[]", integers(numbers)),
                await connection.fetchval("SELECT $1::text::bigint[]", integers([1, 2, 3])),
                await connection.fetchval("SELECT $1::text::boolean[]", booleans(flags)),
                await connection.fetchval("SELECT $1::text::bigint[]", integers([])),
            )
        finally:
            await connection.close()

    first, again, signed, plain, booleans_back, empty = run(scenario())
    assert first == again == texts
    assert signed == numbers
    assert plain == [1, 2, 3]
    assert booleans_back == flags
    assert empty == []


def test_readers_get_a_batch_after_the_callers_it_answered_have_resumed(tmp_path):
    """The read model holds a command's effects when its caller resumes; the readers
    (depth, market data, streams) get the batch after the callers it answered have
    resumed, off the order path (readmodel/views.py), and in order."""

    async def scenario():
        core = await start_core(f"sqlite:///{tmp_path}/readers.db", markets=MARKETS)
        await fund(core)
        view = ReadModel(defer=asyncio.get_running_loop().call_soon)
        view.start_from(LocalCore(core, roundtrip=True).attach(view.on_commit))
        held: list[bool] = []  # per caller resumed: whether the read model held its order
        handed: list[tuple[int, int]] = []  # per batch the readers got: its seq, callers resumed
        view.subscribe(lambda views: handed.append((views.seq, len(held))))

        async def place(price: int) -> None:
            (accepted, *_) = await core.sequencer.submit(buy(price))
            assert isinstance(accepted, OrderAccepted)
            held.append(view.orders.get(accepted.order_id) is not None)

        await place(100)
        await asyncio.gather(place(101), place(102))
        await until(lambda: handed and handed[-1][0] == core.sequencer.last_seq)
        await core.close()
        return held, handed

    held, handed = run(scenario())
    assert held == [True, True, True]
    # Each batch was read after its callers had resumed: the first after the first
    # caller, the last after all three (the other two may share a batch or not).
    assert handed[0][1] == 1
    assert handed[-1][1] == 3
    assert [seq for seq, _ in handed] == sorted(seq for seq, _ in handed)
