"""Every error path of the native API: its code, its HTTP status, the error envelope.

Validation runs against a market with a tick (0.05) and a step (0.005) that are not
powers of ten, so "off the grid" and "too many decimals" are different errors.
"""

from typing import Any

import httpx
import pytest

from tests.e2e.client import API, QUOTE, Api, User, error, ok
from tests.e2e.conftest import SHARED_MAX_BODY_BYTES

GRID = {
    "tick_size": "0.05",
    "step_size": "0.005",
    "min_quantity": "0.010",
    "max_quantity": "100",
    "min_notional": "5",
}


@pytest.fixture(scope="module")
def grid(api: Api) -> tuple[str, User]:
    """A market with GRID rules and a funded trader."""
    market = api.add_market(**GRID)
    trader = api.user("validator")
    api.deposit(trader, QUOTE, "1000000")
    api.deposit(trader, market.split("-", maxsplit=1)[0], "1000")
    return market, trader


def good(symbol: str, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "market": symbol,
        "side": "BUY",
        "type": "LIMIT",
        "price": "100.00",
        "quantity": "1.000",
    }
    body.update(changes)
    return {key: value for key, value in body.items() if value is not ...}


# (changes to a valid limit buy, status, code)
PLACE_ERRORS: list[tuple[dict[str, Any], int, str]] = [
    ({"side": "HOLD"}, 400, "VALIDATION_ERROR"),
    ({"side": "buy"}, 400, "VALIDATION_ERROR"),
    ({"side": ...}, 400, "VALIDATION_ERROR"),
    ({"type": "ICEBERG"}, 400, "VALIDATION_ERROR"),
    ({"time_in_force": "GTD"}, 400, "VALIDATION_ERROR"),
    ({"stp_mode": "SOMETIMES"}, 400, "VALIDATION_ERROR"),
    ({"post_only": "yes"}, 400, "VALIDATION_ERROR"),
    ({"price": 100}, 400, "VALIDATION_ERROR"),  # a JSON number where a decimal string belongs
    ({"quantity": 1.5}, 400, "VALIDATION_ERROR"),
    ({"price": ""}, 400, "VALIDATION_ERROR"),
    ({"price": "1" * 65}, 400, "VALIDATION_ERROR"),
    ({"price": None, "quantity": None}, 400, "INVALID_ORDER"),  # a limit order needs a price
    ({"price": "abc"}, 400, "INVALID_NUMBER"),
    ({"price": "1e2"}, 400, "INVALID_NUMBER"),
    ({"price": "1,000.00"}, 400, "INVALID_NUMBER"),
    ({"price": " 100"}, 400, "INVALID_NUMBER"),
    ({"price": "0x10"}, 400, "INVALID_NUMBER"),
    # Only ASCII digits, one point and (where allowed) a leading "-" are decimal text;
    # Python's int() and Decimal() read all of these as numbers.
    ({"price": "\u0661\u0660\u0660"}, 400, "INVALID_NUMBER"),  # Arabic-Indic 100
    ({"quantity": "1.\u0660\u0660\u0660"}, 400, "INVALID_NUMBER"),
    ({"quantity": "\uff11"}, 400, "INVALID_NUMBER"),  # a full-width 1
    ({"price": "+100.00"}, 400, "INVALID_NUMBER"),
    ({"price": "100."}, 400, "INVALID_NUMBER"),
    ({"quantity": ".5"}, 400, "INVALID_NUMBER"),
    ({"price": "NaN"}, 400, "NOT_FINITE"),
    ({"price": "Infinity"}, 400, "NOT_FINITE"),
    ({"quantity": "-inf"}, 400, "NOT_FINITE"),
    ({"price": "-100.00"}, 400, "NEGATIVE_VALUE"),
    ({"quantity": "-1"}, 400, "NEGATIVE_VALUE"),
    ({"price": "0"}, 400, "ZERO_VALUE"),
    ({"quantity": "0.000"}, 400, "ZERO_VALUE"),
    ({"price": "100.001"}, 400, "TOO_PRECISE"),
    ({"quantity": "1.0001"}, 400, "TOO_PRECISE"),
    ({"price": "100.01"}, 400, "OFF_TICK"),
    ({"quantity": "1.001"}, 400, "OFF_STEP"),
    ({"quantity": "0.005"}, 400, "QUANTITY_BELOW_MIN"),
    ({"quantity": "100.005"}, 400, "QUANTITY_ABOVE_MAX"),
    ({"price": "1000000.05"}, 400, "PRICE_OUT_OF_RANGE"),
    ({"price": "99999999999999999999999999"}, 400, "VALUE_OUT_OF_RANGE"),
    ({"price": "0.05", "quantity": "0.010"}, 400, "NOTIONAL_BELOW_MIN"),
    ({"leverage": "10"}, 400, "VALIDATION_ERROR"),  # unknown fields are refused
    ({"client_order_id": "has space"}, 400, "VALIDATION_ERROR"),
    ({"client_order_id": "x" * 37}, 400, "VALIDATION_ERROR"),
    ({"market": "btc-usdt"}, 400, "VALIDATION_ERROR"),
    ({"market": "NOPE-USDT"}, 404, "UNKNOWN_MARKET"),
    ({"quote_quantity": "10"}, 400, "INVALID_ORDER"),  # limit orders are sized by quantity
    ({"stop_price": "90.00"}, 400, "INVALID_ORDER"),  # only stops take a stop price
    ({"post_only": True, "time_in_force": "IOC"}, 400, "INVALID_ORDER"),
    ({"type": "MARKET"}, 400, "INVALID_ORDER"),  # no limit price on a market order
    ({"type": "MARKET", "price": ..., "quote_quantity": "10"}, 400, "INVALID_ORDER"),  # not both sizes
    ({"type": "MARKET", "price": ..., "time_in_force": "FOK"}, 400, "INVALID_ORDER"),
    ({"type": "MARKET", "price": ..., "quantity": ..., "quote_quantity": "1"}, 400, "NOTIONAL_BELOW_MIN"),
    ({"type": "STOP_LIMIT"}, 400, "INVALID_ORDER"),  # no stop price
    ({"type": "TAKE_PROFIT_LIMIT"}, 400, "INVALID_ORDER"),  # no stop price
    ({"type": "TAKE_PROFIT_MARKET", "price": ...}, 400, "INVALID_ORDER"),  # no stop price
    ({"type": "TAKE_PROFIT"}, 400, "VALIDATION_ERROR"),  # Binance's name, not ours
    (
        {
            "type": "STOP_MARKET",
            "side": "SELL",
            "price": ...,
            "quantity": ...,
            "quote_quantity": "10",
            "stop_price": "90.00",
        },
        400,
        "INVALID_ORDER",
    ),
    ({"quantity": "1000.000"}, 400, "QUANTITY_ABOVE_MAX"),
]


@pytest.mark.parametrize(("changes", "status", "code"), PLACE_ERRORS, ids=lambda value: repr(value)[:40])
def test_place_order_validation(
    api: Api, grid: tuple[str, User], changes: dict[str, Any], status: int, code: str
) -> None:
    market, trader = grid
    response = api.place(trader, **good(market, **changes))
    details = error(response, status, code)["details"]
    if code == "VALIDATION_ERROR":
        assert isinstance(details, list)
        assert details
        assert {"message", "key", "source"} <= set(details[0])
    # Nothing of the refused order stays behind.
    assert api.orders(trader, status="open")["total"] == 0


def test_malformed_bodies_are_refused(api: Api, grid: tuple[str, User]) -> None:
    market, trader = grid
    headers = {**trader.headers, "Content-Type": "application/json"}
    for raw in (
        b"{",
        b"[]",
        b"null",
        b'"order"',
        b"123",
        b'{"market": {}}',
        b"\xff\xfe",
        b'{"market": "' + b"\x00" * 10 + b'"}',
        b'{"x": ' + b"[" * 1020 + b"]" * 1020 + b"}",  # nested too deeply (2,047 bytes)
    ):
        error(api.http.post(f"{API}/orders", content=raw, headers=headers), 400, "VALIDATION_ERROR")
    for route in (f"{API}/admin/deposits", f"{API}/admin/withdrawals", f"{API}/admin/markets"):
        for raw in (b"[1, 2", b'{"x": ' + b"[" * 1020 + b"]" * 1020 + b"}"):
            error(
                api.http.post(route, content=raw, headers={**api.admin, "Content-Type": "application/json"}),
                400,
                "VALIDATION_ERROR",
            )
    ok_order = api.order(trader, **good(market, price="50.00"))
    for raw in (b"{", b'{"price": 50}', b'{"quantity": "1", "extra": 1}', b"[]"):
        response = api.http.patch(f"{API}/orders/{ok_order['order_id']}", content=raw, headers=headers)
        error(response, 400, "VALIDATION_ERROR")
    ok(api.http.delete(f"{API}/orders/{ok_order['order_id']}", headers=trader.headers))


def test_business_rejections(api: Api, grid: tuple[str, User]) -> None:
    market, trader = grid
    poor = api.user("poor")
    error(api.place(poor, **good(market)), 422, "INSUFFICIENT_BALANCE")
    error(api.place(poor, **good(market, side="SELL")), 422, "INSUFFICIENT_BALANCE")
    error(api.place(poor, **good(market, type="MARKET", price=None)), 422, "INSUFFICIENT_BALANCE")
    api.deposit(poor, QUOTE, "100")
    error(
        api.place(poor, **good(market, price="100.00", quantity="1.000")), 422, "INSUFFICIENT_BALANCE"
    )  # 100.2 with the fee
    order = api.order(poor, **good(market, price="99.50", quantity="1.000"))  # 99.699 held
    error(api.place(poor, **good(market, price="5.00", quantity="1.000")), 422, "INSUFFICIENT_BALANCE")
    ok(api.http.delete(f"{API}/orders/{order['order_id']}", headers=poor.headers))

    first = api.order(trader, **good(market, price="10.00", client_order_id="dup"))
    error(
        api.place(trader, **good(market, price="10.00", client_order_id="dup")),
        409,
        "DUPLICATE_CLIENT_ORDER_ID",
    )
    ok(api.http.delete(f"{API}/orders/{first['order_id']}", headers=trader.headers))
    reused = api.order(trader, **good(market, price="10.00", client_order_id="dup"))  # free again once closed
    ok(api.http.delete(f"{API}/orders/{reused['order_id']}", headers=trader.headers))

    # Post-only that would take; a stop that would trigger at once.
    ask = api.order(trader, **good(market, side="SELL", price="200.00"))
    error(
        api.place(trader, **good(market, price="200.00", post_only=True, stp_mode="NONE")),
        422,
        "POST_ONLY_WOULD_TAKE",
    )
    ok(api.http.delete(f"{API}/orders/{ask['order_id']}", headers=trader.headers))


def test_cancel_and_amend_errors(api: Api, grid: tuple[str, User]) -> None:
    market, trader = grid
    other = api.user("taker")
    api.deposit(other, QUOTE, "10000")
    resting = api.order(trader, **good(market, side="SELL", price="300.00", client_order_id="to-fill"))
    api.order(other, **good(market, price="300.00"))  # fills it
    filled_id = resting["order_id"]

    for method in ("DELETE", "PATCH"):
        body = {"quantity": "0.500"} if method == "PATCH" else None
        for path in (f"{API}/orders/{filled_id}", f"{API}/orders/by-client-id/to-fill"):
            response = api.http.request(method, path, json=body, headers=trader.headers)
            assert error(response, 409, "ORDER_NOT_OPEN")["details"] == {"status": "FILLED"}
        for path in (f"{API}/orders/987654321012", f"{API}/orders/by-client-id/never-was"):
            error(api.http.request(method, path, json=body, headers=trader.headers), 404, "ORDER_NOT_FOUND")

    open_order = api.order(trader, **good(market, price="20.00"))
    path = f"{API}/orders/{open_order['order_id']}"
    error(api.http.patch(path, json={}, headers=trader.headers), 400, "INVALID_ORDER")  # changes nothing
    error(api.http.patch(path, json={"price": "20.00"}, headers=trader.headers), 400, "INVALID_ORDER")
    error(api.http.patch(path, json={"price": "20.01"}, headers=trader.headers), 400, "OFF_TICK")
    error(api.http.patch(path, json={"quantity": "0.003"}, headers=trader.headers), 400, "OFF_STEP")
    error(api.http.patch(path, json={"quantity": "0"}, headers=trader.headers), 400, "ZERO_VALUE")
    error(api.http.patch(path, json={"price": 21}, headers=trader.headers), 400, "VALIDATION_ERROR")
    error(
        api.http.patch(path, json={"quantity": "100000"}, headers=trader.headers), 400, "QUANTITY_ABOVE_MAX"
    )
    error(api.http.patch(path, json={"quantity": "0.200"}, headers=trader.headers), 400, "NOTIONAL_BELOW_MIN")
    costly = {"quantity": "99.995", "price": "100000.00"}
    error(api.http.patch(path, json=costly, headers=trader.headers), 422, "INSUFFICIENT_BALANCE")
    stop = api.order(trader, **good(market, type="STOP_LIMIT", stop_price="400.00", price="400.00"))
    response = api.http.patch(
        f"{API}/orders/{stop['order_id']}", json={"price": "401.00"}, headers=trader.headers
    )
    error(response, 422, "ORDER_NOT_AMENDABLE")
    assert ok(api.http.delete(f"{API}/orders", params={"market": market}, headers=trader.headers))[
        "cancelled"
    ] == [
        open_order["order_id"],
        stop["order_id"],
    ]
    error(
        api.http.delete(f"{API}/orders", params={"market": "NOPE-USDT"}, headers=trader.headers),
        404,
        "UNKNOWN_MARKET",
    )


def test_halted_and_cancel_only_markets(api: Api) -> None:
    market = api.add_market()
    trader = api.user("halted")
    api.deposit(trader, QUOTE, "1000")
    resting = api.order(trader, market=market, side="BUY", price="10.00", quantity="1.000")
    second = api.order(trader, market=market, side="BUY", price="11.00", quantity="1.000")
    order_path = f"{API}/orders/{resting['order_id']}"

    assert api.set_status(market, "halt")["status"] == "HALT"
    assert ok(api.http.get(f"{API}/markets/{market}"))["status"] == "HALT"
    error(api.place(trader, market=market, side="BUY", price="10.00", quantity="1.000"), 422, "MARKET_HALTED")
    error(api.http.delete(order_path, headers=trader.headers), 422, "MARKET_HALTED")
    error(api.http.patch(order_path, json={"price": "10.50"}, headers=trader.headers), 422, "MARKET_HALTED")
    error(
        api.http.delete(f"{API}/orders", params={"market": market}, headers=trader.headers),
        422,
        "MARKET_HALTED",
    )
    # Cancel-all over every market leaves a halted market's orders alone.
    assert ok(api.http.delete(f"{API}/orders", headers=trader.headers)) == {"cancelled": []}
    error(
        api.http.post(f"{API}/admin/markets/{market}/halt", headers=api.admin), 409, "MARKET_STATUS_UNCHANGED"
    )  # already

    assert api.set_status(market, "cancel-only")["status"] == "CANCEL_ONLY"
    error(
        api.place(trader, market=market, side="BUY", price="10.00", quantity="1.000"),
        422,
        "MARKET_CANCEL_ONLY",
    )
    error(
        api.http.patch(order_path, json={"price": "10.50"}, headers=trader.headers), 422, "MARKET_CANCEL_ONLY"
    )
    assert ok(api.http.delete(order_path, headers=trader.headers))["status"] == "CANCELED"

    assert api.set_status(market, "resume")["status"] == "TRADING"
    api.order(trader, market=market, side="BUY", price="10.00", quantity="1.000")
    assert (
        ok(
            api.http.patch(
                f"{API}/orders/{second['order_id']}", json={"price": "11.50"}, headers=trader.headers
            )
        )["price"]
        == "11.50"
    )
    for action in ("halt", "cancel-only", "resume"):
        error(
            api.http.post(f"{API}/admin/markets/NOPE-USDT/{action}", headers=api.admin), 404, "UNKNOWN_MARKET"
        )


def test_body_too_large(api: Api, grid: tuple[str, User]) -> None:
    market, trader = grid
    headers = {**trader.headers, "Content-Type": "application/json"}
    # Padding with whitespace keeps a body valid JSON: under the limit it is accepted.
    body = httpx.Request("POST", "/", json=good(market, price="40.00")).content
    fits = body + b" " * (SHARED_MAX_BODY_BYTES - len(body))
    placed = ok(api.http.post(f"{API}/orders", content=fits, headers=headers), 201)
    ok(api.http.delete(f"{API}/orders/{placed['order_id']}", headers=trader.headers))
    error(api.http.post(f"{API}/orders", content=fits + b" ", headers=headers), 413, "BODY_TOO_LARGE")
    # Without a Content-Length (chunked), the limit holds while reading.
    chunks = iter([body] + [b" " * 512] * 8)
    error(api.http.post(f"{API}/orders", content=chunks, headers=headers), 413, "BODY_TOO_LARGE")
    admin = {**api.admin, "Content-Type": "application/json"}
    error(
        api.http.post(f"{API}/admin/deposits", content=b" " * 100_000, headers=admin), 413, "BODY_TOO_LARGE"
    )


def test_unknown_routes_and_methods(api: Api) -> None:
    for path in (
        "/nope",
        f"{API}/nope",
        f"{API}/orders/abc",
        f"{API}/markets/BTC-USDT/nope",
        "/api/v2/orders",
    ):
        error(api.http.get(path), 404, "NOT_FOUND")
    error(api.http.put(f"{API}/orders"), 405, "METHOD_NOT_ALLOWED")
    error(api.http.post(f"{API}/markets"), 405, "METHOD_NOT_ALLOWED")


def test_options_and_405_name_every_method_of_the_path(api: Api) -> None:
    # Regression: OPTIONS listed the methods of one route handler of the path only.
    for path, methods in (
        (f"{API}/orders", {"GET", "POST", "DELETE"}),
        (f"{API}/orders/7", {"GET", "DELETE", "PATCH"}),
        (f"{API}/orders/by-client-id/abc", {"GET", "DELETE", "PATCH"}),
        (f"{API}/markets/BTC-USDT/depth", {"GET"}),
    ):
        options = api.http.options(path)
        assert options.status_code == 204
        assert set(options.headers["Allow"].split(", ")) == methods | {"OPTIONS"}
        refused = api.http.put(path)
        error(refused, 405, "METHOD_NOT_ALLOWED")
        assert set(refused.headers["Allow"].split(", ")) == methods | {"OPTIONS"}


def test_ids_in_other_scripts_digits_name_no_order(api: Api) -> None:
    # Regression: an order id of Arabic-Indic digits was read as a number (and cancelled
    # order 12); only ASCII digits make an id.
    user = api.user("scripts")
    for text in ("\u0661\u0662", "\uff11\uff12", "1\u0662"):
        for method in ("GET", "DELETE", "PATCH"):
            body = {"price": "1.00"} if method == "PATCH" else None
            response = api.http.request(method, f"{API}/orders/{text}", json=body, headers=user.headers)
            error(response, 404, "NOT_FOUND")


def test_query_parameters_are_validated(api: Api) -> None:
    user = api.user("query")
    invalid: list[dict[str, Any]] = [
        {"limit": 0},
        {"limit": 1001},
        {"limit": "ten"},
        {"offset": -1},
        {"status": "pending"},
        {"start_time": -1},
        {"start_time": "yesterday"},
        {"market": "btc"},
        {"start_time": 9, "end_time": 8},
    ]
    for params in invalid:
        error(api.http.get(f"{API}/orders", params=params, headers=user.headers), 400, "VALIDATION_ERROR")
        if "status" not in params:
            error(api.http.get(f"{API}/fills", params=params, headers=user.headers), 400, "VALIDATION_ERROR")


# -- regressions: inputs that once answered 500 -------------------------------------------------


def test_out_of_range_ids_and_times_are_refused_not_crashed(api: Api) -> None:
    user = api.user("ranges")
    huge = 146936776384098739619289366528  # beyond 64 bits: once an OverflowError in the database driver
    for method in ("GET", "DELETE", "PATCH"):
        body = {"price": "1.00"} if method == "PATCH" else None
        for order_id in (huge, 2**63, 0, -5):
            response = api.http.request(method, f"{API}/orders/{order_id}", json=body, headers=user.headers)
            error(response, 400, "VALIDATION_ERROR")
        response = api.http.request(method, f"{API}/orders/{2**63 - 1}", json=body, headers=user.headers)
        error(response, 404, "ORDER_NOT_FOUND")
    # Times are milliseconds that must fit 64-bit nanoseconds.
    limit_ms = (2**63 - 1) // 1_000_000
    for path in (f"{API}/orders", f"{API}/fills", f"{API}/markets/BTC-USDT/trades"):
        assert ok(api.http.get(path, params={"start_time": limit_ms}, headers=user.headers))["total"] == 0
        error(
            api.http.get(path, params={"end_time": limit_ms + 1}, headers=user.headers),
            400,
            "VALIDATION_ERROR",
        )
        error(
            api.http.get(path, params={"start_time": 2**52 + 1}, headers=user.headers),
            400,
            "VALIDATION_ERROR",
        )
    params = {"start_time": limit_ms - 60_000, "end_time": limit_ms, "limit": 1}
    assert ok(api.http.get(f"{API}/markets/BTC-USDT/candles", params=params))[0]["trades"] == 0


def test_strings_the_database_cannot_hold_are_refused(api: Api) -> None:
    """A NUL character once reached PostgreSQL from a path or query parameter (500)."""
    user = api.user("strings")
    for method in ("GET", "DELETE", "PATCH"):
        body = {"price": "1.00"} if method == "PATCH" else None
        for client_order_id in ("a%00b", "x" * 37, "semi;colon", "%C3%A9t%C3%A9"):
            response = api.http.request(
                method, f"{API}/orders/by-client-id/{client_order_id}", json=body, headers=user.headers
            )
            error(response, 400, "VALIDATION_ERROR")
    for path in (f"{API}/orders", f"{API}/fills"):
        error(api.http.get(path, params={"market": "A\x00B"}, headers=user.headers), 400, "VALIDATION_ERROR")
    error(
        api.http.delete(f"{API}/orders", params={"market": "A\x00B"}, headers=user.headers),
        400,
        "VALIDATION_ERROR",
    )
    error(api.http.get(f"{API}/markets/A%00B/trades"), 404, "UNKNOWN_MARKET")


def test_cancel_all_with_nothing_open_answers_an_empty_list(api: Api) -> None:
    """Once a 500: a command that caused no event at all."""
    newcomer = api.user("newcomer")  # no account at all yet
    assert ok(api.http.delete(f"{API}/orders", headers=newcomer.headers)) == {"cancelled": []}
    assert ok(api.http.delete(f"{API}/orders", params={"market": "BTC-USDT"}, headers=newcomer.headers)) == {
        "cancelled": []
    }


def test_openapi_documents_the_error_envelope_and_public_routes(api: Api) -> None:
    document = ok_json(api.http.get("/openapi.json"))
    schemas = document["components"]["schemas"]
    assert schemas["ErrorEnvelope"]["properties"]["error"] == {"$ref": "#/components/schemas/ErrorBody"}
    assert set(schemas["ErrorBody"]["required"]) == {"code", "message"}
    place = document["paths"][f"{API}/orders"]["post"]
    for status in ("400", "401", "403", "404", "409", "413", "422", "429", "503"):
        assert place["responses"][status]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/ErrorEnvelope"
        }
    assert place["security"] == [{"bearer": []}]
    assert "security" not in document  # public market data needs no token
    assert "security" not in document["paths"][f"{API}/markets/{{symbol}}/depth"]["get"]
    assert ok(api.http.get(f"{API}/markets/BTC-USDT/depth"))["market"] == "BTC-USDT"


def ok_json(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_api_key_admin_inputs(api: Api) -> None:
    """Once 500s: no permissions (ValueError in the store), and on PostgreSQL a NUL in a
    label, a user id filter or a key (text the database cannot hold)."""
    owner = api.user("keyholder")
    url = f"{API}/admin/api-keys"
    created = ok(api.http.post(url, json={"user_id": owner.id, "label": "bot 1"}, headers=api.admin), 201)
    assert (created["user_id"], created["permissions"], created["label"]) == (
        owner.id,
        ["read", "trade"],
        "bot 1",
    )
    listed = ok(api.http.get(url, params={"user_id": owner.id}, headers=api.admin))
    assert [key["api_key"] for key in listed] == [created["api_key"]]
    assert "secret" not in listed[0]
    revoked = ok(api.http.delete(f"{url}/{created['api_key']}", headers=api.admin))
    assert revoked["revoked_at"] is not None

    for body in (
        {"user_id": owner.id, "permissions": []},
        {"user_id": owner.id, "permissions": ["withdraw"]},
        {"user_id": owner.id, "label": "nul\x00byte"},
        {"user_id": owner.id, "label": "x" * 101},
        {"user_id": "has space"},
    ):
        error(api.http.post(url, json=body, headers=api.admin), 400, "VALIDATION_ERROR")
    error(api.http.get(url, params={"user_id": "a\x00b"}, headers=api.admin), 400, "VALIDATION_ERROR")
    error(api.http.delete(f"{url}/a%00b", headers=api.admin), 400, "VALIDATION_ERROR")
    error(api.http.delete(f"{url}/{'0' * 64}", headers=api.admin), 404, "NOT_FOUND")
    error(api.http.post(url, json={"user_id": owner.id}, headers=owner.headers), 403, "FORBIDDEN")
