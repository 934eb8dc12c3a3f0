"""A thin client for the end-to-end API tests: envelopes checked, fresh names per test.

Tests share one server per database, so every test works on its own users and, where
it trades, on a market of its own (an admin adds it at run time with a fresh base
asset): no test can see another's orders, trades or balances.
"""

import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx

from tests.e2e.server import Server

API = "/api/v1"
QUOTE = "USDT"  # 8 decimals in the default markets; fresh markets reuse it


def fresh(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def ok(response: httpx.Response, status: int = 200) -> Any:
    """The `data` of a success envelope."""
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    assert set(body) == {"success", "data"}, body
    assert body["success"] is True
    return body["data"]


def error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The `error` of an error envelope, which must have exactly the documented shape."""
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    assert set(body) == {"success", "error"}, body
    assert body["success"] is False
    assert set(body["error"]) == {"code", "message", "details"}, body
    assert body["error"]["code"] == code, body
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["message"]
    return dict(body["error"])


def amount(value: Decimal | int | str, places: int = 8) -> str:
    """A decimal string as the API renders it (fixed number of places)."""
    return f"{Decimal(value):.{places}f}"


@dataclass(frozen=True)
class User:
    id: str
    headers: dict[str, str]


class Api:
    """Requests to one server, as an admin or as users created per test."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.http = httpx.Client(base_url=server.url, timeout=30.0)
        self.admin = server.headers(fresh("ops"), "admin")

    def close(self) -> None:
        self.http.close()

    def user(self, name: str) -> User:
        user_id = fresh(name)
        return User(user_id, self.server.headers(user_id))

    # -- admin --

    def add_market(self, **spec: str) -> str:
        """A market of a fresh base asset against USDT; returns its symbol."""
        base = "T" + uuid.uuid4().hex[:9].upper()
        body = {
            "symbol": f"{base}-{QUOTE}",
            "tick_size": "0.01",
            "step_size": "0.001",
            "min_quantity": "0.001",
            "max_quantity": "1000",
            "max_price": "1000000",
            "min_notional": "1",
            "maker_fee": "0.001",
            "taker_fee": "0.002",
            **spec,
        }
        market = ok(self.http.post(f"{API}/admin/markets", json=body, headers=self.admin), 201)
        assert market["symbol"] == body["symbol"]
        assert market["status"] == "TRADING"
        return str(market["symbol"])

    def deposit(self, user: User, asset: str, value: str, reference: str | None = None) -> dict[str, Any]:
        body = {"user_id": user.id, "asset": asset, "amount": value, "reference": reference}
        data: dict[str, Any] = ok(self.http.post(f"{API}/admin/deposits", json=body, headers=self.admin), 201)
        return data

    def set_status(self, market: str, action: str) -> dict[str, Any]:
        response = self.http.post(f"{API}/admin/markets/{market}/{action}", headers=self.admin)
        data: dict[str, Any] = ok(response)
        return data

    # -- trading --

    def place(self, user: User, **body: Any) -> httpx.Response:
        return self.http.post(f"{API}/orders", json=body, headers=user.headers)

    def order(self, user: User, **body: Any) -> dict[str, Any]:
        """Place an order that must be accepted; its view."""
        data: dict[str, Any] = ok(self.place(user, **body), 201)
        return data

    def get_order(self, user: User, order_id: int) -> dict[str, Any]:
        data: dict[str, Any] = ok(self.http.get(f"{API}/orders/{order_id}", headers=user.headers))
        return data

    def orders(self, user: User, **params: Any) -> dict[str, Any]:
        data: dict[str, Any] = ok(self.http.get(f"{API}/orders", params=params, headers=user.headers))
        return data

    def fills(self, user: User, **params: Any) -> dict[str, Any]:
        data: dict[str, Any] = ok(self.http.get(f"{API}/fills", params=params, headers=user.headers))
        return data

    def balances(self, user: User) -> dict[str, dict[str, str]]:
        """{asset: {"available", "locked", "total"}} of the user's non-empty balances."""
        rows = ok(self.http.get(f"{API}/balances", headers=user.headers))
        result: dict[str, dict[str, str]] = {}
        for row in rows:
            asset = row.pop("asset")
            assert Decimal(row["total"]) == Decimal(row["available"]) + Decimal(row["locked"]), row
            result[asset] = row
        return result

    def depth(self, market: str, **params: Any) -> dict[str, Any]:
        data: dict[str, Any] = ok(self.http.get(f"{API}/markets/{market}/depth", params=params))
        return data

    def trades(self, market: str, **params: Any) -> dict[str, Any]:
        data: dict[str, Any] = ok(self.http.get(f"{API}/markets/{market}/trades", params=params))
        return data
