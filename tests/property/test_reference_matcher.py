"""The engine matches exactly like the simple reference matcher.

Users have balances far beyond anything they trade, so funds never limit an order and
every difference is a matching difference. The same random flow (limit GTC / IOC / FOK,
post-only, market orders by quantity, cancels, amendments, every STP mode, on two
markets with different default STP modes) goes through the engine and through
`ReferenceMatcher`; after every command the matching-relevant projection of the
engine's events (acceptances, trades with maker, taker, price and quantities, fills,
expiries with their reason, cancels, amendments, rejection codes) must equal the
reference's outcomes, and every price level must hold the same orders in the same FIFO
order with the same aggregate quantity.
"""

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from trade_engine.domain.market import MarketSpec, market_from_spec
from trade_engine.domain.vocabulary import BUY, FOK, GTC, IOC, MARKET, SELL
from trade_engine.engine import (
    AddMarket,
    AmendOrder,
    BookLevelChanged,
    CancelOrder,
    Command,
    CommandRejected,
    Deposit,
    Engine,
    Event,
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderExpired,
    OrderFilled,
    PlaceOrder,
    TradeExecuted,
)

from .reference_matcher import Outcome, ReferenceMatcher

DEFAULT_STP = {"BTC-USDT": "EXPIRE_MAKER", "ETH-USDT": "NONE"}
MARKETS = [
    market_from_spec(
        MarketSpec(
            symbol=symbol,
            tick_size="0.01",
            step_size="0.001",
            maker_fee="0.001",
            taker_fee="0.002",
            stp_mode=stp,
        )
    )
    for symbol, stp in DEFAULT_STP.items()
]
USERS = ("u1", "u2", "u3")
HUGE = 10**15
LOW, HIGH = 10, 16  # the price grid, in ticks
STPS = (None, None, "NONE", "EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH")

# A flow is a list of command specs, resolved against the reference as it runs:
#   ("limit", user, market, side, price, quantity, tif, post_only, stp)
#   ("market", user, market, side, quantity, stp)
#   ("cancel", pick, as_owner, user)
#   ("amend", pick, as_owner, user, price | None, quantity | None)
Spec = tuple[object, ...]

users = st.sampled_from(USERS)
markets = st.sampled_from(sorted(DEFAULT_STP))
sides = st.sampled_from([BUY, SELL])
prices = st.integers(LOW, HIGH)
quantities = st.integers(1, 6) | st.integers(1, 20)
stps = st.sampled_from(STPS)
specs = st.one_of(
    st.tuples(
        st.just("limit"),
        users,
        markets,
        sides,
        prices,
        quantities,
        st.sampled_from([GTC, GTC, GTC, IOC, FOK]),
        st.sampled_from([False, False, False, True]),
        stps,
    ),
    st.tuples(st.just("market"), users, markets, sides, quantities, stps),
    st.tuples(st.just("cancel"), st.integers(0, 200), st.sampled_from([True, True, True, False]), users),
    st.tuples(
        st.just("amend"),
        st.integers(0, 200),
        st.sampled_from([True, True, True, False]),
        users,
        st.none() | prices,
        st.none() | quantities,
    ),
)


def random_spec(rng: random.Random) -> Spec:
    kind = rng.choices(["limit", "market", "cancel", "amend"], weights=[55, 10, 15, 20])[0]
    user, market, side = rng.choice(USERS), rng.choice(sorted(DEFAULT_STP)), rng.choice([BUY, SELL])
    if kind == "limit":
        tif = rng.choice([GTC, GTC, GTC, IOC, FOK])
        return (
            kind,
            user,
            market,
            side,
            rng.randint(LOW, HIGH),
            rng.randint(1, 12),
            tif,
            rng.random() < 0.15,
            rng.choice(STPS),
        )
    if kind == "market":
        return (kind, user, market, side, rng.randint(1, 25), rng.choice(STPS))
    pick, as_owner = rng.randint(0, 10**6), rng.random() < 0.9
    if kind == "cancel":
        return (kind, pick, as_owner, user)
    price = rng.choice([None, rng.randint(LOW, HIGH)])
    quantity = rng.choice([None, rng.randint(1, 15)]) if price is not None else rng.randint(1, 15)
    return (kind, pick, as_owner, user, price, quantity)


def deep_spec(rng: random.Random) -> Spec:
    """Flows that pile many small orders on a few levels and cancel most from the middle.

    Long queues full of cancelled (stale) entries exercise the book's lazy deletion and
    compaction, also while a taker walks the queue and self-trade prevention removes
    makers under it.
    """
    kind = rng.choices(["rest", "cancel", "amend", "take"], weights=[55, 38, 4, 3])[0]
    user, market, side = rng.choice(USERS), rng.choice(sorted(DEFAULT_STP)), rng.choice([BUY, SELL])
    if kind == "rest":
        price = LOW + 2 if side == BUY else HIGH - 2
        return ("limit", user, market, side, price, rng.randint(1, 3), GTC, False, rng.choice(STPS))
    if kind == "cancel":
        return ("cancel", rng.randint(0, 10**6), True, user)
    if kind == "amend":
        return ("amend", rng.randint(0, 10**6), True, user, None, rng.randint(1, 3))
    if rng.random() < 0.5:
        return ("market", user, market, side, rng.randint(1, 60), rng.choice(STPS))
    price = HIGH if side == BUY else LOW
    return (
        "limit",
        user,
        market,
        side,
        price,
        rng.randint(1, 60),
        rng.choice([IOC, GTC, FOK]),
        False,
        rng.choice(STPS),
    )


class Harness:
    """One engine and one reference, fed the same flow."""

    def __init__(self) -> None:
        self.engine = Engine()
        self.reference = ReferenceMatcher(dict(DEFAULT_STP))
        self.owners: dict[int, str] = {}
        self.ts = 0
        for market in MARKETS:
            self.apply(AddMarket(ts=0, market=market))
            for asset in (market.base, market.quote):
                for user in USERS:
                    if self.engine.balance(user, asset).available == 0:
                        self.apply(Deposit(ts=0, user_id=user, asset=asset, amount=HUGE))

    def apply(self, command: Command) -> list[Event]:
        events = self.engine.apply(command)
        assert not any(isinstance(e, CommandRejected) for e in events) or len(events) == 1
        return events

    def resolve(self, spec: Spec) -> tuple[Command, list[Outcome]]:
        """The engine command for `spec`, and what the reference says it does."""
        self.ts += 1
        ts, ref, kind = self.ts, self.reference, spec[0]
        if kind == "limit":
            _, user, market, side, price, quantity, tif, post_only, stp = spec
            user, market, side, tif = str(user), str(market), str(side), str(tif)
            price, quantity, post_only, stp = _int(price), _int(quantity), bool(post_only), _opt_str(stp)
            command: Command = PlaceOrder(
                ts=ts,
                user_id=user,
                market=market,
                side=side,
                price=price,
                quantity=quantity,
                time_in_force=tif,
                post_only=post_only,
                stp_mode=stp,
            )
            return command, ref.place_limit(user, market, side, price, quantity, tif, post_only, stp)
        if kind == "market":
            _, user, market, side, quantity, stp = spec
            user, market, side, quantity, stp = (
                str(user),
                str(market),
                str(side),
                _int(quantity),
                _opt_str(stp),
            )
            command = PlaceOrder(
                ts=ts,
                user_id=user,
                market=market,
                side=side,
                order_type=MARKET,
                time_in_force=IOC,
                quantity=quantity,
                stp_mode=stp,
            )
            return command, ref.place_market(user, market, side, quantity, stp)
        pick, as_owner, stranger = _int(spec[1]), spec[2], str(spec[3])
        resting = sorted(o.id for orders in ref.resting.values() for o in orders)
        if as_owner and resting and pick % 4:
            order_id = resting[pick % len(resting)]
        else:  # any id issued so far (most are closed), or one never issued
            order_id = pick % (ref.next_id + 1) + 1
        user = self.owners.get(order_id, stranger) if as_owner else stranger
        if kind == "cancel":
            return CancelOrder(ts=ts, user_id=user, order_id=order_id), ref.cancel(user, order_id)
        price = None if spec[4] is None else _int(spec[4])
        quantity = None if spec[5] is None else _int(spec[5])
        command = AmendOrder(ts=ts, user_id=user, order_id=order_id, price=price, quantity=quantity)
        return command, ref.amend(user, order_id, price, quantity)

    def step(self, spec: Spec) -> None:
        command, expected = self.resolve(spec)
        events = self.apply(command)
        for e in events:
            if isinstance(e, OrderAccepted):
                self.owners[e.order_id] = e.user_id
        assert project(events) == expected, f"{command}\nengine:    {project(events)}\nreference: {expected}"
        self.compare_books()

    def compare_books(self) -> None:
        for market in DEFAULT_STP:
            bids, asks = self.engine.depth(market)
            for side, levels in ((BUY, bids), (SELL, asks)):
                queues = [(price, self.engine.queue(market, side, price)) for price, _ in levels]
                assert queues == self.reference.book(market, side), (market, side)
                assert levels == self.reference.depth(market, side), (market, side)


def _int(value: object) -> int:
    assert isinstance(value, int)
    return value


def _opt_str(value: object) -> str | None:
    return None if value is None else str(value)


def project(events: list[Event]) -> list[Outcome]:
    """The matching-relevant projection of engine events, in the reference's terms."""
    out: list[Outcome] = []
    for e in events:
        if isinstance(e, OrderAccepted):
            out.append(("accepted", e.order_id))
        elif isinstance(e, TradeExecuted):
            out.append(
                (
                    "trade",
                    e.maker_order_id,
                    e.taker_order_id,
                    e.price,
                    e.quantity,
                    e.maker_remaining,
                    e.taker_remaining,
                )
            )
        elif isinstance(e, OrderFilled):
            out.append(("filled", e.order_id))
        elif isinstance(e, OrderExpired):
            out.append(("expired", e.order_id, e.reason))
        elif isinstance(e, OrderCancelled):
            out.append(("cancelled", e.order_id))
        elif isinstance(e, OrderAmended):
            out.append(("amended", e.order_id, e.priority_kept))
        elif isinstance(e, CommandRejected):
            out.append(("rejected", e.code))
        else:
            assert isinstance(e, BookLevelChanged), e
    return out


@settings(max_examples=300, deadline=None)
@given(flow=st.lists(specs, max_size=60))
def test_engine_matches_reference_on_random_flows(flow: list[Spec]) -> None:
    harness = Harness()
    for spec in flow:
        harness.step(spec)


def test_engine_matches_reference_on_long_seeded_flows() -> None:
    for seed in range(12):
        rng = random.Random(seed)
        harness = Harness()
        for _ in range(400):
            harness.step(random_spec(rng))


def test_engine_matches_reference_on_deep_queues_with_many_cancels() -> None:
    for seed in range(6):
        rng = random.Random(1000 + seed)
        harness = Harness()
        for _ in range(800):
            harness.step(deep_spec(rng))


def test_reference_matcher_examples() -> None:
    """The reference itself, on a hand-checked flow (it must be obviously right)."""
    ref = ReferenceMatcher({"M": "EXPIRE_MAKER"})
    assert ref.place_limit("a", "M", SELL, 10, 5, GTC) == [("accepted", 1)]
    assert ref.place_limit("b", "M", SELL, 10, 3, GTC) == [("accepted", 2)]
    assert ref.place_limit("a", "M", SELL, 11, 2, GTC) == [("accepted", 3)]
    # Price first, then time; trades at the makers' prices.
    assert ref.place_limit("c", "M", BUY, 11, 9, IOC) == [
        ("accepted", 4),
        ("trade", 1, 4, 10, 5, 0, 4),
        ("filled", 1),
        ("trade", 2, 4, 10, 3, 0, 1),
        ("filled", 2),
        ("trade", 3, 4, 11, 1, 1, 0),
        ("filled", 4),
    ]
    # EXPIRE_MAKER: own resting order 3 expires, then the book is empty.
    assert ref.place_market("a", "M", BUY, 2) == [
        ("accepted", 5),
        ("expired", 3, "SELF_TRADE_PREVENTION"),
        ("expired", 5, "NO_LIQUIDITY"),
    ]
    assert ref.place_limit("b", "M", BUY, 9, 4, GTC) == [("accepted", 6)]
    assert ref.place_limit("c", "M", BUY, 9, 4, GTC) == [("accepted", 7)]
    assert ref.place_limit("a", "M", SELL, 9, 1, GTC, post_only=True) == [
        ("rejected", "POST_ONLY_WOULD_TAKE")
    ]
    # A decrease keeps priority; an increase goes to the back.
    assert ref.amend("b", 6, None, 3) == [("amended", 6, True)]
    assert ref.book("M", BUY) == [(9, [6, 7])]
    assert ref.amend("b", 6, None, 5) == [("amended", 6, False)]
    assert ref.book("M", BUY) == [(9, [7, 6])]
    assert ref.place_limit("a", "M", SELL, 9, 10, FOK) == [
        ("accepted", 8),
        ("expired", 8, "FOK_NOT_FILLABLE"),
    ]
    assert ref.place_limit("b", "M", SELL, 9, 4, FOK, stp="EXPIRE_TAKER") == [
        ("accepted", 9),
        ("trade", 7, 9, 9, 4, 0, 0),
        ("filled", 7),
        ("filled", 9),
    ]
    assert ref.cancel("a", 6) == [("rejected", "ORDER_NOT_FOUND")]
    assert ref.cancel("b", 6) == [("cancelled", 6)]
    assert ref.depth("M", BUY) == []
