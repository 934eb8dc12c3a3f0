"""`make screenshots`: docs/screenshot-trading.png and docs/screenshot-operator.png.

Starts a real server (SQLite in a temporary directory), has a few traders make a market
and trade for SCREENSHOT_MINUTES minutes (default 3: the chart draws one candle a
minute; the engine takes no back-dated trades), gives a trader open orders and fills,
has an operator act, and photographs both views in headless Chromium.
"""

import os
import random
import tempfile
import threading
import time
from decimal import Decimal
from pathlib import Path

from selenium.webdriver.support.ui import Select

from tests.e2e.client import API, Api, User
from tests.e2e.server import Server
from tests.e2e.web.browser import Browser
from tests.e2e.web.page import Page

DOCS = Path(__file__).resolve().parents[3] / "docs"
MARKET = "BTC-USDT"
STEP_SECONDS = 0.4
SEED = 7


def price(value: Decimal) -> str:
    return f"{value:.2f}"


class Activity:
    """Makers quote around a wandering mid price; takers trade against them."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.rng = random.Random(SEED)
        self.mid = Decimal("50000.00")
        self.makers = [api.user("maker") for _ in range(2)]
        self.takers = [api.user("taker") for _ in range(3)]
        for user in self.makers + self.takers:
            api.deposit(user, "USDT", "50000000")
            api.deposit(user, "BTC", "1000")
        self.resting: list[tuple[User, int]] = []

    def quote(self) -> None:
        maker = self.rng.choice(self.makers)
        for side, sign in (("BUY", -1), ("SELL", 1)):
            offset = Decimal(self.rng.randint(1, 60)) * Decimal("2.5")
            quantity = f"{Decimal(self.rng.randint(1, 400)) / 1000:.5f}"
            order = self.api.order(
                maker, market=MARKET, side=side, price=price(self.mid + sign * offset), quantity=quantity
            )
            if order["status"] in ("NEW", "PARTIALLY_FILLED"):
                self.resting.append((maker, order["order_id"]))
        while len(self.resting) > 40:  # an old quote goes, so the book stays readable
            maker, order_id = self.resting.pop(0)
            self.api.http.delete(f"{API}/orders/{order_id}", headers=maker.headers)

    def trade(self) -> None:
        self.mid += Decimal(self.rng.randint(-12, 12)) * Decimal("2.5")
        taker = self.rng.choice(self.takers)
        side = self.rng.choice(("BUY", "SELL"))
        quantity = f"{Decimal(self.rng.randint(1, 150)) / 1000:.5f}"
        self.api.place(taker, market=MARKET, side=side, type="MARKET", quantity=quantity)

    def run(self, seconds: float, stop: threading.Event | None = None) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end and not (stop is not None and stop.is_set()):
            self.quote()
            self.trade()
            time.sleep(STEP_SECONDS)  # spread the trades over minutes: a script, not a test


def trader_activity(api: Api, mid: Decimal) -> User:
    alice = api.user("alice")
    api.deposit(alice, "USDT", "250000", "wallet-tx-1")
    api.deposit(alice, "BTC", "3", "wallet-tx-2")
    api.place(alice, market=MARKET, side="BUY", type="MARKET", quote_quantity="5000.00")
    api.place(alice, market=MARKET, side="SELL", type="MARKET", quantity="0.05000")
    resting = (("BUY", mid - 400, "0.25000", "dip-1"), ("SELL", mid + 650, "0.40000", "tp-1"))
    for side, limit, size, name in resting:
        api.order(alice, market=MARKET, side=side, price=price(limit), quantity=size, client_order_id=name)
    api.order(
        alice,
        market=MARKET,
        side="SELL",
        type="STOP_LIMIT",
        stop_price=price(mid - 900),
        price=price(mid - 950),
        quantity="0.30000",
        client_order_id="stop-1",
    )
    return alice


def main() -> None:
    minutes = float(os.environ.get("SCREENSHOT_MINUTES", "3"))
    DOCS.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as directory:
        workdir = Path(directory)
        server = Server(f"sqlite:///{workdir}/trade-engine.db", workdir)
        server.start()
        api, background = Api(server), Api(server)
        browser = Browser.start(workdir / "profile", width=1440, height=1300)
        stop = threading.Event()
        activity = Activity(background)
        try:
            activity.run(minutes * 60)
            alice = trader_activity(api, activity.mid)
            # Trading goes on while the pictures are taken: the views show it live.
            threading.Thread(target=activity.run, args=(600, stop), daemon=True).start()

            page = Page(browser, server, api)
            page.open()
            page.sign_in_as(alice)
            page.select_market(MARKET)
            page.browser.wait(lambda _: page.open_order("stop-1"), "alice's orders never showed")
            page.browser.wait(lambda _: page.text("#ticker-last") not in ("", "—"), "no ticker")
            Select(browser.find("#order-type")).select_by_value("LIMIT")
            browser.type("#order-price", price(activity.mid - 100))
            browser.type("#order-quantity", "0.10000")
            browser.driver.save_screenshot(str(DOCS / "screenshot-trading.png"))

            operator = fresh_operator(api)
            page.open()
            page.sign_in(server.token(operator, "admin"))
            page.show_operator_view()
            browser.find("#ops-verify-button").click()
            page.browser.wait_text("#ops-verify-outcome", consistent, "no verification")
            page.browser.wait_text("#ops-orders-rate", lambda t: t not in ("", "—"), "no rates")
            page.browser.wait(lambda _: len(page.audit_rows()) >= 4, "no audit entries")
            browser.driver.save_screenshot(str(DOCS / "screenshot-operator.png"))
        finally:
            stop.set()
            browser.quit()
            api.close()
            server.kill()


def consistent(outcome: str) -> bool:
    return outcome.startswith("CONSISTENT")


def fresh_operator(api: Api) -> str:
    """An operator with a little history: a halt and resume, a key, a withdrawal."""
    operator = "ops-ada"
    headers = api.server.headers(operator, "admin")
    api.http.post(f"{API}/admin/markets/ETH-BTC/cancel-only", headers=headers)
    api.http.post(f"{API}/admin/api-keys", json={"user_id": "alice", "label": "trading bot"}, headers=headers)
    body = {"user_id": "market-maker", "asset": "USDT", "amount": "250000", "reference": "wallet-tx-9"}
    api.http.post(f"{API}/admin/deposits", json=body, headers=headers)
    body = {"user_id": "market-maker", "asset": "USDT", "amount": "1200", "reference": "wallet-tx-10"}
    api.http.post(f"{API}/admin/withdrawals", json=body, headers=headers)
    return operator


if __name__ == "__main__":
    main()
