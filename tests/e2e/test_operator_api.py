"""The operator endpoints over real HTTP, on both databases: transfers, the audit log,
metrics as JSON, ledger verification."""

from decimal import Decimal

from tests.e2e.client import API, QUOTE, Api, error, fresh, ok


def admin_headers(api: Api) -> tuple[str, dict[str, str]]:
    admin = fresh("ops")
    return admin, api.server.headers(admin, "admin")


def test_transfers_are_listed_newest_first_with_references_and_filters(api: Api) -> None:
    _, admin = admin_headers(api)
    user = api.user("funded")
    reference = fresh("wallet")
    api.deposit(user, QUOTE, "100.5", reference)
    api.deposit(user, "BTC", "2")
    body = {"user_id": user.id, "asset": QUOTE, "amount": "0.5", "reference": None}
    ok(api.http.post(f"{API}/admin/withdrawals", json=body, headers=admin), 201)

    page = ok(api.http.get(f"{API}/admin/transfers", params={"user_id": user.id}, headers=admin))
    assert page["total"] == 3
    assert page["has_more"] is False
    listed = [(t["kind"], t["asset"], t["amount"], t["reference"]) for t in page["transfers"]]
    assert listed == [
        ("WITHDRAWAL", QUOTE, "0.50000000", None),
        ("DEPOSIT", "BTC", "2.00000000", None),
        ("DEPOSIT", QUOTE, "100.50000000", reference),
    ]
    assert all(t["user_id"] == user.id and t["time"] > 0 for t in page["transfers"])
    first = ok(api.http.get(f"{API}/admin/transfers", params={"user_id": user.id, "limit": 1}, headers=admin))
    assert (first["total"], first["has_more"], len(first["transfers"])) == (3, True, 1)
    deposits = {"user_id": user.id, "kind": "DEPOSIT", "asset": QUOTE}
    only = ok(api.http.get(f"{API}/admin/transfers", params=deposits, headers=admin))
    assert [t["reference"] for t in only["transfers"]] == [reference]


def test_operator_endpoints_are_for_admins_only(api: Api) -> None:
    trader = api.user("trader")
    for path in ("transfers", "audit-log", "metrics", "ledger/verifications/latest"):
        error(api.http.get(f"{API}/admin/{path}", headers=trader.headers), 403, "FORBIDDEN")
        error(api.http.get(f"{API}/admin/{path}"), 401, "UNAUTHENTICATED")
    error(api.http.post(f"{API}/admin/ledger/verifications", headers=trader.headers), 403, "FORBIDDEN")


def test_bad_paging_and_filters_get_validation_errors(api: Api) -> None:
    _, admin = admin_headers(api)
    for params in ({"limit": 0}, {"limit": 1001}, {"offset": -1}, {"kind": "GIFT"}, {"asset": "usdt"}):
        error(api.http.get(f"{API}/admin/transfers", params=params, headers=admin), 400, "VALIDATION_ERROR")
    error(
        api.http.get(f"{API}/admin/audit-log", params={"limit": "x"}, headers=admin), 400, "VALIDATION_ERROR"
    )


def test_admin_changes_are_audited_with_who_what_and_when(api: Api) -> None:
    admin_id, admin = admin_headers(api)
    market = api.add_market()
    user = api.user("keyholder")
    ok(api.http.post(f"{API}/admin/markets/{market}/halt", headers=admin))
    ok(api.http.post(f"{API}/admin/markets/{market}/resume", headers=admin))
    key_body = {"user_id": user.id, "permissions": ["read"], "label": "reporting"}
    created = ok(api.http.post(f"{API}/admin/api-keys", json=key_body, headers=admin), 201)
    ok(api.http.get(f"{API}/admin/api-keys", headers=admin))  # a read: not audited
    refused = {"user_id": user.id, "asset": "NOPE", "amount": "1"}
    error(api.http.post(f"{API}/admin/deposits", json=refused, headers=admin), 404, "UNKNOWN_ASSET")

    log = ok(api.http.get(f"{API}/admin/audit-log", params={"limit": 1000}, headers=admin))
    mine = [entry for entry in log["entries"] if entry["actor"] == admin_id]
    assert [(e["action"], e["target"], e["status"]) for e in mine] == [
        ("POST /api/v1/admin/api-keys", user.id, 201),
        ("POST /api/v1/admin/markets/{symbol}/resume", market, 200),
        ("POST /api/v1/admin/markets/{symbol}/halt", market, 200),
    ]
    assert mine[0]["summary"] == key_body
    assert created["secret"] not in str(log)
    assert all(entry["time"] > 0 for entry in mine)
    assert all(entry["request_id"] for entry in mine)
    assert log["total"] >= len(mine)


def test_metrics_count_orders_and_trades_and_say_over_how_long_rates_are(api: Api) -> None:
    _, admin = admin_headers(api)
    market = api.add_market()
    base = market.split("-", maxsplit=1)[0]
    alice, bob = api.user("alice"), api.user("bob")
    api.deposit(alice, QUOTE, "1000")
    api.deposit(bob, base, "10")
    before = ok(api.http.get(f"{API}/admin/metrics", headers=admin))

    api.order(alice, market=market, side="BUY", price="10.00", quantity="2.000")
    api.order(bob, market=market, side="SELL", price="10.00", quantity="1.000")

    after = ok(api.http.get(f"{API}/admin/metrics", headers=admin))
    assert after["orders_total"] - before["orders_total"] >= 2
    assert after["trades_total"] - before["trades_total"] >= 1
    assert after["readiness"] == {
        "ready": True,
        "recovered": True,
        "database": True,
        "accepting_orders": True,
    }
    assert after["queue_depth"] >= 0
    assert after["websocket_clients"] >= 0
    assert after["commit_latency"]["last_ms"] >= 0
    if after["window_seconds"] is not None:  # two readings a second apart (earlier tests may have read)
        assert after["window_seconds"] >= 1
        assert after["orders_per_second"] >= 0
        assert after["trades_per_second"] >= 0


def test_ledger_verification_runs_on_the_live_store_and_is_kept(api: Api) -> None:
    _, admin = admin_headers(api)
    user = api.user("verified")
    api.deposit(user, QUOTE, "42")

    result = ok(api.http.post(f"{API}/admin/ledger/verifications", headers=admin))

    assert result["outcome"] == "CONSISTENT", result
    assert (result["problems"], result["problem_count"], result["error"]) == ([], 0, None)
    assert result["markets"] >= 3
    assert result["accounts"] >= 1
    assert result["finished_at"] >= result["started_at"]
    assert Decimal(str(result["duration_ms"])) >= 0
    latest = ok(api.http.get(f"{API}/admin/ledger/verifications/latest", headers=admin))
    assert latest["running"] is False
    assert latest["last"]["finished_at"] >= result["finished_at"]
