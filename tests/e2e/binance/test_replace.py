"""`POST /api/v3/order/cancelReplace` over raw HTTP: Binance's answers for each mode and
each partial failure, and that the new order may use what the cancelled one held."""

from typing import Any

import httpx

from tests.e2e.binance.conftest import Binance, SignedClient
from tests.e2e.binance.test_rest import limit_order
from tests.e2e.client import QUOTE

PARTIAL = (409, -2021, "Order cancel-replace partially failed.")
FAILED = (400, -2022, "Order cancel-replace failed.")
UNKNOWN = {"code": -2011, "msg": "Unknown order sent."}


def replace(market_id: str, mode: str, side: str, quantity: str, price: str, **extra: str) -> str:
    return limit_order(market_id, side, quantity, price, cancelReplaceMode=mode, **extra)


def failure(response: httpx.Response, expected: tuple[int, int, str]) -> dict[str, Any]:
    """The error's `data` (the two parts), after its status, code and message."""
    status, code, msg = expected
    assert response.status_code == status, response.text
    body = response.json()
    assert (body["code"], body["msg"]) == (code, msg)
    assert set(body) == {"code", "msg", "data"}
    data: dict[str, Any] = body["data"]
    assert set(data) == {"cancelResult", "newOrderResult", "cancelResponse", "newOrderResponse"}
    return data


def trader(binance: Binance, name: str, quote: str = "1000") -> tuple[SignedClient, str]:
    _native, market_id, _ = binance.market()
    return SignedClient(binance, binance.account(name, {QUOTE: quote})), market_id


def resting(client: SignedClient, market_id: str, price: str, **extra: str) -> dict[str, Any]:
    placed = client.request("POST", "order", body=limit_order(market_id, "BUY", "1", price, **extra))
    assert placed.status_code == 200, placed.text
    answer: dict[str, Any] = placed.json()
    return answer


def open_prices(client: SignedClient, market_id: str) -> list[str]:
    return [o["price"] for o in client.request("GET", "openOrders", f"symbol={market_id}").json()]


def test_the_order_is_replaced_and_both_answers_come_back(binance: Binance) -> None:
    client, market_id = trader(binance, "replacer")
    old = resting(client, market_id, "10", newClientOrderId="grid-a")
    body = replace(
        market_id, "STOP_ON_FAILURE", "BUY", "2", "9", cancelOrigClientOrderId="grid-a",
        cancelNewClientOrderId="cancel-a", newClientOrderId="grid-b",
    )  # fmt: skip
    answer = client.request("POST", "order/cancelReplace", body=body)
    assert answer.status_code == 200, answer.text
    assert answer.headers["X-MBX-ORDER-COUNT-1D"] == "2"
    result = answer.json()
    assert (result["cancelResult"], result["newOrderResult"]) == ("SUCCESS", "SUCCESS")
    cancelled, new = result["cancelResponse"], result["newOrderResponse"]
    assert (cancelled["orderId"], cancelled["status"], cancelled["price"]) == (
        old["orderId"],
        "CANCELED",
        "10.00000000",
    )
    assert (cancelled["origClientOrderId"], cancelled["clientOrderId"]) == ("grid-a", "cancel-a")
    assert (new["clientOrderId"], new["status"], new["price"], new["origQty"]) == (
        "grid-b", "NEW", "9.00000000", "2.00000000",
    )  # fmt: skip
    assert new["fills"] == []  # FULL, as POST /order answers a LIMIT
    assert open_prices(client, market_id) == ["9.00000000"]


def test_the_new_order_may_use_what_the_cancelled_one_held(binance: Binance) -> None:
    client, market_id = trader(binance, "all-in", quote="10.02")  # 1 at 10 plus the largest fee
    old = resting(client, market_id, "10")
    body = replace(market_id, "STOP_ON_FAILURE", "BUY", "1", "9.5", cancelOrderId=str(old["orderId"]))
    answer = client.request("POST", "order/cancelReplace", body=body)
    assert answer.status_code == 200, answer.text
    assert open_prices(client, market_id) == ["9.50000000"]


def test_stop_on_failure_does_not_try_the_new_order_when_the_cancel_is_refused(binance: Binance) -> None:
    client, market_id = trader(binance, "stopper")
    body = replace(market_id, "STOP_ON_FAILURE", "BUY", "1", "9", cancelOrderId="987654")
    data = failure(client.request("POST", "order/cancelReplace", body=body), FAILED)
    assert data == {
        "cancelResult": "FAILURE",
        "newOrderResult": "NOT_ATTEMPTED",
        "cancelResponse": UNKNOWN,
        "newOrderResponse": None,
    }
    assert open_prices(client, market_id) == []


def test_a_refused_new_order_leaves_the_cancel_done(binance: Binance) -> None:
    client, market_id = trader(binance, "half-done")
    old = resting(client, market_id, "10")
    seller = SignedClient(binance, binance.account("half-done-seller", {market_id[: -len(QUOTE)]: "5"}))
    assert seller.request("POST", "order", body=limit_order(market_id, "SELL", "1", "11")).is_success
    # A LIMIT_MAKER at the ask would take: refused after the cancel.
    body = f"symbol={market_id}&side=BUY&type=LIMIT_MAKER&quantity=1&price=11"
    body += f"&cancelReplaceMode=STOP_ON_FAILURE&cancelOrderId={old['orderId']}"
    data = failure(client.request("POST", "order/cancelReplace", body=body), PARTIAL)
    assert (data["cancelResult"], data["newOrderResult"]) == ("SUCCESS", "FAILURE")
    assert (data["cancelResponse"]["orderId"], data["cancelResponse"]["status"]) == (
        old["orderId"],
        "CANCELED",
    )
    assert data["newOrderResponse"] == {"code": -2010, "msg": "Order would immediately match and take."}
    assert open_prices(client, market_id) == []


def test_allow_failure_places_the_new_order_though_the_cancel_is_refused(binance: Binance) -> None:
    client, market_id = trader(binance, "allower")
    body = replace(market_id, "ALLOW_FAILURE", "BUY", "1", "9", cancelOrderId="987654")
    data = failure(client.request("POST", "order/cancelReplace", body=body), PARTIAL)
    assert (data["cancelResult"], data["newOrderResult"]) == ("FAILURE", "SUCCESS")
    assert data["cancelResponse"] == UNKNOWN
    assert data["newOrderResponse"]["status"] == "NEW"
    assert open_prices(client, market_id) == ["9.00000000"]


def test_allow_failure_with_both_parts_refused_changes_nothing(binance: Binance) -> None:
    client, market_id = trader(binance, "double-miss", quote="5")
    old = resting(client, market_id, "4")
    # The order to cancel is another market's; the new order costs more than there is.
    _other, elsewhere = binance.market()[:2]
    body = replace(elsewhere, "ALLOW_FAILURE", "BUY", "1", "9", cancelOrderId=str(old["orderId"]))
    data = failure(client.request("POST", "order/cancelReplace", body=body), FAILED)
    assert (data["cancelResult"], data["newOrderResult"]) == ("FAILURE", "FAILURE")
    assert data["cancelResponse"] == UNKNOWN
    assert data["newOrderResponse"] == {
        "code": -2010,
        "msg": "Account has insufficient balance for requested action.",
    }
    assert open_prices(client, market_id) == ["4.00000000"]


def test_in_a_halted_market_the_engine_refuses_both_parts_and_names_both_reasons(binance: Binance) -> None:
    native, market_id, _ = binance.market()
    client = SignedClient(binance, binance.account("halted", {QUOTE: "1000"}))
    old = resting(client, market_id, "4")
    binance.api.set_status(native, "halt")
    closed = {"code": -2011, "msg": "Market is closed."}
    body = replace(market_id, "STOP_ON_FAILURE", "BUY", "1", "5", cancelOrderId=str(old["orderId"]))
    data = failure(client.request("POST", "order/cancelReplace", body=body), FAILED)
    assert (data["cancelResult"], data["newOrderResult"], data["cancelResponse"]) == (
        "FAILURE", "NOT_ATTEMPTED", closed,
    )  # fmt: skip
    body = replace(market_id, "ALLOW_FAILURE", "BUY", "1", "5", cancelOrderId=str(old["orderId"]))
    data = failure(client.request("POST", "order/cancelReplace", body=body), FAILED)
    assert (data["cancelResult"], data["newOrderResult"], data["cancelResponse"]) == (
        "FAILURE",
        "FAILURE",
        closed,
    )
    assert data["newOrderResponse"] == {"code": -2010, "msg": "Market is closed."}
    binance.api.set_status(native, "resume")
    assert open_prices(client, market_id) == ["4.00000000"]


def test_cancel_replace_parameters_are_checked_like_binance(binance: Binance) -> None:
    client, market_id = trader(binance, "params")
    missing = client.request("POST", "order/cancelReplace", body=limit_order(market_id, "BUY", "1", "9"))
    assert missing.status_code == 400
    assert missing.json()["code"] == -1102
    no_target = client.request(
        "POST", "order/cancelReplace", body=replace(market_id, "STOP_ON_FAILURE", "BUY", "1", "9")
    )
    assert no_target.json() == {
        "code": -1102,
        "msg": "Param 'cancelOrderId' or 'cancelOrigClientOrderId' must be sent, but both were empty/null!",
    }
    bad_mode = client.request(
        "POST",
        "order/cancelReplace",
        body=replace(market_id, "SOMETIMES", "BUY", "1", "9", cancelOrderId="1"),
    )
    assert bad_mode.status_code == 400
    assert bad_mode.json()["code"] == -1100


RESTRICTED = {"code": -2011, "msg": "Order was not canceled due to cancel restrictions."}


def test_cancel_restrictions_are_decided_on_the_order_as_the_engine_holds_it(binance: Binance) -> None:
    client, market_id = trader(binance, "restricted")
    old = resting(client, market_id, "10")
    seller = SignedClient(binance, binance.account("restricted-seller", {market_id[: -len(QUOTE)]: "5"}))
    assert seller.request("POST", "order", body=limit_order(market_id, "SELL", "0.5", "10")).is_success
    target = str(old["orderId"])
    # Partly filled now: ONLY_NEW refuses the cancel, and STOP_ON_FAILURE stops there.
    body = replace(
        market_id, "STOP_ON_FAILURE", "BUY", "1", "9", cancelOrderId=target, cancelRestrictions="ONLY_NEW"
    )
    data = failure(client.request("POST", "order/cancelReplace", body=body), FAILED)
    assert data == {
        "cancelResult": "FAILURE",
        "newOrderResult": "NOT_ATTEMPTED",
        "cancelResponse": RESTRICTED,
        "newOrderResponse": None,
    }
    refused = client.request(
        "DELETE", "order", f"symbol={market_id}&orderId={target}&cancelRestrictions=ONLY_NEW"
    )
    assert (refused.status_code, refused.json()) == (400, RESTRICTED)
    body = replace(
        market_id, "STOP_ON_FAILURE", "BUY", "1", "9", cancelOrderId=target,
        cancelRestrictions="ONLY_PARTIALLY_FILLED",
    )  # fmt: skip
    answer = client.request("POST", "order/cancelReplace", body=body)
    assert answer.status_code == 200, answer.text
    assert answer.json()["cancelResponse"]["status"] == "CANCELED"
    assert open_prices(client, market_id) == ["9.00000000"]
    bad = replace(
        market_id, "STOP_ON_FAILURE", "BUY", "1", "9", cancelOrderId=target, cancelRestrictions="ONLY_OLD"
    )
    assert client.request("POST", "order/cancelReplace", body=bad).json() == {
        "code": -1145,
        "msg": "Invalid cancelRestrictions",
    }
