"""The `/api/v3` REST API over raw HTTP: exact shapes, signature rules and error codes
that ccxt does not show (it hides most of them behind its own objects)."""

import time
from typing import Any

import pytest

from tests.e2e.binance.conftest import INTERVALS, Account, Binance, SignedClient, binance_error
from tests.e2e.client import QUOTE

QUERY_ORDER_FIELDS = {
    "symbol", "orderId", "orderListId", "clientOrderId", "price", "origQty", "executedQty",
    "cummulativeQuoteQty", "status", "timeInForce", "type", "side", "stopPrice", "icebergQty",
    "time", "updateTime", "isWorking", "workingTime", "origQuoteOrderQty", "selfTradePreventionMode",
}  # fmt: skip
ACK_FIELDS = {"symbol", "orderId", "orderListId", "clientOrderId", "transactTime"}
RESULT_FIELDS = ACK_FIELDS | {
    "price", "origQty", "executedQty", "origQuoteOrderQty", "cummulativeQuoteQty", "status",
    "timeInForce", "type", "side", "workingTime", "selfTradePreventionMode",
}  # fmt: skip


@pytest.fixture(scope="module")
def market(binance: Binance) -> tuple[str, str]:
    """A fresh market: (native symbol, Binance symbol)."""
    native, market_id, _ = binance.market()
    return native, market_id


@pytest.fixture(scope="module")
def trader(binance: Binance, market: tuple[str, str]) -> Account:
    return binance.account("trader", {QUOTE: "100000", market[0].split("-")[0]: "100"})


@pytest.fixture(scope="module")
def client(binance: Binance, trader: Account) -> SignedClient:
    return SignedClient(binance, trader)


def limit_order(market_id: str, side: str, quantity: str, price: str, **extra: str) -> str:
    fields = {"symbol": market_id, "side": side, "type": "LIMIT", "timeInForce": "GTC"}
    fields.update(quantity=quantity, price=price, **extra)
    return "&".join(f"{k}={v}" for k, v in fields.items())


# -- public ------------------------------------------------------------------------------------------


def test_ping_and_time_answer(binance: Binance) -> None:
    http = binance.api.http
    assert http.get("/api/v3/ping").json() == {}
    # The value of the server's clock (Unix ms, as Binance reports it), not a speed: it
    # must read the same wall clock as ours, within a generous skew.
    before = int(time.time() * 1000)
    server_time = http.get("/api/v3/time").json()["serverTime"]
    after = int(time.time() * 1000)
    assert before - 5000 <= server_time <= after + 5000


def test_exchange_info_has_the_filters_and_order_types_and_no_contract_fields(
    binance: Binance, market: tuple[str, str]
) -> None:
    info = binance.api.http.get("/api/v3/exchangeInfo", params={"symbol": market[1]}).json()
    assert info["timezone"] == "UTC"
    (symbol,) = info["symbols"]
    assert symbol["symbol"] == market[1]
    assert (symbol["baseAsset"], symbol["quoteAsset"], symbol["status"]) == (
        market[0].split("-")[0],
        QUOTE,
        "TRADING",
    )
    assert symbol["orderTypes"] == [
        "LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT",
    ]  # fmt: skip
    filters = {f["filterType"]: f for f in symbol["filters"]}
    assert filters["PRICE_FILTER"] == {
        "filterType": "PRICE_FILTER", "minPrice": "0.01000000", "maxPrice": "1000000.00000000",
        "tickSize": "0.01000000",
    }  # fmt: skip
    assert filters["LOT_SIZE"] == {
        "filterType": "LOT_SIZE", "minQty": "0.00100000", "maxQty": "1000.00000000", "stepSize": "0.00100000",
    }  # fmt: skip
    # A market order's quantity refused names MARKET_LOT_SIZE, so it is published too.
    assert filters["MARKET_LOT_SIZE"] == {**filters["LOT_SIZE"], "filterType": "MARKET_LOT_SIZE"}
    assert filters["NOTIONAL"]["minNotional"] == "1.00000000"
    assert not {"contractType", "deliveryDate", "underlying"} & set(symbol)


def test_exchange_info_takes_a_symbols_list(binance: Binance, market: tuple[str, str]) -> None:
    query = f'["{market[1]}","BTCUSDT"]'
    info = binance.api.http.get("/api/v3/exchangeInfo", params={"symbols": query}).json()
    assert [s["symbol"] for s in info["symbols"]] == [market[1], "BTCUSDT"]


def test_integers_past_a_long_and_deeply_nested_symbols_are_illegal_parameters(
    binance: Binance, market: tuple[str, str], client: SignedClient
) -> None:
    """Once 500s: 19 digits past a long's range reached the database, which holds no such
    integer, and a deeply nested `symbols` broke its parser."""
    http, symbol = binance.api.http, market[1]
    for value in ("9223372036854775808", "9999999999999999999", "-9223372036854775809"):
        for path in ("trades", "historicalTrades", "aggTrades"):
            response = http.get(f"/api/v3/{path}", params={"symbol": symbol, "fromId": value})
            binance_error(response, 400, -1100)
        for path, name in (("order", "orderId"), ("allOrders", "orderId"), ("myTrades", "fromId")):
            binance_error(client.request("GET", path, f"symbol={symbol}&{name}={value}"), 400, -1100)
    largest = http.get("/api/v3/trades", params={"symbol": symbol, "fromId": str(2**63 - 1)})
    assert (largest.status_code, largest.json()) == (200, [])
    deep = "[" * 3000 + "]" * 3000
    for path in ("exchangeInfo", "ticker/24hr", "ticker/price", "ticker/bookTicker"):
        binance_error(http.get(f"/api/v3/{path}", params={"symbols": deep}), 400, -1100)


def test_a_ticker_type_other_than_full_or_mini_is_an_invalid_ticker_type(
    binance: Binance, market: tuple[str, str]
) -> None:
    for path in ("ticker/24hr", "ticker"):
        response = binance.api.http.get(f"/api/v3/{path}", params={"symbol": market[1], "type": "FOO"})
        binance_error(response, 400, -1139, "Invalid ticker type.")


def test_agg_trades_from_an_id_are_whole_aggregates(binance: Binance) -> None:
    """An aggregate's id is its first trade's. `fromId` inside an aggregate once gave the
    rest of it as an aggregate of its own, which the full list never shows."""
    native, market_id, _ = binance.market()
    funds = {QUOTE: "10000", native.split("-")[0]: "100"}
    makers = [SignedClient(binance, binance.account(f"agg-maker-{n}", funds)) for n in range(3)]
    taker = SignedClient(binance, binance.account("agg-taker", funds))
    for maker in makers:
        resting = maker.request("POST", "order", body=limit_order(market_id, "SELL", "1", "20"))
        assert resting.status_code == 200, resting.text
    taker.request("POST", "order", body=limit_order(market_id, "BUY", "3", "20"))  # one aggregate, 3 trades
    makers[0].request("POST", "order", body=limit_order(market_id, "SELL", "1", "21"))
    taker.request("POST", "order", body=limit_order(market_id, "BUY", "1", "21"))  # the next aggregate
    http = binance.api.http
    whole = http.get("/api/v3/aggTrades", params={"symbol": market_id}).json()
    assert [(a["a"], a["f"], a["l"], a["q"]) for a in whole] == [
        (whole[0]["f"], whole[0]["f"], whole[0]["f"] + 2, "3.00000000"),
        (whole[0]["f"] + 3, whole[0]["f"] + 3, whole[0]["f"] + 3, "1.00000000"),
    ]
    first = whole[0]["a"]
    cases: list[tuple[int, list[Any]]] = [(first, whole), (first + 1, whole[1:]), (first + 3, whole[1:])]
    cases += [(first + 4, []), (0, whole), (-(2**63), whole)]  # the smallest long: once a 500
    for from_id, expected in cases:
        answer = http.get("/api/v3/aggTrades", params={"symbol": market_id, "fromId": from_id})
        assert answer.json() == expected, from_id


def test_an_aggregate_of_more_trades_than_a_read_holds_is_still_answered(binance: Binance) -> None:
    """With `limit=1`, the read holds 102 trades: an aggregate of 110 was cut by it, left
    out as cut, and the answer was `[]`, which a client paging through reads as the end."""
    native, market_id, _ = binance.market()
    funds = {QUOTE: "10000", native.split("-")[0]: "100"}
    maker = SignedClient(binance, binance.account("agg-deep-maker", funds))
    taker = SignedClient(binance, binance.account("agg-deep-taker", funds))
    for _ in range(110):
        resting = maker.request("POST", "order", body=limit_order(market_id, "SELL", "0.1", "20"))
        assert resting.status_code == 200, resting.text
    taker.request("POST", "order", body=limit_order(market_id, "BUY", "11", "20"))  # 110 fills: one aggregate
    http = binance.api.http
    (latest,) = http.get("/api/v3/aggTrades", params={"symbol": market_id, "limit": 1}).json()
    assert (latest["l"] - latest["f"], latest["q"]) == (109, "11.00000000")
    query = {"symbol": market_id, "limit": 1, "fromId": latest["a"]}
    assert http.get("/api/v3/aggTrades", params=query).json() == [latest]


def test_an_unknown_symbol_is_invalid(binance: Binance) -> None:
    http = binance.api.http
    for path in ("exchangeInfo", "depth", "trades", "aggTrades", "ticker/24hr", "ticker/price"):
        binance_error(
            http.get(f"/api/v3/{path}", params={"symbol": "NOPEUSDT"}), 400, -1121, "Invalid symbol."
        )


def test_klines_serve_every_binance_interval_and_refuse_others(
    binance: Binance, market: tuple[str, str]
) -> None:
    http = binance.api.http
    for interval in INTERVALS:
        response = http.get("/api/v3/klines", params={"symbol": market[1], "interval": interval})
        assert response.status_code == 200, response.text
    for interval in ("1H", "2m", "1y", "7d", "1W", ""):
        response = http.get("/api/v3/klines", params={"symbol": market[1], "interval": interval})
        if interval:
            binance_error(response, 400, -1120, "Invalid interval.")
        else:
            binance_error(response, 400, -1102)


def test_depth_last_update_id_is_the_committed_depth_sequence(
    binance: Binance, market: tuple[str, str], client: SignedClient
) -> None:
    response = client.request("POST", "order", body=limit_order(market[1], "BUY", "0.5", "10"))
    assert response.status_code == 200, response.text
    depth = binance.api.http.get("/api/v3/depth", params={"symbol": market[1], "limit": 5}).json()
    native = binance.api.depth(market[0])
    assert depth["lastUpdateId"] == native["sequence"]
    assert ["10.00000000", "0.50000000"] in depth["bids"]


# -- signatures and keys -------------------------------------------------------------------------


def test_the_signature_covers_query_and_body_and_the_query_string_wins(
    market: tuple[str, str], client: SignedClient
) -> None:
    query = f"symbol={market[1]}&side=BUY&quantity=0.2"
    body = "type=LIMIT&timeInForce=GTC&quantity=0.7&price=11"
    response = client.request("POST", "order", query, body)
    assert response.status_code == 200, response.text
    assert response.json()["origQty"] == "0.20000000"


def test_a_signature_is_accepted_in_upper_case(client: SignedClient) -> None:
    response = client.request("GET", "account", transform=str.upper)
    assert response.status_code == 200, response.text


def test_a_wrong_signature_is_refused(client: SignedClient) -> None:
    response = client.request("GET", "account", transform=lambda s: s[::-1])
    binance_error(response, 400, -1022, "Signature for this request is not valid.")
    response = client.request("GET", "account", secret="not the secret")
    binance_error(response, 400, -1022, "Signature for this request is not valid.")


OUTSIDE = "Timestamp for this request is outside of the recvWindow."
AHEAD = "Timestamp for this request was 1000ms ahead of the server's time."  # errors.md's second -1021


@pytest.mark.parametrize(
    ("offset_ms", "recv_window", "code", "message"),
    [
        (-10_000, None, -1021, OUTSIDE),
        (-70_000, "60000", -1021, OUTSIDE),
        (2_000, None, -1021, AHEAD),
        (0, "60001", -1131, "recvWindow must be less than 60000"),
    ],
)
def test_timestamps_outside_the_receive_window_are_refused(
    client: SignedClient, offset_ms: int, recv_window: str | None, code: int, message: str
) -> None:
    stamp = int(time.time() * 1000) + offset_ms
    response = client.request("GET", "account", timestamp=stamp, recv_window=recv_window)
    binance_error(response, 400, code, message)


def test_a_wider_receive_window_admits_an_older_timestamp(client: SignedClient) -> None:
    stamp = int(time.time() * 1000) - 20_000
    assert client.request("GET", "account", timestamp=stamp, recv_window="30000.5").status_code == 200


def test_a_missing_or_malformed_key_is_refused(client: SignedClient) -> None:
    binance_error(client.request("GET", "account", key=""), 401, -2014, "API-key format invalid.")
    binance_error(client.request("GET", "account", key="not-a-key!"), 401, -2014)
    binance_error(
        client.request("GET", "account", key="A" * 64),
        401,
        -2015,
        "Invalid API-key, IP, or permissions for action.",
    )


def test_a_revoked_key_is_refused_at_once(binance: Binance, trader: Account) -> None:
    key, secret = binance.key(trader.user)
    revocable = SignedClient(binance, Account(trader.user, key, secret))
    assert revocable.request("GET", "account").status_code == 200
    binance.revoke(key)
    binance_error(revocable.request("GET", "account"), 401, -2015)


def test_a_read_only_key_reads_but_cannot_trade(binance: Binance, market: tuple[str, str]) -> None:
    reader = SignedClient(binance, binance.account("reader", {QUOTE: "100"}, permissions=("read",)))
    assert reader.request("GET", "account").status_code == 200
    assert reader.request("GET", "openOrders", f"symbol={market[1]}").status_code == 200
    binance_error(reader.request("POST", "order", body=limit_order(market[1], "BUY", "1", "10")), 401, -2015)
    binance_error(reader.request("DELETE", "openOrders", f"symbol={market[1]}"), 401, -2015)


def test_a_trade_only_key_cannot_read(binance: Binance) -> None:
    writer = SignedClient(binance, binance.account("writer", {QUOTE: "100"}, permissions=("trade",)))
    binance_error(writer.request("GET", "account"), 401, -2015)


def test_a_signed_endpoint_needs_timestamp_and_signature(binance: Binance, trader: Account) -> None:
    http = binance.api.http
    headers = {"X-MBX-APIKEY": trader.key}
    binance_error(http.get("/api/v3/account", headers=headers), 400, -1102)
    stamp = int(time.time() * 1000)
    response = http.get(f"/api/v3/account?timestamp={stamp}", headers=headers)
    binance_error(
        response, 400, -1102, "Mandatory parameter 'signature' was not sent, was empty/null, or malformed."
    )


# -- orders -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("response_type", "fields"), [("ACK", ACK_FIELDS), ("RESULT", RESULT_FIELDS)])
def test_new_order_answers_in_the_response_type_asked_for(
    market: tuple[str, str], client: SignedClient, response_type: str, fields: set[str]
) -> None:
    body = limit_order(market[1], "BUY", "0.1", "12", newOrderRespType=response_type)
    response = client.request("POST", "order", body=body)
    assert response.status_code == 200, response.text
    assert set(response.json()) == fields


def test_a_limit_order_answers_full_by_default_with_its_fills(
    binance: Binance, market: tuple[str, str], client: SignedClient
) -> None:
    seller = SignedClient(binance, binance.account("seller", {market[0].split("-")[0]: "5"}))
    resting = seller.request("POST", "order", body=limit_order(market[1], "SELL", "1", "20"))
    assert resting.status_code == 200, resting.text
    body = limit_order(market[1], "BUY", "0.4", "20", newClientOrderId="my-order_1")
    order = client.request("POST", "order", body=body).json()
    assert set(order) == RESULT_FIELDS | {"fills"}
    assert (order["status"], order["clientOrderId"], order["executedQty"]) == (
        "FILLED",
        "my-order_1",
        "0.40000000",
    )
    assert order["cummulativeQuoteQty"] == "8.00000000"
    (fill,) = order["fills"]
    assert fill == {
        "price": "20.00000000", "qty": "0.40000000", "commission": "0.01600000",
        "commissionAsset": QUOTE, "tradeId": fill["tradeId"],
    }  # fmt: skip


def test_a_test_order_is_validated_not_placed_and_tells_its_commission_rates_if_asked(
    market: tuple[str, str], client: SignedClient
) -> None:
    """Once `{}` even with `computeCommissionRates=true` (charged its weight of 20)."""
    open_before = client.request("GET", "openOrders", f"symbol={market[1]}").json()
    body = limit_order(market[1], "BUY", "0.3", "9")
    assert client.request("POST", "order/test", body=body).json() == {}
    rates = client.request("POST", "order/test", body=f"{body}&computeCommissionRates=true").json()
    assert rates == {
        "standardCommissionForOrder": {"maker": "0.00100000", "taker": "0.00200000"},  # the market's
        "specialCommissionForOrder": {"maker": "0.00000000", "taker": "0.00000000"},
        "taxCommissionForOrder": {"maker": "0.00000000", "taker": "0.00000000"},
        "discount": {
            "enabledForAccount": False, "enabledForSymbol": False,
            "discountAsset": None, "discount": "0.00000000",
        },
    }  # fmt: skip
    refused = client.request("POST", "order/test", body=limit_order(market[1], "BUY", "0.3", "9.001"))
    binance_error(refused, 400, -1013)
    assert client.request("GET", "openOrders", f"symbol={market[1]}").json() == open_before


def test_query_order_has_binance_fields_by_id_and_by_client_id(
    market: tuple[str, str], client: SignedClient
) -> None:
    placed = client.request(
        "POST", "order", body=limit_order(market[1], "BUY", "0.3", "9", newClientOrderId="q-1")
    )
    order_id = placed.json()["orderId"]
    by_id = client.request("GET", "order", f"symbol={market[1]}&orderId={order_id}").json()
    assert set(by_id) == QUERY_ORDER_FIELDS
    assert (by_id["status"], by_id["type"], by_id["isWorking"], by_id["origQty"]) == (
        "NEW",
        "LIMIT",
        True,
        "0.30000000",
    )
    by_client_id = client.request("GET", "order", f"symbol={market[1]}&origClientOrderId=q-1").json()
    assert by_client_id == by_id
    both = client.request("GET", "order", f"symbol={market[1]}&orderId={order_id}&origClientOrderId=q-1")
    assert both.json() == by_id
    # Both sent and not the same order's: Binance's -2039 (once -2013, as if it did not exist).
    mismatched = f"symbol={market[1]}&orderId={order_id}&origClientOrderId=q-2"
    message = "Client order ID is not correct for this order ID."
    binance_error(client.request("GET", "order", mismatched), 400, -2039, message)


def test_unknown_orders_are_reported_as_binance_does(market: tuple[str, str], client: SignedClient) -> None:
    query = f"symbol={market[1]}&orderId=987654321"
    binance_error(client.request("GET", "order", query), 400, -2013, "Order does not exist.")
    binance_error(client.request("DELETE", "order", query), 400, -2011, "Unknown order sent.")
    binance_error(client.request("GET", "order", f"symbol={market[1]}"), 400, -1102)


def test_cancel_answers_the_cancelled_order_and_cancel_all_every_open_order(
    binance: Binance, market: tuple[str, str]
) -> None:
    own = SignedClient(binance, binance.account("canceller", {QUOTE: "1000"}))
    first = own.request(
        "POST", "order", body=limit_order(market[1], "BUY", "1", "5", newClientOrderId="c-1")
    ).json()
    own.request("POST", "order", body=limit_order(market[1], "BUY", "1", "6"))
    own.request("POST", "order", body=limit_order(market[1], "BUY", "1", "7"))
    cancelled = own.request("DELETE", "order", f"symbol={market[1]}&origClientOrderId=c-1").json()
    assert (cancelled["orderId"], cancelled["status"], cancelled["origClientOrderId"]) == (
        first["orderId"], "CANCELED", "c-1",
    )  # fmt: skip
    open_orders = own.request("GET", "openOrders", f"symbol={market[1]}").json()
    assert [o["price"] for o in open_orders] == ["6.00000000", "7.00000000"]
    all_cancelled = own.request("DELETE", "openOrders", f"symbol={market[1]}").json()
    assert [o["status"] for o in all_cancelled] == ["CANCELED", "CANCELED"]
    binance_error(
        own.request("DELETE", "openOrders", f"symbol={market[1]}"), 400, -2011, "Unknown order sent."
    )


def test_a_market_sell_by_quote_amount_receives_that_much(binance: Binance, market: tuple[str, str]) -> None:
    base = market[0].split("-")[0]
    buyer = SignedClient(binance, binance.account("bidder", {QUOTE: "1000"}))
    buyer.request("POST", "order", body=limit_order(market[1], "BUY", "2", "50"))
    seller = SignedClient(binance, binance.account("quote-seller", {base: "5"}))
    body = f"symbol={market[1]}&side=SELL&type=MARKET&quoteOrderQty=25"
    order = seller.request("POST", "order", body=body).json()
    assert order["status"] == "FILLED"
    assert order["executedQty"] == "0.50000000"
    assert order["cummulativeQuoteQty"] == "25.00000000"


def test_the_24h_ticker_shows_each_trade_as_soon_as_it_is_acknowledged(binance: Binance) -> None:
    """The ticker is the live market data every API shares, moved by each committed batch:
    no window in which it shows the previous trade's price, or none after the first."""
    native, market_id, _ = binance.market()
    base = native.split("-")[0]
    maker = SignedClient(binance, binance.account("ticker-maker", {base: "10"}))
    taker = SignedClient(binance, binance.account("ticker-taker", {QUOTE: "10000"}))
    http = binance.api.http

    def ticker() -> dict[str, Any]:
        return dict(http.get("/api/v3/ticker/24hr", params={"symbol": market_id}).json())

    assert (ticker()["lastPrice"], ticker()["count"]) == ("0.00000000", 0)
    prices = (("30", "30.00000000"), ("31", "31.00000000"), ("29.5", "29.50000000"))
    for count, (price, shown) in enumerate(prices, start=1):
        maker.request("POST", "order", body=limit_order(market_id, "SELL", "0.5", price))
        taker.request("POST", "order", body=limit_order(market_id, "BUY", "0.5", price))
        now = ticker()  # at once: no cache, no second-long window
        assert (now["lastPrice"], now["lastQty"], now["count"]) == (shown, "0.50000000", count)
        price_now = http.get("/api/v3/ticker/price", params={"symbol": market_id}).json()
        assert price_now["price"] == now["lastPrice"]
    assert (now["openPrice"], now["highPrice"], now["lowPrice"]) == (
        "30.00000000",
        "31.00000000",
        "29.50000000",
    )


@pytest.mark.parametrize(
    ("changes", "code", "msg"),
    [
        ({"quantity": "0.0015"}, -1013, "Filter failure: LOT_SIZE"),
        ({"price": "10.005"}, -1013, "Filter failure: PRICE_FILTER"),
        ({"quantity": "0.001", "price": "10"}, -1013, "Filter failure: NOTIONAL"),
        ({"quantity": "0.123456789"}, -1111, "Parameter 'quantity' has too much precision."),
        ({"quantity": "abc"}, -1100, None),
        # Only ASCII digits are decimal text: Python's own parsers read these as numbers.
        ({"price": "\u0661\u0660"}, -1100, None),  # Arabic-Indic 10
        ({"quantity": "0.0\u0661"}, -1100, None),
        ({"quantity": "\uff11"}, -1100, None),  # a full-width 1
        ({"quantity": "+1"}, -1100, None),
        ({"side": "UP"}, -1117, "Invalid side."),
        ({"type": "ICEBERG"}, -1116, "Invalid orderType."),
        (
            {"type": "TAKE_PROFIT_LIMIT"},
            -1102,
            "Mandatory parameter 'stopPrice' was not sent, was empty/null, or malformed.",
        ),
        (
            {"type": "TAKE_PROFIT", "stopPrice": "5", "timeInForce": None},  # None: not sent
            -1106,
            "Parameter 'price' sent when not required.",
        ),
        ({"stopPrice": "5"}, -1106, "Parameter 'stopPrice' sent when not required."),
        ({"timeInForce": "GTD"}, -1115, "Invalid timeInForce."),
        (
            {"quantity": "999", "price": "1000"},
            -2010,
            "Account has insufficient balance for requested action.",
        ),
    ],
)
def test_new_order_rejections_carry_binance_codes_and_messages(
    market: tuple[str, str],
    client: SignedClient,
    changes: dict[str, str | None],
    code: int,
    msg: str | None,
) -> None:
    fields: dict[str, str | None] = {
        "symbol": market[1],
        "side": "BUY",
        "type": "LIMIT",
        "timeInForce": "GTC",
        "quantity": "1",
        "price": "10",
    }
    fields.update(changes)
    body = "&".join(f"{k}={v}" for k, v in fields.items() if v is not None)
    binance_error(client.request("POST", "order", body=body), 400, code, msg)


def test_a_stop_loss_that_would_trigger_at_once_is_refused(binance: Binance) -> None:
    native, market_id, _ = binance.market()  # its own book: the last price is 30
    maker = SignedClient(binance, binance.account("stop-maker", {native.split("-")[0]: "1"}))
    taker = SignedClient(binance, binance.account("stop-taker", {QUOTE: "100"}))
    maker.request("POST", "order", body=limit_order(market_id, "SELL", "0.1", "30"))
    taker.request("POST", "order", body=limit_order(market_id, "BUY", "0.1", "30"))
    body = f"symbol={market_id}&side=SELL&type=STOP_LOSS&quantity=0.1&stopPrice=31"
    refused = maker.request("POST", "order", body=body)
    binance_error(refused, 400, -2010, "Order would trigger immediately.")
    accepted = maker.request("POST", "order", body=body.replace("stopPrice=31", "stopPrice=29"))
    assert accepted.status_code == 200, accepted.text


def test_a_take_profit_that_would_trigger_at_once_is_refused(binance: Binance) -> None:
    native, market_id, _ = binance.market()  # its own book: the last price is 30
    maker = SignedClient(binance, binance.account("tp-maker", {native.split("-")[0]: "1"}))
    taker = SignedClient(binance, binance.account("tp-taker", {QUOTE: "100"}))
    maker.request("POST", "order", body=limit_order(market_id, "SELL", "0.1", "30"))
    taker.request("POST", "order", body=limit_order(market_id, "BUY", "0.1", "30"))
    # A take-profit sell fires on a rise: a trigger at or below the last price is refused.
    body = f"symbol={market_id}&side=SELL&type=TAKE_PROFIT&quantity=0.1&stopPrice=29"
    binance_error(maker.request("POST", "order", body=body), 400, -2010, "Order would trigger immediately.")
    accepted = maker.request("POST", "order", body=body.replace("stopPrice=29", "stopPrice=31"))
    assert accepted.status_code == 200, accepted.text
    # A take-profit buy fires on a fall: a trigger at or above the last price is refused.
    body = (
        f"symbol={market_id}&side=BUY&type=TAKE_PROFIT_LIMIT&timeInForce=GTC&quantity=0.1&price=29"
        "&stopPrice=30"
    )
    binance_error(taker.request("POST", "order", body=body), 400, -2010, "Order would trigger immediately.")
    accepted = taker.request("POST", "order", body=body.replace("stopPrice=30", "stopPrice=29"))
    assert accepted.status_code == 200, accepted.text


def test_take_profit_orders_report_their_type_and_stop_price_then_fill_when_triggered(
    binance: Binance,
) -> None:
    native, market_id, _ = binance.market()
    base = native.split("-")[0]
    trader = SignedClient(binance, binance.account("tp-trader", {QUOTE: "100", base: "1"}))
    seller = SignedClient(binance, binance.account("tp-seller", {base: "10"}))
    buyer = SignedClient(binance, binance.account("tp-buyer", {QUOTE: "100"}))
    seller.request("POST", "order", body=limit_order(market_id, "SELL", "0.1", "30"))
    buyer.request("POST", "order", body=limit_order(market_id, "BUY", "0.1", "30"))  # last price 30

    body = (
        f"symbol={market_id}&side=BUY&type=TAKE_PROFIT_LIMIT&timeInForce=GTC&quantity=0.5&price=25.5"
        "&stopPrice=25&newOrderRespType=RESULT"
    )
    placed = trader.request("POST", "order", body=body).json()
    assert set(placed) == RESULT_FIELDS | {"stopPrice"}
    assert (placed["type"], placed["status"], placed["timeInForce"], placed["workingTime"]) == (
        "TAKE_PROFIT_LIMIT", "NEW", "GTC", -1,
    )  # fmt: skip
    assert (placed["price"], placed["stopPrice"]) == ("25.50000000", "25.00000000")
    # Default response type for a take-profit, as for every type but LIMIT and MARKET: ACK.
    body = f"symbol={market_id}&side=SELL&type=TAKE_PROFIT&quantity=0.2&stopPrice=35"
    sell_tp = trader.request("POST", "order", body=body).json()
    assert set(sell_tp) == ACK_FIELDS

    query = f"symbol={market_id}&orderId={placed['orderId']}"
    pending = trader.request("GET", "order", query).json()
    assert (pending["type"], pending["stopPrice"], pending["status"], pending["isWorking"]) == (
        "TAKE_PROFIT_LIMIT", "25.00000000", "NEW", False,
    )  # fmt: skip
    open_orders = trader.request("GET", "openOrders", f"symbol={market_id}").json()
    assert [(o["orderId"], o["type"]) for o in open_orders] == [
        (placed["orderId"], "TAKE_PROFIT_LIMIT"), (sell_tp["orderId"], "TAKE_PROFIT"),
    ]  # fmt: skip

    # The fall to 25 fires the buy; it takes the rest of the seller's offer at 25.
    seller.request("POST", "order", body=limit_order(market_id, "SELL", "1", "25"))
    buyer.request("POST", "order", body=limit_order(market_id, "BUY", "0.1", "25"))
    filled = trader.request("GET", "order", query).json()
    assert (filled["status"], filled["executedQty"], filled["cummulativeQuoteQty"], filled["isWorking"]) == (
        "FILLED", "0.50000000", "12.50000000", True,
    )  # fmt: skip

    # The sell take-profit still waits (it fires on a rise); cancelling it answers its terms.
    cancelled = trader.request("DELETE", "order", f"symbol={market_id}&orderId={sell_tp['orderId']}").json()
    assert (cancelled["status"], cancelled["type"], cancelled["stopPrice"], cancelled["timeInForce"]) == (
        "CANCELED", "TAKE_PROFIT", "35.00000000", "GTC",
    )  # fmt: skip


def test_account_lists_balances_and_permissions(binance: Binance, market: tuple[str, str]) -> None:
    base = market[0].split("-")[0]
    holder = SignedClient(binance, binance.account("holder", {QUOTE: "12.5", base: "3"}))
    holder.request("POST", "order", body=limit_order(market[1], "SELL", "1", "1000"))
    account: dict[str, Any] = holder.request("GET", "account", "omitZeroBalances=true").json()
    assert account["accountType"] == "SPOT"
    assert account["canTrade"] is True
    assert account["balances"] == [
        {"asset": base, "free": "2.00000000", "locked": "1.00000000"},
        {"asset": QUOTE, "free": "12.50000000", "locked": "0.00000000"},
    ]
