"""The native REST API end to end: trading between users over real HTTP, on each database.

Every test trades in a market of its own (added by an admin at run time, base asset
fresh, quote USDT; tick 0.01, step 0.001, min notional 1, maker fee 0.1%, taker fee
0.2%), so expected balances, trades, candles and tickers can be computed exactly.
A buy holds price × quantity plus the fee at the larger rate (0.2%); fees are paid in
USDT, by the buyer on top and by the seller out of what they receive.
"""

import itertools
import time
from collections import defaultdict
from decimal import Decimal
from typing import Any

import pytest

from tests.e2e.client import API, QUOTE, Api, User, amount, error, fresh, ok

D = Decimal


def base_of(market: str) -> str:
    return market.split("-", maxsplit=1)[0]


def balance(api: Api, user: User, asset: str) -> tuple[Decimal, Decimal]:
    """(available, locked) of one asset; zero when the user has none."""
    row = api.balances(user).get(asset)
    if row is None:
        return D(0), D(0)
    return D(row["available"]), D(row["locked"])


def buy_hold(price: str, quantity: str) -> Decimal:
    notional = D(price) * D(quantity)
    return notional + notional * D("0.002")


# -- deposits and withdrawals ------------------------------------------------------------------


def test_deposits_are_idempotent_by_reference(api: Api) -> None:
    user = api.user("depositor")
    reference = fresh("wire")
    first = api.deposit(user, QUOTE, "1000.5", reference)
    assert first["replayed"] is False
    assert first["amount"] == "1000.50000000"
    assert first["kind"] == "DEPOSIT"
    assert first["reference"] == reference
    assert first["balance"] == {
        "asset": QUOTE,
        "available": "1000.50000000",
        "locked": "0.00000000",
        "total": "1000.50000000",
    }
    again = api.deposit(user, QUOTE, "1000.5", reference)
    assert again["replayed"] is True
    assert again["transfer_id"] == first["transfer_id"]
    assert again["balance"]["available"] == "1000.50000000"  # credited once
    assert api.balances(user) == {
        QUOTE: {"available": "1000.50000000", "locked": "0.00000000", "total": "1000.50000000"}
    }

    # The same reference for another transfer is a conflict, not a replay.
    body = {"user_id": user.id, "asset": QUOTE, "amount": "2", "reference": reference}
    error(api.http.post(f"{API}/admin/deposits", json=body, headers=api.admin), 409, "DUPLICATE_REFERENCE")
    body = {"user_id": user.id, "asset": QUOTE, "amount": "1000.5", "reference": reference}
    response = api.http.post(f"{API}/admin/withdrawals", json=body, headers=api.admin)
    error(response, 409, "DUPLICATE_REFERENCE")
    # Another asset with as many decimals: the same amount in minor units, still a conflict.
    body = {"user_id": user.id, "asset": "BTC", "amount": "1000.5", "reference": reference}
    error(api.http.post(f"{API}/admin/deposits", json=body, headers=api.admin), 409, "DUPLICATE_REFERENCE")
    assert "BTC" not in api.balances(user)

    # Without a reference every deposit counts.
    one = api.deposit(user, QUOTE, "1")
    two = api.deposit(user, QUOTE, "1")
    assert one["transfer_id"] != two["transfer_id"]
    assert two["balance"]["available"] == "1002.50000000"

    # Withdrawals: idempotent too, and never more than is available.
    out_reference = fresh("payout")
    body = {"user_id": user.id, "asset": QUOTE, "amount": "0.25", "reference": out_reference}
    out = ok(api.http.post(f"{API}/admin/withdrawals", json=body, headers=api.admin), 201)
    assert (out["kind"], out["replayed"], out["balance"]["available"]) == (
        "WITHDRAWAL",
        False,
        "1002.25000000",
    )
    out_again = ok(api.http.post(f"{API}/admin/withdrawals", json=body, headers=api.admin), 201)
    assert (out_again["transfer_id"], out_again["replayed"]) == (out["transfer_id"], True)
    body = {"user_id": user.id, "asset": QUOTE, "amount": "1002.25000001"}
    response = api.http.post(f"{API}/admin/withdrawals", json=body, headers=api.admin)
    error(response, 422, "INSUFFICIENT_BALANCE")
    assert api.balances(user)[QUOTE]["available"] == "1002.25000000"

    # Unknown assets and amounts finer than the asset's decimals are refused.
    body = {"user_id": user.id, "asset": "NOPE", "amount": "1"}
    error(api.http.post(f"{API}/admin/deposits", json=body, headers=api.admin), 404, "UNKNOWN_ASSET")
    body = {"user_id": user.id, "asset": QUOTE, "amount": "0.000000001"}
    error(api.http.post(f"{API}/admin/deposits", json=body, headers=api.admin), 400, "TOO_PRECISE")

    # A name with a final newline is not the name: `$` alone let these through, crediting
    # an account no token can name (a token's subject is matched whole).
    newline = (("user_id", user.id + "\n"), ("reference", fresh("wire") + "\n"), ("asset", QUOTE + "\n"))
    for field, value in newline:
        body = {"user_id": user.id, "asset": QUOTE, "amount": "1", field: value}
        error(api.http.post(f"{API}/admin/deposits", json=body, headers=api.admin), 400, "VALIDATION_ERROR")
    assert api.balances(user)[QUOTE]["available"] == "1002.25000000"


# -- matching ------------------------------------------------------------------------------------


def test_limit_orders_rest_cross_and_fill_partially(api: Api) -> None:
    market = api.add_market()
    base = base_of(market)
    alice, bob = api.user("alice"), api.user("bob")
    api.deposit(alice, QUOTE, "100000")
    api.deposit(bob, base, "100")

    ask = api.order(bob, market=market, side="SELL", price="100.00", quantity="2.000", client_order_id="b1")
    assert (ask["status"], ask["executed_quantity"], ask["fills"]) == ("NEW", "0.000", [])
    assert (ask["type"], ask["time_in_force"], ask["client_order_id"]) == ("LIMIT", "GTC", "b1")
    api.order(bob, market=market, side="SELL", price="101.00", quantity="1.000")
    bid = api.order(alice, market=market, side="BUY", price="99.00", quantity="0.500")
    assert bid["status"] == "NEW"
    assert api.balances(bob)[base] == {
        "available": "97.00000000",
        "locked": "3.00000000",
        "total": "100.00000000",
    }
    hold = buy_hold("99.00", "0.500")  # 49.5 + 0.099
    assert balance(api, alice, QUOTE) == (D(100000) - hold, hold)
    depth = api.depth(market)
    assert depth["bids"] == [["99.00", "0.500"]]
    assert depth["asks"] == [["100.00", "2.000"], ["101.00", "1.000"]]

    # A crossing buy trades at the maker's price and partially fills the resting ask.
    taker = api.order(alice, market=market, side="BUY", price="100.50", quantity="1.500")
    assert taker["status"] == "FILLED"
    assert (taker["executed_quantity"], taker["executed_quote"], taker["fee"]) == (
        "1.500",
        "150.00000000",
        "0.30000000",
    )
    assert len(taker["fills"]) == 1
    fill = taker["fills"][0]
    assert (fill["price"], fill["quantity"], fill["quote_amount"], fill["fee"], fill["role"]) == (
        "100.00",
        "1.500",
        "150.00000000",
        "0.30000000",
        "TAKER",
    )
    maker = api.get_order(bob, ask["order_id"])
    assert (maker["status"], maker["executed_quantity"], maker["executed_quote"], maker["fee"]) == (
        "PARTIALLY_FILLED",
        "1.500",
        "150.00000000",
        "0.15000000",
    )
    assert api.depth(market)["asks"] == [["100.00", "0.500"], ["101.00", "1.000"]]

    # Exact balances: alice paid 150 + 0.3 fee and keeps her resting bid's hold.
    assert api.balances(alice) == {
        base: {"available": "1.50000000", "locked": "0.00000000", "total": "1.50000000"},
        QUOTE: {
            "available": amount(D(100000) - hold - D("150.3")),
            "locked": amount(hold),
            "total": amount(D(100000) - D("150.3")),
        },
    }
    assert api.balances(bob) == {
        base: {"available": "97.00000000", "locked": "1.50000000", "total": "98.50000000"},
        QUOTE: {"available": "149.85000000", "locked": "0.00000000", "total": "149.85000000"},
    }


def test_market_orders_by_quantity_and_by_quote_amount(api: Api) -> None:
    market = api.add_market()
    base = base_of(market)
    seller, carol, dave, erin = (api.user(name) for name in ("seller", "carol", "dave", "erin"))
    api.deposit(seller, base, "10")
    api.deposit(carol, QUOTE, "50000")
    api.deposit(dave, QUOTE, "20000")
    api.deposit(erin, base, "5")
    api.order(seller, market=market, side="SELL", price="100.00", quantity="0.500")
    api.order(seller, market=market, side="SELL", price="101.00", quantity="1.000")

    # By quantity: sweeps two levels; the hold of everything available is released after.
    bought = api.order(carol, market=market, side="BUY", type="MARKET", quantity="1.000")
    assert (bought["type"], bought["time_in_force"], bought["status"]) == ("MARKET", "IOC", "FILLED")
    assert [(f["price"], f["quantity"]) for f in bought["fills"]] == [
        ("100.00", "0.500"),
        ("101.00", "0.500"),
    ]
    assert (bought["executed_quote"], bought["fee"]) == ("100.50000000", "0.20100000")
    assert balance(api, carol, QUOTE) == (D(50000) - D("100.5") - D("0.201"), D(0))
    assert balance(api, carol, base) == (D(1), D(0))

    # By quote amount: 50.5 USDT buys 0.499 at 101 (50.399 + 0.100798 fee); one more lot
    # would cost more than what is left, so the order is complete.
    spent = api.order(dave, market=market, side="BUY", type="MARKET", quote_quantity="50.5")
    assert (spent["status"], spent["quantity"], spent["quote_quantity"]) == ("FILLED", None, "50.50000000")
    assert (spent["executed_quantity"], spent["executed_quote"], spent["fee"]) == (
        "0.499",
        "50.39900000",
        "0.10079800",
    )
    assert balance(api, dave, QUOTE) == (D("19949.500202"), D(0))
    assert api.depth(market)["asks"] == [["101.00", "0.001"]]

    # A market sell by quantity into a bid.
    api.order(dave, market=market, side="BUY", price="98.00", quantity="1.000")
    sold = api.order(erin, market=market, side="SELL", type="MARKET", quantity="0.400")
    assert (sold["status"], sold["executed_quote"], sold["fee"]) == ("FILLED", "39.20000000", "0.07840000")
    assert balance(api, erin, QUOTE) == (D("39.2") - D("0.0784"), D(0))
    assert api.depth(market)["bids"] == [["98.00", "0.600"]]

    # Nothing to trade against: the order expires with a reason, and nothing is spent.
    api.http.delete(f"{API}/orders", params={"market": market}, headers=dave.headers)
    empty = api.order(erin, market=market, side="SELL", type="MARKET", quantity="0.100")
    assert (empty["status"], empty["reason"], empty["executed_quantity"]) == (
        "EXPIRED",
        "NO_LIQUIDITY",
        "0.000",
    )
    assert balance(api, erin, base) == (D("4.6"), D(0))


def test_post_only_ioc_and_fok(api: Api) -> None:
    market = api.add_market()
    base = base_of(market)
    maker, taker = api.user("maker"), api.user("taker")
    api.deposit(maker, base, "10")
    api.deposit(taker, QUOTE, "10000")
    api.order(maker, market=market, side="SELL", price="101.00", quantity="0.500")

    # Post-only: refused if it would take, rests otherwise.
    response = api.place(taker, market=market, side="BUY", price="101.00", quantity="1.000", post_only=True)
    error(response, 422, "POST_ONLY_WOULD_TAKE")
    resting = api.order(taker, market=market, side="BUY", price="98.00", quantity="1.000", post_only=True)
    assert (resting["status"], resting["post_only"]) == ("NEW", True)

    # IOC: fills what it can, the rest expires and its hold comes back.
    ioc = api.order(taker, market=market, side="BUY", price="101.00", quantity="1.000", time_in_force="IOC")
    assert (ioc["status"], ioc["reason"], ioc["executed_quantity"]) == ("EXPIRED", "IOC_REMAINDER", "0.500")
    assert (ioc["executed_quote"], ioc["fee"]) == ("50.50000000", "0.10100000")
    assert balance(api, taker, QUOTE) == (
        D(10000) - D("50.601") - buy_hold("98.00", "1.000"),
        buy_hold("98.00", "1.000"),
    )

    # FOK: all or nothing; nothing left behind when it cannot fill.
    before = balance(api, taker, QUOTE)
    killed = api.order(
        taker, market=market, side="BUY", price="105.00", quantity="5.000", time_in_force="FOK"
    )
    assert (killed["status"], killed["reason"], killed["executed_quantity"]) == (
        "EXPIRED",
        "FOK_NOT_FILLABLE",
        "0.000",
    )
    assert balance(api, taker, QUOTE) == before
    api.order(maker, market=market, side="SELL", price="102.00", quantity="0.600")
    api.order(maker, market=market, side="SELL", price="102.50", quantity="0.600")
    filled = api.order(
        taker, market=market, side="BUY", price="102.50", quantity="1.000", time_in_force="FOK"
    )
    assert (filled["status"], filled["executed_quantity"]) == ("FILLED", "1.000")
    assert [(f["price"], f["quantity"]) for f in filled["fills"]] == [
        ("102.00", "0.600"),
        ("102.50", "0.400"),
    ]
    depth = api.depth(market)
    assert (depth["bids"], depth["asks"]) == ([["98.00", "1.000"]], [["102.50", "0.200"]])


def test_stop_limit_triggers_on_the_last_trade_price(api: Api) -> None:
    market = api.add_market()
    base = base_of(market)
    alice, bob, carol = api.user("alice"), api.user("bob"), api.user("carol")
    api.deposit(alice, QUOTE, "1000")
    api.deposit(bob, base, "10")
    api.deposit(carol, QUOTE, "1000")
    api.order(bob, market=market, side="SELL", price="102.00", quantity="0.100")
    api.order(carol, market=market, side="BUY", price="102.00", quantity="0.100")  # last price 102

    error(
        api.place(
            alice,
            market=market,
            side="BUY",
            type="STOP_LIMIT",
            stop_price="101.00",
            price="104.00",
            quantity="0.500",
        ),
        422,
        "STOP_WOULD_TRIGGER",
    )
    stop = api.order(
        alice,
        market=market,
        side="BUY",
        type="STOP_LIMIT",
        stop_price="103.00",
        price="104.00",
        quantity="0.500",
    )
    assert (stop["type"], stop["status"], stop["stop_price"], stop["price"]) == (
        "STOP_LIMIT",
        "NEW",
        "103.00",
        "104.00",
    )
    assert balance(api, alice, QUOTE)[1] == buy_hold("104.00", "0.500")  # held while pending
    assert api.depth(market)["bids"] == []  # a pending stop is not in the book

    # A trade at 103 triggers it; it then buys bob's rest at 103.
    api.order(bob, market=market, side="SELL", price="103.00", quantity="1.000")
    api.order(carol, market=market, side="BUY", price="103.00", quantity="0.200")
    triggered = api.get_order(alice, stop["order_id"])
    assert (triggered["status"], triggered["executed_quantity"], triggered["executed_quote"]) == (
        "FILLED",
        "0.500",
        "51.50000000",
    )
    fills = api.fills(alice, market=market)["fills"]
    assert [(f["order_id"], f["price"], f["quantity"], f["role"]) for f in fills] == [
        (stop["order_id"], "103.00", "0.500", "TAKER")
    ]
    assert balance(api, alice, QUOTE) == (D(1000) - D("51.5") - D("0.103"), D(0))
    assert api.depth(market)["asks"] == [["103.00", "0.300"]]


def test_take_profit_limit_buy_triggers_when_the_price_falls_to_its_stop_price(api: Api) -> None:
    market = api.add_market()
    base = base_of(market)
    alice, bob, carol = api.user("alice"), api.user("bob"), api.user("carol")
    api.deposit(alice, QUOTE, "1000")
    api.deposit(bob, base, "10")
    api.deposit(carol, QUOTE, "1000")
    api.order(bob, market=market, side="SELL", price="102.00", quantity="0.100")
    api.order(carol, market=market, side="BUY", price="102.00", quantity="0.100")  # last price 102

    terms = {"market": market, "side": "BUY", "type": "TAKE_PROFIT_LIMIT", "quantity": "0.500"}
    # A buy take-profit fires on a fall: at or above the last price it would fire at once.
    error(api.place(alice, **terms, stop_price="102.00", price="102.50"), 422, "STOP_WOULD_TRIGGER")
    error(api.place(alice, **terms, stop_price="100.00"), 400, "INVALID_ORDER")  # no limit price
    tp = api.order(alice, **terms, stop_price="100.00", price="100.50")
    assert (tp["type"], tp["status"], tp["stop_price"], tp["price"]) == (
        "TAKE_PROFIT_LIMIT",
        "NEW",
        "100.00",
        "100.50",
    )
    assert balance(api, alice, QUOTE)[1] == buy_hold("100.50", "0.500")  # held while pending
    assert api.depth(market)["bids"] == []  # a pending take-profit is not in the book
    assert [o["order_id"] for o in api.orders(alice, status="open")["orders"]] == [tp["order_id"]]

    # A rise does not fire it; a trade at 100 does, and it buys bob's rest at 100.
    api.order(bob, market=market, side="SELL", price="103.00", quantity="0.100")
    api.order(carol, market=market, side="BUY", price="103.00", quantity="0.100")
    assert api.get_order(alice, tp["order_id"])["status"] == "NEW"
    api.order(bob, market=market, side="SELL", price="100.00", quantity="1.000")
    api.order(carol, market=market, side="BUY", price="100.00", quantity="0.200")
    fired = api.get_order(alice, tp["order_id"])
    assert (fired["type"], fired["status"], fired["executed_quantity"], fired["executed_quote"]) == (
        "TAKE_PROFIT_LIMIT",
        "FILLED",
        "0.500",
        "50.00000000",
    )
    fills = api.fills(alice, market=market)["fills"]
    assert [(f["order_id"], f["price"], f["quantity"], f["role"]) for f in fills] == [
        (tp["order_id"], "100.00", "0.500", "TAKER")
    ]
    assert balance(api, alice, QUOTE) == (D(1000) - D("50") - D("0.1"), D(0))


def test_take_profit_market_sell_fires_on_a_rise_and_can_be_cancelled_while_pending(api: Api) -> None:
    market = api.add_market()
    base = base_of(market)
    alice, bob, carol = api.user("alice"), api.user("bob"), api.user("carol")
    api.deposit(alice, base, "1")
    api.deposit(bob, base, "10")
    api.deposit(carol, QUOTE, "1000")
    api.order(bob, market=market, side="SELL", price="100.00", quantity="0.100")
    api.order(carol, market=market, side="BUY", price="100.00", quantity="0.100")  # last price 100

    terms = {"market": market, "side": "SELL", "type": "TAKE_PROFIT_MARKET", "quantity": "0.300"}
    error(api.place(alice, **terms, stop_price="99.00"), 422, "STOP_WOULD_TRIGGER")
    error(api.place(alice, **terms, stop_price="105.00", price="105.00"), 400, "INVALID_ORDER")
    first = api.order(alice, **terms, stop_price="105.00")
    assert (first["type"], first["status"], first["stop_price"], first["price"]) == (
        "TAKE_PROFIT_MARKET",
        "NEW",
        "105.00",
        None,
    )
    assert balance(api, alice, base) == (D("0.7"), D("0.3"))
    cancelled = ok(api.http.delete(f"{API}/orders/{first['order_id']}", headers=alice.headers))
    assert (cancelled["status"], cancelled["type"]) == ("CANCELED", "TAKE_PROFIT_MARKET")
    assert balance(api, alice, base) == (D(1), D(0))

    second = api.order(alice, **terms, stop_price="105.00")
    api.order(carol, market=market, side="BUY", price="104.00", quantity="1.000")  # a bid to sell into
    api.order(bob, market=market, side="SELL", price="105.00", quantity="0.100")
    api.order(carol, market=market, side="BUY", price="105.00", quantity="0.100")  # the rise to 105
    fired = api.get_order(alice, second["order_id"])
    assert (fired["status"], fired["executed_quantity"], fired["executed_quote"]) == (
        "FILLED",
        "0.300",
        "31.20000000",
    )
    assert balance(api, alice, base) == (D("0.7"), D(0))
    assert api.depth(market)["bids"] == [["104.00", "0.700"]]


def test_amend_keeps_priority_on_decrease_and_moves_on_price_change(api: Api) -> None:
    market = api.add_market()
    base = base_of(market)
    alice, dave, seller = api.user("alice"), api.user("dave"), api.user("seller")
    api.deposit(alice, QUOTE, "1000")
    api.deposit(dave, QUOTE, "1000")
    api.deposit(seller, base, "10")

    first = api.order(alice, market=market, side="BUY", price="99.00", quantity="0.500", client_order_id="a1")
    second = api.order(dave, market=market, side="BUY", price="99.00", quantity="1.000")

    # Smaller quantity: same place in the queue, and the hold shrinks with it.
    response = api.http.patch(
        f"{API}/orders/{first['order_id']}", json={"quantity": "0.300"}, headers=alice.headers
    )
    amended = ok(response)
    assert (amended["quantity"], amended["price"], amended["status"]) == ("0.300", "99.00", "NEW")
    assert balance(api, alice, QUOTE)[1] == buy_hold("99.00", "0.300")
    assert api.depth(market)["bids"] == [["99.00", "1.300"]]
    api.order(seller, market=market, side="SELL", price="99.00", quantity="0.300")
    assert api.get_order(alice, first["order_id"])["status"] == "FILLED"  # still first in line
    assert api.get_order(dave, second["order_id"])["executed_quantity"] == "0.000"

    # A larger quantity loses priority: alice was first at 98, dave fills first after.
    third = api.order(alice, market=market, side="BUY", price="98.00", quantity="0.200", client_order_id="a2")
    fourth = api.order(dave, market=market, side="BUY", price="98.00", quantity="0.200")
    response = api.http.patch(
        f"{API}/orders/by-client-id/a2", json={"quantity": "0.300"}, headers=alice.headers
    )
    assert ok(response)["quantity"] == "0.300"
    api.order(seller, market=market, side="SELL", price="98.00", quantity="1.200")  # 1.0 at 99, 0.2 at 98
    assert api.get_order(dave, second["order_id"])["status"] == "FILLED"
    assert api.get_order(dave, fourth["order_id"])["status"] == "FILLED"
    assert api.get_order(alice, third["order_id"])["executed_quantity"] == "0.000"

    # A price change moves the order to its new level (and may take there).
    response = api.http.patch(
        f"{API}/orders/{third['order_id']}", json={"price": "98.50"}, headers=alice.headers
    )
    moved = ok(response)
    assert (moved["price"], moved["quantity"]) == ("98.50", "0.300")
    assert api.depth(market)["bids"] == [["98.50", "0.300"]]
    assert balance(api, alice, QUOTE)[1] == buy_hold("98.50", "0.300")
    api.order(seller, market=market, side="SELL", price="100.00", quantity="0.100")
    response = api.http.patch(
        f"{API}/orders/{third['order_id']}", json={"price": "100.00"}, headers=alice.headers
    )
    crossed = ok(response)
    assert (crossed["status"], crossed["executed_quantity"]) == ("PARTIALLY_FILLED", "0.100")
    depth = api.depth(market)
    assert (depth["bids"], depth["asks"]) == ([["100.00", "0.200"]], [])

    # Amending a filled order is a conflict.
    response = api.http.patch(
        f"{API}/orders/{first['order_id']}", json={"quantity": "0.100"}, headers=alice.headers
    )
    assert error(response, 409, "ORDER_NOT_OPEN")["details"] == {"status": "FILLED"}


def test_cancel_by_id_by_client_id_and_cancel_all_per_market(api: Api) -> None:
    one, other = api.add_market(), api.add_market()
    trader = api.user("canceller")
    api.deposit(trader, QUOTE, "10000")
    a = api.order(trader, market=one, side="BUY", price="10.00", quantity="1.000")
    b = api.order(trader, market=one, side="BUY", price="11.00", quantity="1.000", client_order_id="keep-b")
    c = api.order(trader, market=one, side="BUY", price="12.00", quantity="1.000")
    d = api.order(trader, market=other, side="BUY", price="13.00", quantity="1.000")
    e = api.order(
        trader,
        market=other,
        side="BUY",
        type="STOP_LIMIT",
        stop_price="50.00",
        price="51.00",
        quantity="1.000",
    )
    held = sum(buy_hold(p, "1.000") for p in ("10.00", "11.00", "12.00", "13.00", "51.00"))
    assert balance(api, trader, QUOTE) == (D(10000) - held, held)

    cancelled = ok(api.http.delete(f"{API}/orders/{a['order_id']}", headers=trader.headers))
    assert (cancelled["order_id"], cancelled["status"], cancelled["reason"]) == (
        a["order_id"],
        "CANCELED",
        "USER",
    )
    cancelled = ok(api.http.delete(f"{API}/orders/by-client-id/keep-b", headers=trader.headers))
    assert (cancelled["order_id"], cancelled["status"]) == (b["order_id"], "CANCELED")
    error(api.http.delete(f"{API}/orders/{a['order_id']}", headers=trader.headers), 409, "ORDER_NOT_OPEN")

    # Per market: only that market's orders go.
    response = api.http.delete(f"{API}/orders", params={"market": one}, headers=trader.headers)
    assert ok(response) == {"cancelled": [c["order_id"]]}
    assert api.get_order(trader, d["order_id"])["status"] == "NEW"
    assert api.depth(one)["bids"] == []
    # Then everything else, pending stops included.
    assert ok(api.http.delete(f"{API}/orders", headers=trader.headers)) == {
        "cancelled": [d["order_id"], e["order_id"]]
    }
    assert api.get_order(trader, e["order_id"])["reason"] == "CANCEL_ALL"
    assert ok(api.http.delete(f"{API}/orders", headers=trader.headers)) == {"cancelled": []}
    assert balance(api, trader, QUOTE) == (D(10000), D(0))


def test_get_and_list_orders_with_filters_and_paging(api: Api) -> None:
    one, other = api.add_market(), api.add_market()
    trader, counterparty = api.user("lister"), api.user("counterparty")
    api.deposit(trader, QUOTE, "10000")
    api.deposit(counterparty, base_of(one), "10")
    placed = []
    for index in range(7):
        market = one if index % 2 == 0 else other
        placed.append(
            api.order(
                trader,
                market=market,
                side="BUY",
                price=f"{20 + index}.00",
                quantity="1.000",
                client_order_id=f"list-{index}",
            )
        )
        time.sleep(0.002)  # distinct creation milliseconds, for the time-range checks
    # Close two of them: one filled, one cancelled.
    api.order(counterparty, market=one, side="SELL", price="26.00", quantity="1.000")  # fills list-6 (26.00)
    ok(api.http.delete(f"{API}/orders/by-client-id/list-1", headers=trader.headers))
    ids = [order["order_id"] for order in placed]
    closed = {ids[6], ids[1]}

    by_id = api.get_order(trader, ids[6])
    assert (by_id["client_order_id"], by_id["status"], by_id["market"]) == ("list-6", "FILLED", one)
    by_client_id = ok(api.http.get(f"{API}/orders/by-client-id/list-3", headers=trader.headers))
    assert by_client_id["order_id"] == ids[3]
    error(
        api.http.get(f"{API}/orders/by-client-id/never-used", headers=trader.headers), 404, "ORDER_NOT_FOUND"
    )
    error(
        api.http.get(f"{API}/orders/{ids[-1] + 10_000_000}", headers=trader.headers), 404, "ORDER_NOT_FOUND"
    )
    # A client order id can be used again once its order is closed; the newest answers.
    reused = api.order(
        trader, market=other, side="BUY", price="1.00", quantity="1.000", client_order_id="list-1"
    )
    assert (
        ok(api.http.get(f"{API}/orders/by-client-id/list-1", headers=trader.headers))["order_id"]
        == reused["order_id"]
    )
    ok(api.http.delete(f"{API}/orders/{reused['order_id']}", headers=trader.headers))
    ids.append(reused["order_id"])
    closed.add(reused["order_id"])

    everything = api.orders(trader)
    assert [o["order_id"] for o in everything["orders"]] == sorted(ids, reverse=True)  # newest first
    assert (everything["total"], everything["limit"], everything["offset"], everything["has_more"]) == (
        8,
        100,
        0,
        False,
    )
    assert all(o.get("fills") is None for o in everything["orders"])

    in_one = api.orders(trader, market=one)
    assert {o["order_id"] for o in in_one["orders"]} == {ids[0], ids[2], ids[4], ids[6]}
    open_orders = api.orders(trader, status="open")
    assert {o["order_id"] for o in open_orders["orders"]} == set(ids) - closed
    assert {o["status"] for o in open_orders["orders"]} == {"NEW"}
    closed_orders = api.orders(trader, status="closed")
    assert {o["order_id"] for o in closed_orders["orders"]} == closed
    assert api.orders(trader, market=one, status="closed")["total"] == 1

    page = api.orders(trader, limit=3, offset=0)
    assert ([o["order_id"] for o in page["orders"]], page["total"], page["has_more"]) == (
        sorted(ids, reverse=True)[:3],
        8,
        True,
    )
    last = api.orders(trader, limit=3, offset=6)
    assert ([o["order_id"] for o in last["orders"]], last["has_more"]) == (
        sorted(ids, reverse=True)[6:],
        False,
    )
    assert api.orders(trader, limit=3, offset=8)["orders"] == []

    # Time range: [start_time, end_time) in milliseconds, on creation time.
    created = {o["order_id"]: o["created_at"] for o in everything["orders"]}
    start, end = created[ids[2]], created[ids[5]]
    window = api.orders(trader, start_time=start, end_time=end)
    assert {o["order_id"] for o in window["orders"]} == {i for i, t in created.items() if start <= t < end}
    assert ids[2] in {o["order_id"] for o in window["orders"]}
    assert api.orders(trader, start_time=max(created.values()) + 1)["total"] == 0
    assert api.orders(trader, end_time=min(created.values()))["total"] == 0
    response = api.http.get(f"{API}/orders", params={"start_time": 10, "end_time": 5}, headers=trader.headers)
    error(response, 400, "VALIDATION_ERROR")


def test_fills_and_balances_conserve_every_asset(api: Api) -> None:
    market = api.add_market()
    base = base_of(market)
    users = [api.user(f"trader{index}") for index in range(4)]
    deposits: dict[str, Decimal] = defaultdict(Decimal)
    for index, user in enumerate(users):
        api.deposit(user, QUOTE, f"{5000 + index * 1000}")
        api.deposit(user, base, f"{20 + index}")
        deposits[QUOTE] += 5000 + index * 1000
        deposits[base] += 20 + index
    # A round of crossing orders at several prices, partial fills included.
    for step in range(12):
        seller, buyer = users[step % 4], users[(step + 1) % 4]
        price = f"{100 + step % 5}.{(step * 7) % 100:02d}"
        api.order(seller, market=market, side="SELL", price=price, quantity=f"0.{150 + step * 11:03d}")
        api.order(buyer, market=market, side="BUY", price="200.00", quantity=f"0.{100 + step * 13:03d}")
    api.order(users[0], market=market, side="BUY", type="MARKET", quote_quantity="25")
    api.order(users[3], market=market, side="SELL", type="MARKET", quantity="0.050")

    trades = api.trades(market, limit=1000)["trades"]
    assert trades
    totals: dict[str, Decimal] = defaultdict(Decimal)
    fees = Decimal(0)
    seen_trades: dict[int, int] = defaultdict(int)
    for user in users:
        fills = api.fills(user, market=market, limit=1000)
        assert fills["total"] == len(fills["fills"])
        for fill in fills["fills"]:
            assert fill["market"] == market
            assert D(fill["quote_amount"]) == D(fill["price"]) * D(fill["quantity"])
            rate = D("0.001") if fill["role"] == "MAKER" else D("0.002")
            # Exact here (5 decimals of notional × a rate of 3 fit in 8): no rounding.
            assert D(fill["fee"]) == D(fill["quote_amount"]) * rate
            fees += D(fill["fee"])
            seen_trades[fill["trade_id"]] += 1
        # The orders' executed amounts add up to the user's fills.
        orders = api.orders(user, market=market, limit=1000)["orders"]
        assert sum(D(o["executed_quantity"]) for o in orders) == sum(D(f["quantity"]) for f in fills["fills"])
        assert sum(D(o["fee"]) for o in orders) == sum(D(f["fee"]) for f in fills["fills"])
        for asset, row in api.balances(user).items():
            totals[asset] += D(row["total"])
    # Every trade has two sides, both seen (self-trade prevention keeps users apart).
    assert sorted(seen_trades) == sorted(trade["trade_id"] for trade in trades)
    assert set(seen_trades.values()) == {2}
    # Conservation: what users hold plus the fees (in the fee account) is what was deposited.
    assert totals[base] == deposits[base]
    assert totals[QUOTE] + fees == deposits[QUOTE]


def test_a_self_trade_is_two_fills(api: Api) -> None:
    # Regression: /fills paged trades, not fills, and lost one side of a self-trade.
    market = api.add_market()
    user = api.user("self-trader")
    api.deposit(user, QUOTE, "10000")
    api.deposit(user, base_of(market), "10")
    ask = api.order(user, market=market, side="SELL", price="100.00", quantity="1.000", stp_mode="NONE")
    bid = api.order(user, market=market, side="BUY", price="100.00", quantity="1.000", stp_mode="NONE")
    assert bid["status"] == "FILLED"
    page = api.fills(user, market=market)
    assert page["total"] == 2
    fills = page["fills"]
    assert [(f["order_id"], f["side"], f["role"]) for f in fills] == [
        (bid["order_id"], "BUY", "TAKER"),
        (ask["order_id"], "SELL", "MAKER"),
    ]
    assert fills[0]["trade_id"] == fills[1]["trade_id"]
    fees = sum(D(f["fee"]) for f in fills)
    assert fees == D(bid["fee"]) + D(api.get_order(user, ask["order_id"])["fee"])
    assert fees == D("0.3")  # 100 × (0.002 taker + 0.001 maker)
    # Paging goes through both sides of the trade.
    assert [f["side"] for f in api.fills(user, market=market, limit=1, offset=1)["fills"]] == ["SELL"]


def test_depth_lists_best_first_and_sequence_increases(api: Api) -> None:
    market = api.add_market()
    base = base_of(market)
    maker = api.user("depth")
    api.deposit(maker, QUOTE, "10000")
    api.deposit(maker, base, "100")
    empty = api.depth(market)
    assert (empty["market"], empty["bids"], empty["asks"]) == (market, [], [])
    sequence = empty["sequence"]
    for price, quantity in (("95.00", "1.000"), ("97.50", "0.250"), ("96.00", "2.000"), ("97.50", "0.750")):
        api.order(maker, market=market, side="BUY", price=price, quantity=quantity)
        depth = api.depth(market)
        assert depth["sequence"] > sequence
        sequence = depth["sequence"]
    for price, quantity in (
        ("103.00", "1.000"),
        ("101.00", "0.500"),
        ("102.00", "1.500"),
        ("101.00", "0.500"),
    ):
        api.order(maker, market=market, side="SELL", price=price, quantity=quantity)
    depth = api.depth(market)
    assert depth["sequence"] > sequence
    assert depth["bids"] == [["97.50", "1.000"], ["96.00", "2.000"], ["95.00", "1.000"]]
    assert depth["asks"] == [["101.00", "1.000"], ["102.00", "1.500"], ["103.00", "1.000"]]
    limited = api.depth(market, limit=2)
    assert (limited["bids"], limited["asks"]) == (depth["bids"][:2], depth["asks"][:2])
    error(api.http.get(f"{API}/markets/{market}/depth", params={"limit": 0}), 400, "VALIDATION_ERROR")
    error(api.http.get(f"{API}/markets/NOPE-USDT/depth"), 404, "UNKNOWN_MARKET")


def test_markets_are_listed_with_their_rules(api: Api) -> None:
    market = api.add_market(tick_size="0.05", min_notional="5")
    listed = {m["symbol"]: m for m in ok(api.http.get(f"{API}/markets"))}
    assert {"BTC-USDT", "ETH-USDT", "ETH-BTC", market} <= set(listed)
    one = ok(api.http.get(f"{API}/markets/{market}"))
    assert one == listed[market]
    assert (one["base"], one["quote"], one["tick_size"], one["step_size"]) == (
        base_of(market),
        QUOTE,
        "0.05",
        "0.001",
    )
    assert (one["min_notional"], one["maker_fee"], one["taker_fee"]) == ("5.00000000", "0.001000", "0.002000")
    error(api.http.get(f"{API}/markets/NOPE-USDT"), 404, "UNKNOWN_MARKET")
    body = {"symbol": market, "tick_size": "0.01", "step_size": "0.001"}
    error(api.http.post(f"{API}/admin/markets", json=body, headers=api.admin), 409, "MARKET_EXISTS")
    body = {"symbol": "BAD", "tick_size": "0.01", "step_size": "0.001"}
    error(api.http.post(f"{API}/admin/markets", json=body, headers=api.admin), 400, "INVALID_MARKET")


# -- market data ---------------------------------------------------------------------------------

TRADE_COUNT = 120


@pytest.fixture(scope="module")
def traded(api: Api) -> tuple[str, list[dict[str, Any]]]:
    """A market with TRADE_COUNT trades from three sweeps, a bid and an ask left resting;
    returns it with its public trades, oldest first."""
    market = api.add_market()
    base = base_of(market)
    maker, taker = api.user("mm"), api.user("sweeper")
    api.deposit(maker, base, "100")
    api.deposit(maker, QUOTE, "1000")
    api.deposit(taker, QUOTE, "100000")
    for index in range(TRADE_COUNT):
        band = index * 3 // TRADE_COUNT  # each sweep takes exactly one band of whole orders
        api.order(
            maker,
            market=market,
            side="SELL",
            price=f"{100 + 2 * band}.{(index * 37) % 100:02d}",
            quantity=f"0.{10 + index % 3:03d}",
        )
    quantities = [D(0), D(0), D(0)]
    for index in range(TRADE_COUNT):
        quantities[index * 3 // TRADE_COUNT] += D(f"0.{10 + index % 3:03d}")
    for sweep in quantities:
        # Separate commands milliseconds apart: the trades span several timestamps.
        time.sleep(0.003)
        api.order(taker, market=market, side="BUY", price="200.00", quantity=f"{sweep:.3f}")
    api.order(maker, market=market, side="SELL", price="150.00", quantity="1.000")
    api.order(maker, market=market, side="BUY", price="90.00", quantity="1.000")
    page = api.trades(market, limit=1000)
    assert page["total"] == TRADE_COUNT
    return market, list(reversed(page["trades"]))


def test_public_trades_page_newest_first_with_time_range(
    api: Api, traded: tuple[str, list[dict[str, Any]]]
) -> None:
    market, trades = traded
    newest_first = list(reversed(trades))
    assert [t["trade_id"] for t in newest_first] == sorted((t["trade_id"] for t in trades), reverse=True)
    assert all(t["taker_side"] == "BUY" for t in trades)
    assert all(D(t["quote_amount"]) == D(t["price"]) * D(t["quantity"]) for t in trades)
    # Each sweep takes the cheapest asks first.
    first_sweep = [t for t in trades if t["time"] == trades[0]["time"]]
    assert [D(t["price"]) for t in first_sweep] == sorted(D(t["price"]) for t in first_sweep)

    default = api.trades(market)
    assert (default["limit"], default["offset"], default["total"], default["has_more"]) == (
        100,
        0,
        TRADE_COUNT,
        True,
    )
    assert default["trades"] == newest_first[:100]
    rest = api.trades(market, offset=100)
    assert (rest["trades"], rest["has_more"]) == (newest_first[100:], False)
    middle = api.trades(market, limit=7, offset=50)
    assert (middle["trades"], middle["has_more"]) == (newest_first[50:57], True)
    assert api.trades(market, limit=1000)["trades"] == newest_first
    error(api.http.get(f"{API}/markets/{market}/trades", params={"limit": 1001}), 400, "VALIDATION_ERROR")
    error(api.http.get(f"{API}/markets/{market}/trades", params={"limit": 0}), 400, "VALIDATION_ERROR")
    error(api.http.get(f"{API}/markets/{market}/trades", params={"offset": -1}), 400, "VALIDATION_ERROR")
    error(api.http.get(f"{API}/markets/NOPE-USDT/trades"), 404, "UNKNOWN_MARKET")

    times = sorted({t["time"] for t in trades})
    assert len(times) >= 2
    start, end = times[1], times[-1]
    window = api.trades(market, start_time=start, end_time=end, limit=1000)
    expected = [t for t in newest_first if start <= t["time"] < end]
    assert (window["trades"], window["total"]) == (expected, len(expected))
    assert api.trades(market, start_time=times[-1] + 1)["total"] == 0
    assert api.trades(market, end_time=times[0])["total"] == 0
    assert api.trades(market, start_time=times[0], end_time=times[-1] + 1)["total"] == TRADE_COUNT


INTERVALS = {"1m": 60_000, "5m": 300_000, "15m": 900_000, "1h": 3_600_000, "4h": 14_400_000, "1d": 86_400_000}


@pytest.mark.parametrize("interval", list(INTERVALS))
def test_candles_match_the_trades(api: Api, traded: tuple[str, list[dict[str, Any]]], interval: str) -> None:
    market, trades = traded
    size = INTERVALS[interval]
    buckets: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for trade in trades:
        buckets[trade["time"] - trade["time"] % size].append(trade)
    expected = {}
    for start, group in buckets.items():
        group.sort(key=lambda t: t["trade_id"])
        prices = [D(t["price"]) for t in group]
        expected[start] = {
            "open_time": start,
            "close_time": start + size - 1,
            "open": group[0]["price"],
            "high": max(group, key=lambda t: D(t["price"]))["price"],
            "low": min(group, key=lambda t: D(t["price"]))["price"],
            "close": group[-1]["price"],
            "volume": f"{sum(D(t['quantity']) for t in group):.3f}",
            "quote_volume": amount(sum(D(t["quote_amount"]) for t in group)),
            "trades": len(group),
        }
        assert D(expected[start]["high"]) == max(prices)

    url = f"{API}/markets/{market}/candles"
    series = ok(api.http.get(url, params={"interval": interval}))
    assert len(series) == 500  # the default limit, no holes
    assert all(b["open_time"] - a["open_time"] == size for a, b in itertools.pairwise(series))
    assert all(c["close_time"] == c["open_time"] + size - 1 for c in series)
    with_trades = {c["open_time"]: c for c in series if c["trades"]}
    assert with_trades == expected
    empty = [c for c in series if not c["trades"]]
    assert all(c["open"] is None and c["volume"] == "0.000" for c in empty)
    assert sum(D(c["volume"]) for c in series) == sum(D(t["quantity"]) for t in trades)

    # An explicit range from the first trade's bucket: the same candles, first.
    first = min(expected)
    ranged = ok(
        api.http.get(
            url,
            params={"interval": interval, "start_time": first, "end_time": max(expected) + size, "limit": 10},
        )
    )
    assert ranged[0]["open_time"] == first
    assert {c["open_time"]: c for c in ranged if c["trades"]} == expected
    error(api.http.get(url, params={"interval": "2m"}), 400, "VALIDATION_ERROR")
    error(api.http.get(url, params={"interval": interval, "limit": 1001}), 400, "VALIDATION_ERROR")
    # No bucket opens before the epoch: once 500 empty candles with negative open times.
    assert ok(api.http.get(url, params={"interval": interval, "end_time": 0})) == []
    early = ok(api.http.get(url, params={"interval": interval, "end_time": 1}))
    assert [c["open_time"] for c in early] == [0]


def test_ticker_matches_the_trades_and_the_book(api: Api, traded: tuple[str, list[dict[str, Any]]]) -> None:
    market, trades = traded
    ticker = ok(api.http.get(f"{API}/markets/{market}/ticker"))
    prices = [D(t["price"]) for t in trades]
    assert ticker["market"] == market
    assert ticker["trades"] == TRADE_COUNT
    assert (ticker["open"], ticker["last"]) == (trades[0]["price"], trades[-1]["price"])
    assert (D(ticker["high"]), D(ticker["low"])) == (max(prices), min(prices))
    assert ticker["volume"] == f"{sum(D(t['quantity']) for t in trades):.3f}"
    assert ticker["quote_volume"] == amount(sum(D(t["quote_amount"]) for t in trades))
    assert D(ticker["change"]) == D(ticker["last"]) - D(ticker["open"])
    depth = api.depth(market)
    assert (ticker["best_bid"], ticker["best_ask"]) == (depth["bids"][0][0], depth["asks"][0][0])
    assert (ticker["best_bid"], ticker["best_ask"]) == ("90.00", "150.00")
    assert ticker["close_time"] - ticker["open_time"] == 86_400_000
    assert ticker["open_time"] <= trades[0]["time"] <= trades[-1]["time"] <= ticker["close_time"]

    quiet = ok(api.http.get(f"{API}/markets/{api.add_market()}/ticker"))
    assert (quiet["trades"], quiet["last"], quiet["volume"], quiet["best_bid"]) == (0, None, "0.000", None)
