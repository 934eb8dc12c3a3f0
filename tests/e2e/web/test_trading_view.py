"""The trading view in a real browser: it loads from its own origin only, a trader
signs in and trades through it, and it follows what others do, live."""

import json
import time
from decimal import Decimal

import jwt

from tests.e2e.client import QUOTE, Api
from tests.e2e.server import Server
from tests.e2e.web.page import Page

MARKUP = "<img src=x onerror=alert(1)>"


def test_page_loads_everything_from_its_own_origin(page: Page, web_server: Server) -> None:
    page.open()
    assert "BTC-USDT" in page.market_options()
    page.browser.wait(lambda _: page.browser.find_all("#candle-chart canvas"), "the chart never drew")
    link = page.browser.find(".attribution a")
    assert link.get_attribute("href") == "https://www.tradingview.com/"
    assert "TradingView" in page.text(".attribution")
    loaded = page.browser.script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert loaded, "the page loaded no resources"
    others = [
        url
        for url in loaded
        if not url.startswith((web_server.url + "/", web_server.url.replace("http", "ws")))
    ]
    assert others == []


def test_trader_signs_in_places_an_order_and_sees_it_open(page: Page, web_api: Api, web_market: str) -> None:
    alice = web_api.user("alice")
    web_api.deposit(alice, QUOTE, "10000")
    page.open()
    page.sign_in_as(alice)
    assert page.text("#user-name") == alice.id
    page.select_market(web_market)

    result = page.place_order(
        side="BUY", type="LIMIT", price="25.50", quantity="2.000", **{"client-id": "web-bid-1"}
    )

    assert "NEW" in result, result
    row = page.browser.wait(
        lambda _: page.open_order("web-bid-1"), "the order never showed among open orders"
    )
    assert (row["price"], row["size"], row["status"]) == ("25.50", "2.000", "NEW")
    page.browser.wait(lambda _: page.book("bids") == [("25.50", "2.000")], "the bid never reached the book")
    balance = page.browser.wait(
        lambda _: b if (b := page.balance(QUOTE)) is not None and b["locked"] != "0.00000000" else None,
        "the hold never showed",
    )
    assert Decimal(balance["available"]) + Decimal(balance["locked"]) == Decimal("10000")
    assert Decimal(balance["locked"]) >= Decimal("51")


def test_book_chart_and_trades_move_when_another_user_trades(
    page: Page, web_api: Api, web_market: str
) -> None:
    base = web_market.split("-", maxsplit=1)[0]
    alice, bob = web_api.user("alice"), web_api.user("bob")
    web_api.deposit(alice, QUOTE, "10000")
    web_api.deposit(bob, base, "10")
    web_api.order(
        alice, market=web_market, side="BUY", price="25.50", quantity="2.000", client_order_id="bid"
    )
    page.open()
    page.sign_in_as(alice)
    page.select_market(web_market)
    page.browser.wait(
        lambda _: page.book("bids") == [("25.50", "2.000")], "the resting bid is not in the book"
    )
    assert page.text("#candle-legend") == "no trades yet"

    web_api.order(bob, market=web_market, side="SELL", price="25.50", quantity="0.500")

    page.browser.wait(lambda _: page.book("bids") == [("25.50", "1.500")], "the book did not move")
    legend = page.browser.wait(
        lambda _: (
            page.browser.script("return document.getElementById('candle-legend').dataset.volume") == "0.500"
        ),
        "the chart did not move",
    )
    assert legend
    assert "C 25.50" in page.text("#candle-legend")
    page.browser.wait(
        lambda _: page.text("#trades-body tr:first-child td:first-child") == "25.50", "no trade listed"
    )
    assert page.text("#trades-body tr:first-child td:nth-child(2)") == "0.500"
    page.browser.wait(lambda _: page.text("#ticker-last") == "25.50", "the ticker did not move")
    page.browser.wait(
        lambda _: page.text("#fills-body tr:first-child td:nth-child(4)") == "25.50", "no fill listed"
    )
    row = page.browser.wait(
        lambda _: (
            r if (r := page.open_order("bid")) is not None and r["status"] == "PARTIALLY_FILLED" else None
        ),
        "the order did not fill",
    )
    assert row["filled"] == "0.500"


def test_trader_amends_and_cancels_an_open_order(page: Page, web_api: Api, web_market: str) -> None:
    alice = web_api.user("alice")
    web_api.deposit(alice, QUOTE, "10000")
    web_api.order(
        alice, market=web_market, side="BUY", price="20.00", quantity="3.000", client_order_id="mine"
    )
    page.open()
    page.sign_in_as(alice)
    page.select_market(web_market)
    page.browser.wait(lambda _: page.open_order("mine"), "the order is not listed")

    page.browser.find("#open-orders-body tr[data-client-order-id='mine'] button.amend").click()
    page.browser.type("tr.amend-row .amend-quantity", "1.000")
    page.browser.find("tr.amend-row .amend-save").click()
    page.browser.wait(
        lambda _: (r := page.open_order("mine")) is not None and r["size"] == "1.000",
        "the amend did not show",
    )
    page.browser.wait(
        lambda _: page.book("bids") == [("20.00", "1.000")], "the book did not follow the amend"
    )

    page.browser.find("#open-orders-body tr[data-client-order-id='mine'] button.cancel").click()
    page.browser.wait(lambda _: page.open_order("mine") is None, "the cancelled order stayed listed")
    page.browser.wait(lambda _: page.book("bids") == [], "the cancelled bid stayed in the book")
    assert "Cancelled order" in page.text("#order-result")
    order_id = int(web_api.orders(alice, status="all")["orders"][0]["order_id"])
    assert web_api.get_order(alice, order_id)["status"] == "CANCELED"


def test_market_stop_and_post_only_orders_from_the_form(page: Page, web_api: Api, web_market: str) -> None:
    base = web_market.split("-", maxsplit=1)[0]
    alice, bob = web_api.user("alice"), web_api.user("bob")
    web_api.deposit(alice, QUOTE, "10000")
    web_api.deposit(bob, base, "10")
    web_api.order(bob, market=web_market, side="SELL", price="30.00", quantity="5.000")
    page.open()
    page.sign_in_as(alice)
    page.select_market(web_market)

    bought = page.place_order(side="BUY", type="MARKET", **{"size-by": "amount", "quote-quantity": "60.00"})
    assert "FILLED" in bought or "EXPIRED" in bought, bought
    page.browser.wait(lambda _: page.text("#fills-body tr:first-child td:nth-child(4)") == "30.00", "no fill")

    stop = page.place_order(
        side="BUY", type="STOP_LIMIT", **{"stop-price": "35.00"}, price="36.00", quantity="1.000",
        tif="GTC", **{"client-id": "stop-1"},
    )  # fmt: skip
    assert "NEW" in stop, stop
    maker = page.place_order(
        type="LIMIT", price="29.00", quantity="1.000", **{"post-only": "yes", "client-id": "maker-1"}
    )
    assert "NEW" in maker, maker
    page.browser.wait(lambda _: page.open_order("stop-1") and page.open_order("maker-1"), "orders not listed")
    assert page.open_order("stop-1")["type"] == "STOP_LIMIT"  # type: ignore[index]
    taking = page.place_order(type="LIMIT", price="30.00", quantity="1.000", **{"post-only": "yes"})
    assert "POST_ONLY_WOULD_TAKE" in taking, taking
    page.browser.allow(r"HTTP 422 .*/api/v1/orders$")
    page.browser.allow(r"status of 422")


def test_client_order_id_with_markup_stays_text(page: Page, web_api: Api, web_market: str) -> None:
    alice = web_api.user("alice")
    web_api.deposit(alice, QUOTE, "10000")
    page.open()
    page.sign_in_as(alice)
    page.select_market(web_market)

    result = page.place_order(
        side="BUY", type="LIMIT", price="10.00", quantity="1.000", **{"client-id": MARKUP}
    )

    assert MARKUP in result, result  # shown as the characters typed
    assert "VALIDATION_ERROR" in result, result  # and refused by the server
    assert page.browser.script("return document.querySelectorAll('img').length") == 0
    assert page.browser.script("return document.getElementById('order-result').children.length") == 0
    page.browser.allow(r"HTTP 400 .*/api/v1/orders$")
    page.browser.allow(r"status of 400")


def test_a_refused_token_signs_nobody_in(page: Page, web_server: Server) -> None:
    page.open()
    page.browser.type("#token-input", "not-a-token")
    page.browser.find("#signin-button").click()
    assert "not a token" in page.text("#signin-error")

    forged = jwt.encode({"sub": "mallory", "exp": int(time.time()) + 600}, "another-secret-" * 3, "HS256")
    page.browser.type("#token-input", forged)
    page.browser.find("#signin-button").click()

    refused = page.browser.wait_text("#signin-error", lambda t: "refused" in t, "the refusal was not shown")
    assert "INVALID_TOKEN" in refused
    page.browser.wait(
        lambda _: page.browser.find("#signin").is_displayed(), "the sign-in form did not come back"
    )
    assert not page.browser.find("#signed-in").is_displayed()
    page.wait_live()


def test_an_expired_token_signs_the_trader_out(page: Page, web_server: Server) -> None:
    page.open()
    page.sign_in(web_server.token("brief-visitor", "trader", ttl=3))
    expired = page.browser.wait_text("#signin-error", lambda t: "expired" in t, "the expiry was not noticed")
    assert expired == "Your token expired: sign in again."
    assert page.browser.find("#signin").is_displayed()
    page.wait_live()  # back on an anonymous connection: market data goes on


def test_the_token_stays_in_memory_and_reaches_the_socket_in_a_message(page: Page, web_api: Api) -> None:
    keeper = web_api.user("token-keeper")
    token = keeper.headers["Authorization"].removeprefix("Bearer ")
    page.open()
    page.sign_in(token)
    # Not kept anywhere but the page's memory: no storage, no cookie, not in the URL.
    stored = page.browser.script("return [sessionStorage.length, localStorage.length, document.cookie]")
    assert stored == [0, 0, ""]
    assert token not in page.browser.driver.current_url
    # The WebSocket carries it in its authenticate message, never in its URL.
    page.browser.read_network()
    assert page.browser.socket_urls
    assert all(token not in url for url in page.browser.socket_urls)
    sent = [json.loads(frame) for frame in page.browser.frames_sent]
    assert any(frame.get("op") == "authenticate" and frame.get("token") == token for frame in sent), sent
    # "Keep in this tab": session storage only, and signing out clears it.
    page.browser.find("#signout-button").click()
    page.browser.find("#token-remember").click()
    page.sign_in(token)
    kept = page.browser.script("return [Object.keys(sessionStorage), localStorage.length, document.cookie]")
    assert kept == [["trade-engine.token"], 0, ""]
    page.browser.find("#signout-button").click()
    page.browser.wait(lambda _: page.browser.script("return sessionStorage.length") == 0, "the token stayed")
