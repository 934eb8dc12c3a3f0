"""The web page as the tests use it: open it, sign in, pick a market, read what it shows.

Reads go through the DOM's text (what a person sees); waits are explicit (WebDriverWait
polling a condition), never sleeps.
"""

from typing import Any

from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import Select

from tests.e2e.client import Api, User
from tests.e2e.server import Server
from tests.e2e.web.browser import Browser


class Page:
    def __init__(self, browser: Browser, server: Server, api: Api) -> None:
        self.browser = browser
        self.server = server
        self.api = api
        self.driver = browser.driver

    # -- navigation --

    def open(self, path: str = "/") -> "Page":
        self.driver.get(self.server.url + path)
        if path == "/":
            self.wait_live()
            self.browser.wait(lambda _: self.market_options(), "the market list never loaded")
        return self

    def wait_live(self) -> None:
        self.browser.wait(
            lambda _: (
                self.browser.script("return document.getElementById('conn-status').dataset.state") == "live"
            ),
            "the page never connected its WebSocket",
        )

    def new_tab(self) -> str:
        """Open a second tab (same browser, a page of its own) and switch to it."""
        self.driver.switch_to.new_window("tab")
        return str(self.driver.current_window_handle)

    def switch_to(self, handle: str) -> None:
        self.driver.switch_to.window(handle)

    def close_other_tabs(self) -> None:
        handles = self.driver.window_handles
        for handle in handles[1:]:
            self.driver.switch_to.window(handle)
            self.driver.close()
        self.driver.switch_to.window(handles[0])

    # -- signing in --

    def sign_in(self, token: str) -> None:
        self.browser.type("#token-input", token)
        self.browser.find("#signin-button").click()
        self.browser.wait(lambda _: self.browser.find("#signed-in").is_displayed(), "sign-in never showed")
        self.wait_live()

    def sign_in_as(self, user: User) -> None:
        self.sign_in(user.headers["Authorization"].removeprefix("Bearer "))

    def sign_in_admin(self, admin_id: str) -> None:
        self.sign_in(self.server.token(admin_id, "admin"))

    # -- the trading view --

    def market_options(self) -> list[str]:
        return [str(o) for o in self.browser.script(
            "return [...document.querySelectorAll('#market-select option')].map(o => o.value)"
        )]  # fmt: skip

    def select_market(self, symbol: str) -> None:
        self.browser.wait(lambda _: symbol in self.market_options(), f"{symbol} never listed")
        Select(self.browser.find("#market-select")).select_by_value(symbol)
        self.browser.wait(lambda _: self.text("#book-spread") != "loading…", "the book never loaded")

    def text(self, css: str) -> str:
        return self.browser.text(css)

    def book(self, side: str) -> list[tuple[str, str]]:
        """(price, quantity) of the ladder's rows, top to bottom, of 'asks' or 'bids'."""
        rows: list[Any] = self.browser.script(
            "return [...document.querySelectorAll(arguments[0] + ' tr[data-price]')]"
            ".map(r => [r.cells[0].textContent, r.cells[1].textContent])",
            f"#book-{side}",
        )
        return [(str(price), str(quantity)) for price, quantity in rows]

    def open_order_rows(self) -> list[dict[str, str]]:
        rows: list[dict[str, str]] = self.browser.script(
            "return [...document.querySelectorAll('#open-orders-body tr[data-order-id]:not(.amend-row)')]"
            ".map(r => ({id: r.dataset.orderId, client: r.dataset.clientOrderId,"
            " type: r.cells[3].textContent, price: r.cells[4].textContent, size: r.cells[6].textContent,"
            " filled: r.cells[7].textContent, status: r.cells[8].textContent, coid: r.cells[9].textContent}))"
        )
        return rows

    def open_order(self, client_order_id: str) -> dict[str, str] | None:
        return next((row for row in self.open_order_rows() if row["client"] == client_order_id), None)

    def balance(self, asset: str) -> dict[str, str] | None:
        row: dict[str, str] | None = self.browser.script(
            "const r = document.querySelector(`#balances-body tr[data-asset='${arguments[0]}']`);"
            "return r && {available: r.cells[1].textContent, locked: r.cells[2].textContent}",
            asset,
        )
        return row

    def fill_order_form(self, **fields: str) -> None:
        """Fields by element id suffix: side, type, size-by, tif (selects); price,
        stop-price, quantity, quote-quantity, client-id (inputs); post-only (checkbox)."""
        for name, value in fields.items():
            element = self.browser.find(f"#order-{name}")
            if element.tag_name == "select":
                Select(element).select_by_value(value)
            elif element.get_attribute("type") == "checkbox":
                if element.is_selected() != (value == "yes"):
                    element.click()
            else:
                element.clear()
                element.send_keys(value)

    def place_order(self, **fields: str) -> str:
        """Fill the form, submit, and return the result line once it changed."""
        self.browser.script("document.getElementById('order-result').textContent = ''")
        self.fill_order_form(**fields)
        self.browser.find("#order-submit").click()
        return self.browser.wait_text("#order-result", bool, "the order form never answered")

    # -- the operator view --

    def show_operator_view(self) -> None:
        self.browser.find("#tab-operator").click()
        self.browser.wait(lambda _: self.browser.find("#view-operator").is_displayed(), "no operator view")

    def confirm(self, accept: bool = True) -> str:
        """Answer the confirmation dialog; returns what it asked."""
        dialog = self.browser.wait(
            lambda _: self.browser.script("return document.getElementById('confirm-dialog').open"),
            "no confirmation was asked",
        )
        assert dialog
        asked = self.text("#confirm-title") + " | " + self.text("#confirm-lines")
        self.browser.find("#confirm-ok" if accept else "#confirm-cancel").click()
        self.browser.wait(
            lambda _: not self.browser.script("return document.getElementById('confirm-dialog').open"),
            "the dialog stayed open",
        )
        return asked

    def row(self, tbody: str, column: int, value: str) -> list[str] | None:
        """The cells' text of the first row of `tbody` whose cell `column` reads `value`."""
        cells = self.browser.script(
            "const row = [...document.querySelectorAll(arguments[0] + ' tr')]"
            "  .find(r => r.cells[arguments[1]]?.textContent === arguments[2]);"
            "return row ? [...row.cells].map(c => c.textContent) : null",
            tbody,
            column,
            value,
        )
        return None if cells is None else [str(cell) for cell in cells]

    def row_button(self, tbody: str, column: int, value: str, button: str) -> WebElement:
        element: WebElement = self.browser.script(
            "return [...document.querySelectorAll(arguments[0] + ' tr')]"
            "  .find(r => r.cells[arguments[1]]?.textContent === arguments[2]).querySelector(arguments[3])",
            tbody,
            column,
            value,
            button,
        )
        return element

    def audit_entry(self, target: str) -> dict[str, str]:
        """The newest audit entry about `target`, once the operator view lists it."""
        return self.browser.wait(
            lambda _: next((row for row in self.audit_rows() if row["target"] == target), None),
            f"no audit entry about {target}",
        )

    def audit_rows(self) -> list[dict[str, str]]:
        rows: list[dict[str, str]] = self.browser.script(
            "return [...document.querySelectorAll('#ops-audit-body tr[data-audit-id]')]"
            ".map(r => ({actor: r.cells[1].textContent, action: r.cells[2].textContent,"
            " target: r.cells[3].textContent, summary: r.cells[4].textContent}))"
        )
        return rows
