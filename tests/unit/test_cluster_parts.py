"""The cluster's pure parts: subject names, downstream messages, the follower's rules,
the failpoint setting, and the `cluster` configuration."""

import msgspec
import pytest

from tests.unit.helpers import BASE, MARKET, QUOTE, SYMBOL
from trade_engine.cluster import downstream
from trade_engine.cluster.failpoints import _parse
from trade_engine.cluster.follower import Diverged, Follower
from trade_engine.cluster.names import Names, token
from trade_engine.config import ConfigError, load_config
from trade_engine.core.messages import AnyEvent, CommittedBatch
from trade_engine.engine import AddMarket, Deposit, Engine, PlaceOrder, TradeExecuted
from trade_engine.sequencer.messages import BalanceState, journal_entry
from trade_engine.storage.projection import Projection


def buy(user: str, quantity: int) -> PlaceOrder:
    return PlaceOrder(ts=3, user_id=user, market=SYMBOL, side="BUY", price=100, quantity=quantity)


def sell(user: str, quantity: int) -> PlaceOrder:
    return PlaceOrder(ts=4, user_id=user, market=SYMBOL, side="SELL", price=100, quantity=quantity)


SETUP = [
    AddMarket(ts=1, market=MARKET),
    Deposit(ts=2, user_id="alice", asset=QUOTE, amount=10**12),
    Deposit(ts=2, user_id="bob", asset=BASE, amount=10**12),
]


def follower() -> Follower:
    return Follower(Engine(), Projection([]), 0, 0)


def test_a_token_keeps_plain_names_and_hex_encodes_the_rest() -> None:
    assert token("BTC-USDT") == "BTC-USDT"
    assert token("user_1") == "user_1"
    assert token("a.b") == "x" + b"a.b".hex()
    assert token("") == "x"
    names = Names("te")
    assert (names.commands, names.market("ETH-BTC"), names.user("a b")) == (
        "te.cmd",
        "te.market.ETH-BTC",
        "te.user.x" + b"a b".hex(),
    )
    assert (names.commands_stream, names.lease_bucket) == ("TE_COMMANDS", "te_leader")


def test_a_batch_splits_into_public_market_messages_and_private_user_messages() -> None:
    engine = Engine()
    for command in SETUP:
        engine.apply(command)
    events = [*engine.apply(buy("alice", 10)), *engine.apply(sell("bob", 4))]
    balances = [BalanceState("alice", QUOTE, 1, 2), BalanceState("bob", BASE, 3, 0)]
    batch = CommittedBatch(
        seq=5, commit_ns=0, events=msgspec.convert(events, list[AnyEvent]), balances=balances
    )
    markets, users = downstream.split(batch)
    (market,) = markets
    sequences = [event.seq for event in events if hasattr(event, "seq")]
    assert (market.first_seq, market.last_seq) == (min(sequences), max(sequences))
    assert any(isinstance(event, TradeExecuted) for event in market.events)
    assert all(not hasattr(event, "user_id") for event in market.events)
    by_user = {message.user_id: message for message in users}
    assert set(by_user) == {"alice", "bob"}
    assert by_user["alice"].balances == [balances[0]]
    assert all(message.seq == 5 for message in users)
    assert any(isinstance(event, TradeExecuted) for event in by_user["bob"].events)
    assert downstream.decode_market(downstream.encode(market)) == market
    assert downstream.decode_user(downstream.encode(by_user["bob"])) == by_user["bob"]


def test_the_follower_applies_entries_in_order_and_skips_what_it_has() -> None:
    following = follower()
    first = journal_entry(1, 3, 2, list(SETUP), 7)
    second = journal_entry(4, 4, 3, [buy("alice", 10)], 8)
    assert following.apply(first) is not None
    assert following.apply(first) is None  # published again after a takeover
    applied = following.apply(second)
    assert applied is not None
    assert applied.rows.new_orders
    assert (following.seq, following.last_ts, len(following.tail)) == (4, 3, 2)
    following.projected(3)
    assert [a.entry.last_seq for a in following.tail] == [4]


def test_the_follower_refuses_a_gap_and_a_command_that_does_not_apply() -> None:
    following = follower()
    with pytest.raises(Diverged, match="does not follow"):
        following.apply(journal_entry(2, 3, 2, list(SETUP[1:]), 0))
    following.apply(journal_entry(1, 1, 1, [SETUP[0]], 0))
    broke = PlaceOrder(ts=3, user_id="nobody", market=SYMBOL, side="BUY", price=100, quantity=10)
    with pytest.raises(Diverged, match="does not apply"):
        following.apply(journal_entry(2, 2, 3, [broke], 0))


def test_a_failpoint_names_a_known_point_and_an_optional_count() -> None:
    assert _parse("after-commit") == ("after-commit", 1)
    assert _parse("after-publish:25") == ("after-publish", 25)
    with pytest.raises(ValueError, match="unknown point"):
        _parse("before-lunch")


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("TRADE_ENGINE_CLUSTER_NATS_URLS", "http://x:4222", "cluster.nats_urls"),
        ("TRADE_ENGINE_CLUSTER_REPLICAS", "2", "cluster.replicas"),
        ("TRADE_ENGINE_CLUSTER_LEASE_SECONDS", "0", "cluster.lease_seconds"),
        ("TRADE_ENGINE_CLUSTER_NAME", "a.b", "cluster.name"),
        ("TRADE_ENGINE_CLUSTER_CREDENTIALS", "/nonexistent.creds", "cluster.credentials"),
    ],
)
def test_a_wrong_cluster_setting_is_refused_naming_it(setting: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        load_config(None, {setting: value})


def test_the_failpoint_variable_is_not_taken_for_a_setting() -> None:
    config = load_config(
        None, {"TRADE_ENGINE_FAILPOINT": "after-commit", "TRADE_ENGINE_CLUSTER_REPLICAS": "3"}
    )
    assert config.cluster.replicas == 3
