"""The core port in this process: the sequencer and the engine behind `CorePort`.

Exceptions of the sequencer become outcomes here (busy, unavailable, unknown), refusals
become `Rejected`, and a reader attached gets `CommittedBatch` values. With `roundtrip`
(the test suite sets it), every submission, outcome, batch and state is encoded and
decoded on the way, so that no live object or callback can slip across the port
unnoticed: what works here works with the core in another process.
"""

import secrets
from collections.abc import Sequence
from typing import cast

from trade_engine.core import codec
from trade_engine.core.bootstrap import Core
from trade_engine.core.messages import (
    AnyCommand,
    AnyEvent,
    BalanceState,
    Committed,
    CommittedBatch,
    CoreState,
    CoreStatus,
    MarketState,
    OrderModel,
    Outcome,
    Rejected,
    Submission,
    Unavailable,
    Unknown,
)
from trade_engine.core.port import BatchReader
from trade_engine.domain.errors import ErrorCode
from trade_engine.domain.lifecycle import open_status
from trade_engine.engine import (
    TRANSFERS,
    Command,
    CommandRejected,
    Engine,
    Event,
    OrderAccepted,
    ReplaceRejected,
)
from trade_engine.sequencer import Busy, OutcomeUnknown
from trade_engine.sequencer import Unavailable as SequencerUnavailable


class LocalCore:
    def __init__(self, core: Core, *, roundtrip: bool = False) -> None:
        self.core = core
        self._roundtrip = roundtrip

    async def submit(self, command: Command, position: int = 0) -> Outcome:
        """`position`: where the command stands in its source (the cluster's command
        stream), journaled with its batch."""
        if self._roundtrip:
            submission = Submission(key=secrets.token_hex(8), command=cast(AnyCommand, command))
            command = codec.decode_submission(codec.encode(submission)).command
        outcome = await self._submit(command, position)
        if self._roundtrip:
            return codec.decode_outcome(codec.encode(outcome))
        return outcome

    async def _submit(self, command: Command, position: int) -> Outcome:
        sequencer = self.core.sequencer
        if not sequencer.available:  # refused at once, never queued
            return Unavailable(
                code=ErrorCode.UNAVAILABLE,
                message="the service is not taking orders (storage unavailable or stopping)",
            )
        try:
            seq, events = await sequencer.submit_numbered(command, position)
        except Busy:
            return Unavailable(code=ErrorCode.BUSY, message="too many orders in flight; retry shortly")
        except SequencerUnavailable as error:
            return Unavailable(code=ErrorCode.UNAVAILABLE, message=f"the order was not taken: {error}")
        except OutcomeUnknown as unknown:
            return Unknown(
                message=(
                    "the database could not confirm whether this was committed; look it up by the "
                    "ids in `details` once the service answers again"
                ),
                ids=lookup_ids(command, unknown.events),
            )
        first = events[0] if events else None
        if isinstance(first, ReplaceRejected):
            return Rejected(
                code=first.code,
                message=first.message,
                cancel_code=first.cancel_code,
                cancel_message=first.cancel_message,
            )
        if isinstance(first, CommandRejected):
            return Rejected(code=first.code, message=first.message, duplicate_of=first.duplicate_of)
        return Committed(seq=seq, events=cast(list[AnyEvent], events))

    def attach(self, reader: BatchReader) -> CoreState:
        if self._roundtrip:

            def decoded(batch: CommittedBatch) -> None:
                reader(codec.decode_batch(codec.encode(batch)))

            self.core.sequencer.subscribe(decoded)
        else:
            self.core.sequencer.subscribe(reader)
        state = state_of(self.core.engine, self.core.sequencer.last_seq)
        return codec.decode_state(codec.encode(state)) if self._roundtrip else state

    async def history_reached(self, seq: int, timeout: float) -> bool:
        return await self.core.sequencer.tables.reached(seq, timeout)

    async def caught_up(self, timeout: float) -> bool:
        return True  # the attached reader (the read model) holds a batch before it is answered

    def accepting(self) -> bool:
        return self.core.sequencer.available

    async def stopped_for_good(self) -> BaseException:
        """Wait until the core can take no command again (sequencer.py); returns why."""
        return await self.core.sequencer.stopped_for_good()

    async def close(self) -> None:
        """Drain and commit what is queued, then release the database."""
        await self.core.close()

    def status(self) -> CoreStatus:
        status = self._status()
        return codec.decode_status(codec.encode(status)) if self._roundtrip else status

    def _status(self) -> CoreStatus:
        sequencer = self.core.sequencer
        stats = sequencer.stats
        return CoreStatus(
            accepting=sequencer.available,
            failed=sequencer.failure is not None,
            queue_depth=sequencer.queue_depth(),
            commands=stats.commands,
            batches=stats.batches,
            commit_retries=stats.commit_retries,
            last_batch_size=stats.last_batch_size,
            last_apply_seconds=stats.last_apply_seconds,
            last_commit_seconds=stats.last_commit_seconds,
            last_settlement_lag_seconds=stats.last_settlement_lag_seconds,
            last_queue_wait_seconds=stats.last_queue_wait_seconds,
            projection_lag=sequencer.tables.lag(sequencer.last_seq),
            stage_seconds=dict(stats.stage_seconds),
        )


def state_of(engine: Engine, seq: int) -> CoreState:
    """The engine's state, which must be the committed state (no batch in flight)."""
    markets = []
    for market in engine.markets():
        bids, asks = engine.depth(market.symbol)
        markets.append(
            MarketState(market=market, bids=bids, asks=asks, sequence=engine.sequence(market.symbol))
        )
    # By position, in OrderModel's field order (core/messages.py: why); an order that
    # has traded is partly filled (the lifecycle table), the rest are new.
    orders = engine.open_orders_as(OrderModel)
    for order in orders:
        if order.executed:
            order.status = open_status(order.executed)
    balances = [
        BalanceState(user_id, asset, balance.available, balance.locked)
        for user_id, assets in engine.balances().items()
        for asset, balance in assets.items()
    ]
    return CoreState(seq=seq, markets=markets, orders=orders, balances=balances)


def lookup_ids(command: Command, events: Sequence[Event]) -> dict[str, str | int]:
    """The ids a command whose outcome is unknown can be looked up by."""
    ids: dict[str, str | int] = {}
    client_order_id = getattr(command, "client_order_id", None)
    if client_order_id is not None:
        ids["client_order_id"] = client_order_id
    for event in events:
        if isinstance(event, OrderAccepted):
            ids["order_id"] = event.order_id
        elif isinstance(event, TRANSFERS):
            ids["transfer_id"] = event.transfer_id
    reference = getattr(command, "reference", None)
    if reference is not None:
        ids["reference"] = reference
    return ids
