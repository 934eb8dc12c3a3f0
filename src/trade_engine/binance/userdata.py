"""Binance user-data events from committed views: execution reports, account positions
and balance updates, each encoded once and handed to the user's subscribers: those of
the WebSocket API (wrapped as `{"subscriptionId": 0, "event": ...}`) and the streams of
the user's listen keys (the event itself on `/ws/<listenKey>`, wrapped as
`{"stream": listenKey, "data": ...}` on a combined stream).

An order change becomes an `executionReport` (order_views.py says how); a batch that
changed a user's orders or transfers sends one `outboundAccountPosition` with the
committed balances of the assets involved (both assets of each market traded in);
a deposit or withdrawal also sends a `balanceUpdate`.
"""

from typing import Any, Final

import msgspec

from trade_engine.binance.order_views import execution_report
from trade_engine.binance.subscriptions import UserDataSubscriptions
from trade_engine.binance.wire import pad
from trade_engine.domain.market import asset_text
from trade_engine.domain.timestamps import ms
from trade_engine.edge.hub import Hub
from trade_engine.engine import FundsDeposited
from trade_engine.readmodel.views import ReadModel, ViewBatch

USER: Final = "binance-user"
LISTEN_RAW: Final = "binance-listen-key"
LISTEN_COMBINED: Final = "binance-listen-key-combined"
_encode = msgspec.json.Encoder().encode


def user_key(user_id: str) -> tuple[str, str]:
    return (USER, user_id)


def listen_key_stream(listen_key: str, combined: bool) -> tuple[str, str]:
    """The hub key of a listen key's stream, raw or combined."""
    return (LISTEN_COMBINED if combined else LISTEN_RAW, listen_key)


def in_stream(listen_key: str, data: bytes, combined: bool) -> bytes:
    """An event as a listen key's stream sends it."""
    if not combined:
        return data
    return b'{"stream":' + _encode(listen_key) + b',"data":' + data + b"}"


# A connection has one user-data subscription (binance/ws_api.py), so its id is always
# this, and every subscriber of a user gets the same bytes.
SUBSCRIPTION_ID: Final = 0
_EVENT_HEAD: Final = b'{"subscriptionId":%d,"event":' % SUBSCRIPTION_ID


def user_event(data: bytes) -> bytes:
    """A WebSocket API event frame of the connection's subscription."""
    return _EVENT_HEAD + data + b"}"


class UserData:
    def __init__(self, read_model: ReadModel, hub: Hub, subscriptions: UserDataSubscriptions) -> None:
        self.hub = hub
        self._markets = read_model.markets
        self._balances = read_model.balances
        self._subscriptions = subscriptions
        self._execution_ids = 0

    def _wanted(self, user_id: str) -> bool:
        return self.hub.has_subscribers(user_key(user_id)) or bool(self._subscriptions.keys_of(user_id))

    def _publish(self, user_id: str, payload: Any) -> None:
        hub, data = self.hub, _encode(payload)
        if hub.has_subscribers(user_key(user_id)):
            hub.publish(user_key(user_id), user_event(data))
        for listen_key in self._subscriptions.keys_of(user_id):
            for combined in (False, True):
                stream = listen_key_stream(listen_key, combined)
                if hub.has_subscribers(stream):
                    hub.publish(stream, in_stream(listen_key, data, combined))

    def on_view(self, view: ViewBatch) -> None:
        now = ms(view.commit_ns)
        touched: dict[str, set[str]] = {}
        for update in view.orders:
            order = update.order
            if not self._wanted(order.user_id):
                continue
            market = self._markets.require(order.market)
            touched.setdefault(order.user_id, set()).update((market.base, market.quote))
            report = execution_report(update, market, self._execution_ids + 1, now)
            if report is not None:
                self._execution_ids += 1
                self._publish(order.user_id, report)
        for fill in view.fills:  # the other side of a trade whose order is not known here
            if self._wanted(fill.user_id):
                market = self._markets.require(fill.market)
                touched.setdefault(fill.user_id, set()).update((market.base, market.quote))
        for transfer in view.transfers:
            if not self._wanted(transfer.user_id):
                continue
            amount = asset_text(transfer.amount, self._markets.decimals(transfer.asset))
            delta = amount if isinstance(transfer, FundsDeposited) else f"-{amount}"
            self._publish(
                transfer.user_id,
                {"e": "balanceUpdate", "E": now, "a": transfer.asset, "d": delta, "T": ms(transfer.ts)},
            )
            touched.setdefault(transfer.user_id, set()).add(transfer.asset)
        for user_id, assets in touched.items():
            self._publish_position(user_id, assets, now, view.ts)

    def _publish_position(self, user_id: str, assets: set[str], now: int, ts: int) -> None:
        balances = []
        for asset in sorted(assets):
            balance = self._balances.balance(user_id, asset)
            decimals = self._markets.decimals(asset)
            balances.append(
                {
                    "a": asset,
                    "f": pad(asset_text(balance.available, decimals)),
                    "l": pad(asset_text(balance.locked, decimals)),
                }
            )
        self._publish(user_id, {"e": "outboundAccountPosition", "E": now, "u": ms(ts), "B": balances})
