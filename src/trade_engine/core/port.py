"""The core port: the one narrow way the gateways (native REST and WebSocket, the
Binance API, the CLI) reach the core. Submit a command and await its outcome; attach a
reader of committed batches; ask how the core is doing. Nothing else: no engine, no
sequencer, no storage writer crosses it, and every value that does is a message of
messages.py, so the core can run in another process behind the same interface.
"""

from collections.abc import Callable
from typing import Protocol

from trade_engine.core.messages import CommittedBatch, CoreState, CoreStatus, Outcome
from trade_engine.engine import Command

BatchReader = Callable[[CommittedBatch], None]


class CorePort(Protocol):
    async def submit(self, command: Command) -> Outcome:
        """Apply `command` and answer once its outcome is known (committed: durable)."""
        ...

    def attach(self, reader: BatchReader) -> CoreState:
        """The committed state now, and from now on every committed batch after it, in
        order, to `reader` (called after each commit, before the batch is answered to
        anyone who awaits it)."""
        ...

    async def history_reached(self, seq: int, timeout: float) -> bool:
        """Whether the history tables (read directly by the gateways) hold every
        command up to global sequence number `seq`, waiting up to `timeout` seconds:
        they are written behind the acknowledgement (docs/adr/0001)."""
        ...

    async def caught_up(self, timeout: float) -> bool:
        """Whether the attached readers hold every batch the core has answered so far
        (to anyone: a gateway of a cluster reads its own writes made through another),
        waiting up to `timeout` seconds."""
        ...

    def accepting(self) -> bool:
        """Whether commands are being taken now (cheap: asked on every request)."""
        ...

    def status(self) -> CoreStatus: ...
