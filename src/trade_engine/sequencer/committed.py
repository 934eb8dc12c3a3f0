"""Balances as of the last commit, while later batches are applied but not yet durable.

The sequencer applies a batch while the previous one commits, so between a batch's
apply and its commit the engine holds balances nobody may see yet: a WebSocket balance
message must never show a change that could still be lost. Readers that publish state
after a commit therefore ask this view instead of the engine.

It keeps, for each (user, asset) touched by a batch still in flight, the value it had at
the last commit; every other balance is the engine's own, which in-flight batches have
not changed. A balance's value before a batch is its value after the batch minus the
batch's ledger movements for it; the projection has both, so nothing is copied ahead of
time and an idle view holds nothing.
"""

from typing import cast

from trade_engine.engine import Balance, Engine
from trade_engine.storage.projection import BatchRows

_Key = tuple[str, str]
# The projection's row tuples (projection.LEDGER_COLUMNS, BALANCE_COLUMNS).
_LedgerRow = tuple[int, str, int, int, str, str, int, int, str, int]
_BalanceRow = tuple[str, str, int, int, int]


class CommittedBalances:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        # Committed value of each balance an in-flight batch touched, and how many
        # in-flight batches touched it.
        self._held: dict[_Key, Balance] = {}
        self._in_flight: dict[_Key, int] = {}
        self._failed = False

    def balance(self, user_id: str, asset: str) -> Balance:
        held = self._held.get((user_id, asset))
        return held if held is not None else self._engine.balance(user_id, asset)

    def applied(self, rows: BatchRows) -> None:
        """A batch was applied (the engine holds its balances); call before any other
        batch is applied, with that batch's rows."""
        if not rows.balances:
            return
        deltas: dict[_Key, tuple[int, int]] = {}
        for entry in rows.ledger:
            _, _, _, _, user_id, asset, available_delta, locked_delta, _, _ = cast(_LedgerRow, entry)
            key = (user_id, asset)
            available, locked = deltas.get(key, (0, 0))
            deltas[key] = (available + available_delta, locked + locked_delta)
        held, in_flight = self._held, self._in_flight
        for row in rows.balances:
            user_id, asset, available, locked, _ = cast(_BalanceRow, row)
            key = (user_id, asset)
            count = in_flight.get(key, 0)
            if count == 0:
                moved_available, moved_locked = deltas.get(key, (0, 0))
                held[key] = Balance(available - moved_available, locked - moved_locked)
            in_flight[key] = count + 1

    def committed(self, rows: BatchRows) -> None:
        """The batch applied earliest among those in flight was committed."""
        held, in_flight = self._held, self._in_flight
        for row in rows.balances:
            user_id, asset, available, locked, _ = cast(_BalanceRow, row)
            key = (user_id, asset)
            count = in_flight[key] - 1
            if count or self._failed:
                in_flight[key] = count
                held[key] = Balance(available, locked)
            else:
                del in_flight[key]
                del held[key]

    def fail(self) -> None:
        """The sequencer stopped: batches applied after the last commit never commit, and
        one may have been applied partly, with no rows to say what it touched. From now
        on a committed value is never handed back to the engine: a batch still
        committing leaves its values here. The service refuses new subscriptions once
        failed, so only balances of committed batches are read after this."""
        self._failed = True
