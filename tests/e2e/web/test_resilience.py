"""The page survives a restart of the server: it reconnects on its own, resubscribes
and resynchronises the book from a fresh snapshot, without reloading."""

import re

from tests.e2e.client import QUOTE, Api
from tests.e2e.server import Server
from tests.e2e.web.page import Page


def connection_state(page: Page) -> str:
    return str(page.browser.script("return document.getElementById('conn-status').dataset.state"))


def test_page_reconnects_and_resyncs_after_a_server_restart(
    page: Page, web_api: Api, web_server: Server, web_market: str
) -> None:
    base = web_market.split("-", maxsplit=1)[0]
    alice, bob = web_api.user("alice"), web_api.user("bob")
    web_api.deposit(alice, QUOTE, "10000")
    web_api.deposit(bob, base, "10")
    web_api.order(
        alice, market=web_market, side="BUY", price="25.50", quantity="2.000", client_order_id="kept"
    )
    page.open()
    page.sign_in_as(alice)
    page.select_market(web_market)
    page.browser.wait(lambda _: page.book("bids") == [("25.50", "2.000")], "the bid is not in the book")
    page.browser.script("window.sameDocument = true")  # gone if the page were reloaded

    # While the server is away the page's reconnection attempts fail: expected, for the
    # server's own address only, and only until the page is live again.
    page.browser.allow(re.escape(f"127.0.0.1:{web_server.port}"))
    web_server.terminate()
    page.browser.wait(lambda _: connection_state(page) == "reconnecting", "the page never noticed")
    web_server.start()
    page.wait_live()
    page.browser.wait(lambda _: page.book("bids") == [("25.50", "2.000")], "the book was not resynchronised")
    page.browser.assert_clean()  # from here on, nothing may fail

    assert page.browser.script("return window.sameDocument") is True
    assert page.open_order("kept") is not None
    web_api.order(bob, market=web_market, side="SELL", price="25.50", quantity="0.500")
    web_api.order(alice, market=web_market, side="BUY", price="24.00", quantity="1.000")
    page.browser.wait(
        lambda _: page.book("bids") == [("25.50", "1.500"), ("24.00", "1.000")],
        "the book does not follow live updates after the restart",
    )
    page.browser.wait(
        lambda _: page.text("#fills-body tr:first-child td:nth-child(4)") == "25.50", "no live fill"
    )
    page.browser.wait(
        lambda _: (r := page.open_order("kept")) is not None and r["filled"] == "0.500",
        "the open order did not update",
    )
    depth = web_api.depth(web_market)
    assert page.book("bids") == [tuple(level) for level in depth["bids"]]
