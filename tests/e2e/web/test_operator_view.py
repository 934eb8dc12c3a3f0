"""The operator view in a real browser: every action asks for confirmation, leaves an
audit entry that the view shows, and what it changes reaches the traders' pages."""

import uuid

from tests.e2e.client import QUOTE, Api, fresh
from tests.e2e.server import Server
from tests.e2e.web.page import Page

MARKUP = "<img src=x onerror=alert(1)>"


def open_operator_view(page: Page) -> str:
    admin = fresh("ops")
    page.open()
    page.sign_in_admin(admin)
    page.show_operator_view()
    page.browser.wait(
        lambda _: page.browser.find_all("#ops-markets-body tr[data-symbol]"), "no markets listed"
    )
    return admin


def market_status(page: Page, symbol: str) -> str:
    return page.text(f"#ops-markets-body tr[data-symbol='{symbol}'] td.status")


def test_operator_halts_a_market_and_the_trading_view_shows_it(
    page: Page, web_api: Api, web_market: str
) -> None:
    trader = web_api.user("trader")
    web_api.deposit(trader, QUOTE, "1000")
    page.open()
    page.sign_in_as(trader)
    page.select_market(web_market)
    trading_tab = page.driver.current_window_handle
    assert page.text("#market-status") == "TRADING"

    page.new_tab()
    admin = open_operator_view(page)
    page.browser.find(f"#ops-markets-body tr[data-symbol='{web_market}'] button[data-action='halt']").click()
    asked = page.confirm()
    assert web_market in asked
    assert "No orders" in asked
    page.browser.wait(
        lambda _: market_status(page, web_market) == "HALT", "the operator view never showed HALT"
    )
    entry = page.audit_entry(web_market)
    assert entry["actor"] == admin
    assert entry["action"] == "POST /api/v1/admin/markets/{symbol}/halt"

    page.switch_to(trading_tab)
    page.browser.wait(
        lambda _: page.text("#market-status") == "HALT", "the trading view never showed the halt"
    )
    assert not page.browser.find("#order-submit").is_enabled()
    assert "halted" in page.text("#order-market-note")

    web_api.set_status(web_market, "resume")
    page.browser.wait(
        lambda _: page.text("#market-status") == "TRADING", "the trading view never showed the resume"
    )
    assert page.browser.find("#order-submit").is_enabled()


def test_a_declined_confirmation_changes_nothing(page: Page, web_api: Api, web_market: str) -> None:
    open_operator_view(page)
    page.browser.find(
        f"#ops-markets-body tr[data-symbol='{web_market}'] button[data-action='cancel-only']"
    ).click()
    page.confirm(accept=False)
    page.browser.wait_text("#ops-result", lambda t: "cancelled" in t, "no word of the declined action")
    assert web_api.http.get(f"/api/v1/markets/{web_market}").json()["data"]["status"] == "TRADING"
    actions = [row["action"] for row in page.audit_rows() if row["target"] == web_market]
    assert actions == ["POST /api/v1/admin/markets"]  # the market's creation, and nothing since


def test_operator_deposits_and_sees_the_transfer_and_its_audit_entry(page: Page, web_api: Api) -> None:
    user = fresh("funded")
    reference = f"wallet-{uuid.uuid4().hex[:8]}"
    admin = open_operator_view(page)
    form = "#ops-transfer-form"
    page.browser.type(f"{form} input[name=user_id]", user)
    page.browser.type(f"{form} input[name=asset]", QUOTE)
    page.browser.type(f"{form} input[name=amount]", "1234.5")
    page.browser.type(f"{form} input[name=reference]", reference)
    page.browser.find(f"{form} button[type=submit]").click()
    asked = page.confirm()
    assert f"1234.5 {QUOTE} to {user}" in asked

    page.browser.wait_text("#ops-result", lambda t: "now has 1234.50000000 USDT available" in t, "no result")
    row = page.browser.wait(lambda _: page.row("#ops-transfers-body", 2, user), "the deposit was not listed")
    assert row[1:] == ["DEPOSIT", user, f"1234.50000000 {QUOTE}", reference]
    entry = page.audit_entry(user)
    assert entry["actor"] == admin
    assert entry["action"] == "POST /api/v1/admin/deposits"
    assert "amount=1234.5" in entry["summary"]
    assert f"reference={reference}" in entry["summary"]


def test_api_key_label_with_markup_stays_text_and_the_key_can_be_revoked(page: Page) -> None:
    user = fresh("keyed")
    open_operator_view(page)
    form = "#ops-key-form"
    page.browser.type(f"{form} input[name=user_id]", user)
    page.browser.type(f"{form} input[name=label]", MARKUP)
    page.browser.find(f"{form} button[type=submit]").click()
    assert MARKUP in page.confirm()

    secret = page.browser.wait_text("#ops-key-secret-value", bool, "the secret was not shown")
    assert len(secret) >= 32
    key = page.browser.wait(lambda _: page.row("#ops-keys-body", 1, user), "the key was not listed")
    label = key[3]
    assert label == MARKUP
    entry = page.audit_entry(user)
    assert f"label={MARKUP}" in entry["summary"]
    assert secret not in entry["summary"]
    assert page.browser.script("return document.querySelectorAll('img').length") == 0

    page.row_button("#ops-keys-body", 1, user, "button.revoke").click()
    assert "Revoke API key" in page.confirm()
    page.browser.wait(
        lambda _: (row := page.row("#ops-keys-body", 1, user)) is not None and row[5].startswith("revoked"),
        "the key never showed as revoked",
    )


def test_operator_sees_health_metrics_and_a_ledger_verification(
    page: Page, web_api: Api, web_market: str
) -> None:
    trader = web_api.user("trader")
    web_api.deposit(trader, QUOTE, "1000")
    open_operator_view(page)
    page.browser.wait(lambda _: page.text("#ops-ready") == "ready", "readiness not shown")
    assert page.text("#ops-health") == "alive"
    page.browser.wait(lambda _: page.text("#ops-ws-clients") not in ("", "—"), "no WebSocket client count")
    assert int(page.text("#ops-ws-clients")) >= 1  # this page's own connection
    before = int(page.browser.wait_text("#ops-orders-total", lambda t: t.isdigit(), "no order count"))

    web_api.order(trader, market=web_market, side="BUY", price="10.00", quantity="1.000")

    page.browser.wait(
        lambda _: int(page.text("#ops-orders-total")) == before + 1, "the order count did not move"
    )
    rate = page.browser.wait_text("#ops-orders-rate", lambda t: t not in ("", "—"), "no order rate")
    assert float(rate) >= 0
    assert page.text("#ops-commit-mean").endswith(" ms") or page.text("#ops-commit-mean") == "—"

    page.browser.find("#ops-verify-button").click()
    assert "Verify the ledger" in page.confirm()  # asked first, like every admin action
    outcome = page.browser.wait_text(
        "#ops-verify-outcome", lambda t: t.startswith(("CONSISTENT", "IN", "FAIL")), "no result"
    )
    assert outcome.startswith("CONSISTENT"), outcome
    assert (
        page.browser.script("return document.getElementById('ops-verify-outcome').dataset.outcome")
        == "CONSISTENT"
    )


def test_operator_adds_a_market_that_traders_can_pick(page: Page, web_server: Server) -> None:
    symbol = f"W{uuid.uuid4().hex[:7].upper()}-{QUOTE}"
    open_operator_view(page)
    form = "#ops-market-form"
    for name, value in (
        ("symbol", symbol),
        ("tick_size", "0.01"),
        ("step_size", "0.001"),
        ("min_notional", "1"),
    ):
        page.browser.type(f"{form} input[name={name}]", value)
    page.browser.find(f"{form} button[type=submit]").click()
    assert symbol in page.confirm()
    page.browser.wait(lambda _: market_status(page, symbol) == "TRADING", "the new market was not listed")

    page.browser.find("#tab-trading").click()
    page.browser.wait(lambda _: symbol in page.market_options(), "traders cannot pick the new market")
