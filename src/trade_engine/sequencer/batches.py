"""What the sequencer's tasks hand each other (sequencer.py): a command waiting in the
queue with its caller's future, a batch applied and waiting for its commit, and the
request to stop."""

import asyncio
from dataclasses import dataclass
from typing import Final

from trade_engine.engine import Command, Event
from trade_engine.sequencer.messages import JournalEntry
from trade_engine.sequencer.ports import Prepared


@dataclass
class Pending:
    command: Command
    future: asyncio.Future[tuple[int, list[Event]]]
    queued: float  # perf_counter() when submitted
    position: int = 0  # where the command stands in its source (the cluster's command stream)


@dataclass
class Applied:
    """A batch applied to the engine, waiting for its commit."""

    batch: list[Pending]
    results: list[tuple[int, list[Event]]]  # per command: its global sequence number (0: none), events
    committed: list[Event]  # the events that change state (refusals excluded)
    prepared: Prepared | None  # None when nothing changed
    entry: JournalEntry | None  # the batch's state-changing commands (None: none)
    last_seq: int  # the global sequence number of the batch's last state-changing command
    began: float
    applied: float
    waited: float  # seconds its commands waited in the queue, summed


STOP: Final = object()
