"""Authentication, authorization and rate limits, end to end.

Tokens are made here with PyJWT (and by hand where PyJWT refuses to make a bad one);
the shared servers use the development HS256 secret. Servers with other auth settings
(issuer and audience, RS256, rate limits) do not depend on the database, so they run
on SQLite only.
"""

import base64
import hmac
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.e2e.client import API, QUOTE, Api, error, fresh, ok
from tests.e2e.conftest import running_server
from tests.e2e.server import Server
from trade_engine.config import DEV_SECRET
from trade_engine.domain.vocabulary import FEE_ACCOUNT

PRIVATE = f"{API}/balances"


def claims(user: str = "someone", **extra: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"sub": user, "roles": ["trader"], "iat": now, "exp": now + 600, **extra}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hand_made(
    header: dict[str, Any], payload: dict[str, Any], key: bytes | None, digest: str = "sha256"
) -> str:
    """A JWT signed with HMAC under any key (or unsigned), as an attacker would make it."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    signature = b"" if key is None else hmac.new(key, signing_input.encode(), digest).digest()
    return f"{signing_input}.{b64(signature)}"


# -- the bearer token --------------------------------------------------------------------------


def test_missing_and_malformed_credentials(api: Api) -> None:
    error(api.http.get(PRIVATE), 401, "UNAUTHENTICATED")
    error(api.http.get(PRIVATE, headers={"Authorization": ""}), 401, "UNAUTHENTICATED")
    for header in ("Basic dXNlcjpwdw==", "Bearer", "Token abc", "bearer-abc"):
        error(api.http.get(PRIVATE, headers={"Authorization": header}), 401, "INVALID_TOKEN")
    for token in ("not-a-jwt", "a.b.c", "a.b", "....", "eyJhbGciOiJIUzI1NiJ9.e30"):
        error(api.http.get(PRIVATE, headers=bearer(token)), 401, "INVALID_TOKEN")
    # Every trading and account route asks for the token.
    routes = [
        ("POST", f"{API}/orders"),
        ("GET", f"{API}/orders"),
        ("GET", f"{API}/orders/1"),
        ("GET", f"{API}/orders/by-client-id/x"),
        ("DELETE", f"{API}/orders/1"),
        ("PATCH", f"{API}/orders/1"),
        ("DELETE", f"{API}/orders"),
        ("GET", f"{API}/fills"),
        ("GET", f"{API}/balances"),
        ("POST", f"{API}/admin/deposits"),
        ("POST", f"{API}/admin/markets/BTC-USDT/halt"),
    ]
    for method, path in routes:
        error(api.http.request(method, path, json={}), 401, "UNAUTHENTICATED")
    # Public market data does not.
    ok(api.http.get(f"{API}/markets"))


def test_token_rules(api: Api) -> None:
    good = jwt.encode(claims(), DEV_SECRET, algorithm="HS256")
    assert ok(api.http.get(PRIVATE, headers=bearer(good))) == []
    assert (
        ok(api.http.get(PRIVATE, headers={"Authorization": f"bearer {good}"})) == []
    )  # scheme is case-blind

    expired = jwt.encode(claims(exp=int(time.time()) - 5), DEV_SECRET, algorithm="HS256")
    error(api.http.get(PRIVATE, headers=bearer(expired)), 401, "TOKEN_EXPIRED")
    other_secret = jwt.encode(claims(), "another-secret-of-at-least-32-characters!", algorithm="HS256")
    assert (
        "signature"
        in error(api.http.get(PRIVATE, headers=bearer(other_secret)), 401, "INVALID_TOKEN")["message"]
    )
    tampered = good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB")
    error(api.http.get(PRIVATE, headers=bearer(tampered)), 401, "INVALID_TOKEN")
    wrong_algorithm = hand_made({"alg": "HS512", "typ": "JWT"}, claims(), DEV_SECRET.encode(), "sha512")
    assert (
        "HS256"
        in error(api.http.get(PRIVATE, headers=bearer(wrong_algorithm)), 401, "INVALID_TOKEN")["message"]
    )
    unsigned = hand_made({"alg": "none", "typ": "JWT"}, claims(), None)
    error(api.http.get(PRIVATE, headers=bearer(unsigned)), 401, "INVALID_TOKEN")
    unsigned_upper = hand_made({"alg": "NONE", "typ": "JWT"}, claims(), None)
    error(api.http.get(PRIVATE, headers=bearer(unsigned_upper)), 401, "INVALID_TOKEN")

    for payload in (
        {key: value for key, value in claims().items() if key != "exp"},  # exp is required
        {key: value for key, value in claims().items() if key != "sub"},  # sub too
        claims(user=""),
        claims(user="has space"),
        claims(user="x" * 65),
        claims(user=FEE_ACCOUNT),  # the exchange's fee account is nobody's login
        claims(roles=["superuser"]),
        claims(roles=[]),
        claims(roles="trader,admin"),
        claims(roles=[["admin"]]),  # not a name: was a 500 (unhashable)
        claims(roles=[{"admin": True}, "trader"]),
        claims(user="alice\n"),  # a user id is the whole subject
        claims(exp="tomorrow"),
    ):
        token = jwt.encode(payload, DEV_SECRET, algorithm="HS256")
        error(api.http.get(PRIVATE, headers=bearer(token)), 401, "INVALID_TOKEN")
    # A `role` string works like a one-element `roles` list; no role claim means trader.
    for payload in (claims(role="trader"), {k: v for k, v in claims().items() if k != "roles"}):
        ok(api.http.get(PRIVATE, headers=bearer(jwt.encode(payload, DEV_SECRET, algorithm="HS256"))))


def test_roles(api: Api) -> None:
    trader = api.user("trader")
    market = "BTC-USDT"
    admin_calls = [
        ("POST", f"{API}/admin/deposits", {"user_id": trader.id, "asset": QUOTE, "amount": "1"}),
        ("POST", f"{API}/admin/withdrawals", {"user_id": trader.id, "asset": QUOTE, "amount": "1"}),
        ("POST", f"{API}/admin/markets", {"symbol": "ZZZ-USDT", "tick_size": "0.01", "step_size": "0.01"}),
        ("POST", f"{API}/admin/markets/{market}/halt", None),
        ("POST", f"{API}/admin/markets/{market}/cancel-only", None),
        ("POST", f"{API}/admin/markets/{market}/resume", None),
    ]
    for method, path, body in admin_calls:
        error(api.http.request(method, path, json=body, headers=trader.headers), 403, "FORBIDDEN")
    assert api.balances(trader) == {}
    assert ok(api.http.get(f"{API}/markets/{market}"))["status"] == "TRADING"
    # An admin-only token may not trade, but may read its own (empty) account.
    admin_only = api.server.headers(fresh("ops"), "admin")
    order = {"market": market, "side": "BUY", "price": "1.00", "quantity": "1.00000"}
    error(api.http.post(f"{API}/orders", json=order, headers=admin_only), 403, "FORBIDDEN")
    assert ok(api.http.get(f"{API}/orders", headers=admin_only))["total"] == 0


def test_users_see_and_touch_only_their_own(api: Api) -> None:
    market = api.add_market()
    base = market.split("-", maxsplit=1)[0]
    alice, mallory = api.user("alice"), api.user("mallory")
    api.deposit(alice, QUOTE, "1000")
    api.deposit(alice, base, "10")
    api.deposit(mallory, QUOTE, "500")
    bid = api.order(alice, market=market, side="BUY", price="10.00", quantity="1.000", client_order_id="mine")
    ask = api.order(alice, market=market, side="SELL", price="20.00", quantity="2.000")
    api.order(mallory, market=market, side="BUY", price="20.00", quantity="1.000")  # a trade between them

    for path in (f"{API}/orders/{bid['order_id']}", f"{API}/orders/by-client-id/mine"):
        error(api.http.get(path, headers=mallory.headers), 404, "ORDER_NOT_FOUND")
        error(api.http.delete(path, headers=mallory.headers), 404, "ORDER_NOT_FOUND")
        error(
            api.http.patch(path, json={"quantity": "0.500"}, headers=mallory.headers), 404, "ORDER_NOT_FOUND"
        )
    assert ok(api.http.delete(f"{API}/orders", headers=mallory.headers)) == {"cancelled": []}
    assert api.get_order(alice, bid["order_id"])["status"] == "NEW"
    assert api.get_order(alice, bid["order_id"])["quantity"] == "1.000"

    # Each side sees the trade as its own fill, and only its own orders and balances.
    (alice_fill,) = api.fills(alice)["fills"]
    (mallory_fill,) = api.fills(mallory)["fills"]
    assert alice_fill["trade_id"] == mallory_fill["trade_id"]
    assert (alice_fill["order_id"], alice_fill["side"], alice_fill["role"]) == (
        ask["order_id"],
        "SELL",
        "MAKER",
    )
    assert (mallory_fill["side"], mallory_fill["role"], mallory_fill["fee"]) == ("BUY", "TAKER", "0.04000000")
    assert {o["order_id"] for o in api.orders(mallory)["orders"]} == {mallory_fill["order_id"]}
    assert set(api.balances(mallory)) == {QUOTE, base}
    assert api.balances(mallory)[base]["total"] == "1.00000000"
    assert api.balances(alice)[base]["total"] == "9.00000000"


# -- issuer and audience ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def audience_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    settings = {
        "TRADE_ENGINE_AUTH_ISSUER": "https://auth.example",
        "TRADE_ENGINE_AUTH_AUDIENCE": "trade-engine",
    }
    with running_server("sqlite", tmp_path_factory.mktemp("audience"), **settings) as server:
        yield server


def test_issuer_and_audience_are_checked_when_configured(audience_server: Server) -> None:
    url = f"{audience_server.url}{PRIVATE}"
    minted = audience_server.headers(fresh("user"))  # the CLI's tokens carry both
    assert ok(httpx.get(url, headers=minted)) == []
    right = {"iss": "https://auth.example", "aud": "trade-engine"}
    assert (
        ok(httpx.get(url, headers=bearer(jwt.encode(claims(**right), DEV_SECRET, algorithm="HS256")))) == []
    )
    for wrong in (
        {"iss": "https://auth.example", "aud": "someone-else"},
        {"iss": "https://auth.example", "aud": ["other", "another"]},
        {"iss": "https://evil.example", "aud": "trade-engine"},
        {"aud": "trade-engine"},
        {"iss": "https://auth.example"},
    ):
        token = jwt.encode(claims(**wrong), DEV_SECRET, algorithm="HS256")
        error(httpx.get(url, headers=bearer(token)), 401, "INVALID_TOKEN")
    several = jwt.encode(
        claims(iss="https://auth.example", aud=["other", "trade-engine"]), DEV_SECRET, algorithm="HS256"
    )
    assert ok(httpx.get(url, headers=bearer(several))) == []


# -- RS256 ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rsa_keys() -> tuple[bytes, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public.decode()


@pytest.fixture(scope="module")
def rsa_server(tmp_path_factory: pytest.TempPathFactory, rsa_keys: tuple[bytes, str]) -> Iterator[Server]:
    _, public = rsa_keys
    settings = {"TRADE_ENGINE_AUTH_ALGORITHM": "RS256", "TRADE_ENGINE_AUTH_PUBLIC_KEY": public}
    with running_server("sqlite", tmp_path_factory.mktemp("rsa"), **settings) as server:
        yield server


def test_rs256_tokens_and_no_algorithm_confusion(rsa_server: Server, rsa_keys: tuple[bytes, str]) -> None:
    private, public = rsa_keys
    url = f"{rsa_server.url}{PRIVATE}"
    signed = jwt.encode(claims(), private, algorithm="RS256")
    assert ok(httpx.get(url, headers=bearer(signed))) == []
    # The classic confusion: an HS256 token "signed" with the public key as HMAC secret.
    confused = hand_made({"alg": "HS256", "typ": "JWT"}, claims(), public.encode())
    assert "RS256" in error(httpx.get(url, headers=bearer(confused)), 401, "INVALID_TOKEN")["message"]
    # Tokens of the development secret mean nothing to this server.
    error(
        httpx.get(url, headers=bearer(jwt.encode(claims(), DEV_SECRET, algorithm="HS256"))),
        401,
        "INVALID_TOKEN",
    )
    error(httpx.get(url, headers=bearer(hand_made({"alg": "none"}, claims(), None))), 401, "INVALID_TOKEN")
    # Signed by another key pair.
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    error(
        httpx.get(url, headers=bearer(jwt.encode(claims(), stranger, algorithm="RS256"))),
        401,
        "INVALID_TOKEN",
    )
    # RS512 with the right key is still not the configured algorithm.
    error(
        httpx.get(url, headers=bearer(jwt.encode(claims(), private, algorithm="RS512"))), 401, "INVALID_TOKEN"
    )


# -- rate limits ----------------------------------------------------------------------------------------

USER_BURST = 3
IP_BURST = 6


@pytest.fixture(scope="module")
def limited_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    # Refill so slow (one token per 1000 s) that no token comes back during the test.
    settings = {
        "TRADE_ENGINE_RATE_LIMITS_ENABLED": "true",
        "TRADE_ENGINE_RATE_LIMITS_PER_USER_PER_SECOND": "0.001",
        "TRADE_ENGINE_RATE_LIMITS_PER_USER_BURST": str(USER_BURST),
        "TRADE_ENGINE_RATE_LIMITS_PER_IP_PER_SECOND": "0.001",
        "TRADE_ENGINE_RATE_LIMITS_PER_IP_BURST": str(IP_BURST),
    }
    with running_server("sqlite", tmp_path_factory.mktemp("limited"), **settings) as server:
        yield server


def client_from(server: Server, address: str) -> httpx.Client:
    """A client whose requests come from `address` (another loopback address: another IP)."""
    return httpx.Client(base_url=server.url, transport=httpx.HTTPTransport(local_address=address), timeout=10)


def assert_limited(response: httpx.Response, who: str) -> None:
    details = error(response, 429, "RATE_LIMITED")
    assert who in details["message"]
    retry_after = int(response.headers["Retry-After"])
    assert retry_after >= 1
    assert details["details"] == {"retry_after_seconds": retry_after}


def test_rate_limit_per_user(limited_server: Server) -> None:
    headers = limited_server.headers(fresh("busy"))
    # The user's requests come from several addresses: the user's bucket still empties.
    for index in range(USER_BURST):
        with client_from(limited_server, f"127.0.0.{10 + index}") as http:
            ok(http.get(PRIVATE, headers=headers))
    with client_from(limited_server, "127.0.0.20") as http:
        assert_limited(http.get(PRIVATE, headers=headers), "this user")
        ok(http.get(PRIVATE, headers=limited_server.headers(fresh("calm"))))  # another user is not limited


def test_rate_limit_per_address(limited_server: Server) -> None:
    with client_from(limited_server, "127.0.0.30") as http:
        for _ in range(IP_BURST):
            ok(http.get(f"{API}/markets"))
        assert_limited(http.get(f"{API}/markets"), "this address")
        assert_limited(http.get(PRIVATE, headers=limited_server.headers(fresh("fresh"))), "this address")
        # The order routes too (they are served outside the framework).
        order = {"market": "BTC-USDT", "side": "BUY", "price": "100.00", "quantity": "0.01000"}
        trader = limited_server.headers(fresh("fresh"))
        assert_limited(http.post(f"{API}/orders", json=order, headers=trader), "this address")
        assert_limited(http.delete(f"{API}/orders/1", headers=trader), "this address")
        # Probes and scrapes are never limited: a limited probe would take the instance out.
        for path in ("/health", "/ready", "/metrics"):
            assert http.get(path).status_code == 200
    with client_from(limited_server, "127.0.0.31") as http:
        ok(http.get(f"{API}/markets"))  # another address has its own bucket
