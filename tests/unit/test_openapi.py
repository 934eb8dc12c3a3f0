"""The OpenAPI document states what the server enforces: built from the same route
table and types the router validates with (no server needed)."""

from typing import Any

import pytest

from trade_engine.api import routes
from trade_engine.api.audit import AuditTrail
from trade_engine.api.native import ERROR_TYPE, NativeApi, answer_type
from trade_engine.config import Config
from trade_engine.edge.gateway import Gateway
from trade_engine.edge.openapi import document


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    gateway = Gateway(Config())
    table = routes.routes(gateway, NativeApi(gateway.auth, gateway.limiter), AuditTrail(gateway.database))
    return document(
        table, title="t", version="1", description="d", answer_type=answer_type, error_type=ERROR_TYPE
    )


def parameter(spec: dict[str, Any], path: str, method: str, name: str) -> dict[str, Any]:
    found = [p for p in spec["paths"][path][method]["parameters"] if p["name"] == name]
    assert len(found) == 1
    chosen: dict[str, Any] = found[0]
    return chosen


def _bounds(schema: dict[str, Any]) -> dict[str, Any]:
    """The integer branch of a schema (through nullable unions)."""
    for option in schema.get("anyOf", [schema]):
        if option.get("type") == "integer":
            integer: dict[str, Any] = option
            return integer
    raise AssertionError(schema)


@pytest.mark.parametrize("method", ["get", "delete", "patch"])
def test_order_ids_are_bounded_exactly_to_64_bits(spec: dict[str, Any], method: str) -> None:
    # Regression: the bound was the float 9.223372036854776e18, which admits 2**63.
    bounds = _bounds(parameter(spec, "/api/v1/orders/{order_id}", method, "order_id")["schema"])
    assert bounds["minimum"] == 1
    assert bounds["maximum"] == 2**63 - 1
    assert isinstance(bounds["maximum"], int)


@pytest.mark.parametrize("path", ["/api/v1/orders", "/api/v1/fills", "/api/v1/markets/{symbol}/trades"])
@pytest.mark.parametrize("name", ["start_time", "end_time"])
def test_times_are_never_negative(spec: dict[str, Any], path: str, name: str) -> None:
    # Regression: the minimum of an optional time was dropped, so -1 looked valid.
    bounds = _bounds(parameter(spec, path, "get", name)["schema"])
    assert (bounds["minimum"], bounds["maximum"]) == (0, (2**63 - 1) // 1_000_000)


def test_an_amendment_needs_a_change_and_takes_no_nulls(spec: dict[str, Any]) -> None:
    body = spec["paths"]["/api/v1/orders/{order_id}"]["patch"]["requestBody"]["content"]["application/json"]
    assert body["schema"]["minProperties"] == 1
    amend = spec["components"]["schemas"]["AmendOrderBody"]
    assert amend["properties"]["price"]["type"] == "string"  # null is no amendment


def test_decimal_text_is_ascii_digits(spec: dict[str, Any]) -> None:
    price = spec["components"]["schemas"]["PlaceOrderBody"]["properties"]["price"]
    branch = next(option for option in price["anyOf"] if option.get("type") == "string")
    assert branch["pattern"] == "^[0-9]+(\\.[0-9]+)?$"


def test_every_error_status_is_documented_with_the_envelope_and_retry_after(spec: dict[str, Any]) -> None:
    place = spec["paths"]["/api/v1/orders"]["post"]["responses"]
    assert set(place) == {"201", "400", "401", "403", "404", "409", "413", "422", "429", "503"}
    for status in ("429", "503"):
        assert place[status]["headers"]["Retry-After"]["required"] is True
    ready = spec["paths"]["/ready"]["get"]["responses"]
    assert ready["503"]["content"] == ready["200"]["content"]  # not ready: the same body


def test_each_private_route_lists_the_errors_it_can_answer(spec: dict[str, Any]) -> None:
    # Regression: every private route listed one set (a read documented 409, 413, 422).
    read = spec["paths"]["/api/v1/balances"]["get"]["responses"]
    assert set(read) == {"200", "400", "401", "403", "404", "429", "503"}
    cancel = spec["paths"]["/api/v1/orders/{order_id}"]["delete"]["responses"]
    assert {"409", "422"} <= set(cancel)
    assert "413" not in cancel  # no body


def test_a_new_market_is_described_with_the_shapes_the_server_checks(spec: dict[str, Any]) -> None:
    market = spec["components"]["schemas"]["MarketBody"]["properties"]
    assert market["symbol"]["pattern"] == "^([A-Z0-9]{1,12})-([A-Z0-9]{1,12})$"
    assert (market["base_decimals"]["minimum"], market["base_decimals"]["maximum"]) == (0, 18)
    assert market["maker_fee"]["pattern"] == "^[0-9]+(\\.[0-9]+)?$"
    assert set(market["stp_mode"]["enum"]) == {"NONE", "EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"}
    assert set(market["status"]["enum"]) == {"TRADING", "HALT", "CANCEL_ONLY"}
