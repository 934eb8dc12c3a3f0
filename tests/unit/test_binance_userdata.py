"""Binance's user-data events as binance/userdata.py renders them from committed views:
a deposit's `balanceUpdate` and `outboundAccountPosition`, an order's execution reports
(new, then the trade that fills it), each delivered once to the user's WebSocket API
subscription and to no one else, and the wrapping a listen key's stream adds."""

import json
from collections.abc import Callable
from typing import Any

from tests.unit.committed_flow import Flow, collected, limit, open_market
from tests.unit.helpers import BASE, MARKET, QUOTE, ts
from trade_engine.binance.subscriptions import UserDataSubscriptions
from trade_engine.binance.userdata import UserData, in_stream, user_key
from trade_engine.edge.hub import Hub
from trade_engine.engine import AddMarket, Deposit

SECOND = 1_000_000_000


def received(scenario: Callable[[Flow], None]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """What alice's and bob's WebSocket API connections were sent during `scenario`."""

    def start(flow: Flow, hub: Hub) -> None:
        flow.view.subscribe(UserData(flow.view, hub, UserDataSubscriptions()).on_view)

    sent = collected({"alice": [user_key("alice")], "bob": [user_key("bob")]}, start, scenario)
    return sent["alice"], sent["bob"]


def test_a_deposit_sends_a_balance_update_and_the_account_position() -> None:
    def scenario(flow: Flow) -> None:
        flow.commit(AddMarket(ts=ts(), market=MARKET))
        flow.commit(Deposit(ts=7 * SECOND, user_id="alice", asset=QUOTE, amount=150_000_000, reference="r"))

    alice, bob = received(scenario)
    assert bob == []
    assert [frame["subscriptionId"] for frame in alice] == [0, 0]
    update, position = (frame["event"] for frame in alice)
    assert update == {"e": "balanceUpdate", "E": 7000, "a": QUOTE, "d": "1.50000000", "T": 7000}
    assert position == {
        "e": "outboundAccountPosition",
        "E": 7000,
        "u": 7000,
        "B": [{"a": QUOTE, "f": "1.50000000", "l": "0.00000000"}],
    }


def test_an_order_sends_its_execution_reports_and_both_assets_positions() -> None:
    def scenario(flow: Flow) -> None:
        open_market(flow)
        flow.commit(limit("alice", "BUY", 100, 10, "a-1"))
        flow.commit(limit("bob", "SELL", 100, 11, "b-1"))

    alice, bob = received(scenario)
    events = [frame["event"] for frame in alice]
    reports = [e for e in events if e["e"] == "executionReport"]
    assert [(r["c"], r["x"], r["X"], r["S"], r["p"], r["q"], r["z"], r["l"]) for r in reports] == [
        ("a-1", "NEW", "NEW", "BUY", "30000.00000000", "0.00100000", "0.00000000", "0.00000000"),
        ("a-1", "TRADE", "FILLED", "BUY", "30000.00000000", "0.00100000", "0.00100000", "0.00100000"),
    ]
    assert reports[1]["m"] is True  # alice's order rested: the maker
    assert (reports[1]["n"], reports[1]["N"]) == ("0.03000000", QUOTE)  # 0.1% of 30 USDT
    positions = [e for e in events if e["e"] == "outboundAccountPosition"]
    assert [sorted(b["a"] for b in p["B"]) for p in positions] == [[QUOTE], [BASE, QUOTE], [BASE, QUOTE]]
    last = {b["a"]: (b["f"], b["l"]) for b in positions[-1]["B"]}
    assert last == {BASE: ("0.00100000", "0.00000000"), QUOTE: ("9969.97000000", "0.00000000")}
    bob_reports = [f["event"] for f in bob if f["event"]["e"] == "executionReport"]
    assert [(r["c"], r["X"], r["m"]) for r in bob_reports] == [
        ("b-1", "NEW", False),
        ("b-1", "FILLED", False),
    ]


def test_a_listen_keys_stream_sends_the_event_raw_or_wrapped_with_its_key() -> None:
    data = b'{"e":"balanceUpdate"}'
    assert in_stream("key-1", data, combined=False) == data
    assert json.loads(in_stream("key-1", data, combined=True)) == {
        "stream": "key-1",
        "data": {"e": "balanceUpdate"},
    }
