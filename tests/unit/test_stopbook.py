"""The stop book on its own: which pending order fires next."""

from trade_engine.domain.units import Lots, Minor, Ticks
from trade_engine.domain.vocabulary import BUY, SELL, STOP_LIMIT, TAKE_PROFIT_MARKET
from trade_engine.engine.order import Order
from trade_engine.engine.stopbook import StopBook, fires_on_rise


def stop(order_id: int, side: str, stop_price: int, order_type: str = STOP_LIMIT) -> Order:
    return Order(
        id=order_id,
        user_id="alice",
        market="BTC-USDT",
        side=side,
        order_type=order_type,
        time_in_force="GTC",
        price=Ticks(stop_price),
        stop_price=Ticks(stop_price),
        quantity=Lots(1),
        quote_quantity=Minor(0),
        remaining=Lots(1),
        client_order_id=None,
        stp_mode="NONE",
        post_only=False,
        created_ts=0,
        pending=True,
    )


def fired(book: StopBook, high: int, low: int) -> list[int]:
    ids = []
    while (order := book.pop_due(Ticks(high), Ticks(low))) is not None:
        ids.append(order.id)
    return ids


def test_buy_stops_and_sell_take_profits_fire_on_a_rise_the_others_on_a_fall():
    assert fires_on_rise(BUY, STOP_LIMIT)
    assert fires_on_rise(SELL, TAKE_PROFIT_MARKET)
    assert not fires_on_rise(SELL, STOP_LIMIT)
    assert not fires_on_rise(BUY, TAKE_PROFIT_MARKET)


def test_rises_fire_by_ascending_stop_price_and_falls_by_descending_oldest_first_within_a_price():
    book = StopBook()
    for order in (stop(1, BUY, 105), stop(2, BUY, 103), stop(3, BUY, 103), stop(4, BUY, 110)):
        book.add(order)
    for order in (stop(5, SELL, 95), stop(6, SELL, 97), stop(7, SELL, 97)):
        book.add(order)
    assert [o.id for o in book.in_firing_order()] == [2, 3, 1, 4, 6, 7, 5]
    assert fired(book, high=105, low=200) == [2, 3, 1]
    assert fired(book, high=0, low=95) == [6, 7, 5]
    assert list(book.orders) == [4]


def test_when_both_directions_are_reached_the_older_order_fires_first():
    book = StopBook()
    for order in (stop(4, BUY, 101), stop(2, SELL, 99), stop(3, BUY, 102), stop(1, SELL, 98)):
        book.add(order)
    # A command that traded between 98 and 102 reached all of them.
    assert fired(book, high=102, low=98) == [2, 1, 4, 3]


def test_a_removed_order_never_fires():
    book = StopBook()
    kept, removed = stop(1, BUY, 101), stop(2, BUY, 101)
    book.add(kept)
    book.add(removed)
    book.remove(removed)
    assert fired(book, high=101, low=101) == [1]
    assert (book.rising, book.falling, book.orders) == ([], [], {})
