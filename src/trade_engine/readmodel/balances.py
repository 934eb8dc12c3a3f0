"""Balances as committed, kept from each committed batch's balance values.

The sequencer applies a batch while the previous one commits, so the engine may hold
balances that are not durable yet. Readers that show balances after a commit (the
WebSocket `balances` channel, Binance's `outboundAccountPosition`, a new subscriber's
snapshot) read this view instead: it starts from the committed state and changes only
when a batch that carries new values has committed.
"""

from collections.abc import Iterable, Mapping

from trade_engine.core.messages import BalanceState
from trade_engine.engine import Balance

_ZERO = Balance(0, 0)


class Balances:
    def __init__(self, start: Mapping[str, Mapping[str, Balance]] | None = None) -> None:
        """`start`: per user, per asset, the committed balances (the engine's at start)."""
        self._users: dict[str, dict[str, Balance]] = {
            user: dict(assets) for user, assets in (start or {}).items()
        }

    def apply(self, balances: Iterable[BalanceState]) -> None:
        for state in balances:
            assets = self._users.get(state.user_id)
            if assets is None:
                assets = self._users[state.user_id] = {}
            assets[state.asset] = Balance(state.available, state.locked)

    def balance(self, user_id: str, asset: str) -> Balance:
        assets = self._users.get(user_id)
        if assets is None:
            return _ZERO
        return assets.get(asset, _ZERO)

    def of_user(self, user_id: str) -> dict[str, Balance]:
        """Every asset the user holds or has held (zero balances included)."""
        return dict(self._users.get(user_id, {}))
