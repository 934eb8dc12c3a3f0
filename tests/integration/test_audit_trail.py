"""The audit trail (api/audit.py) around stand-in admin handlers, writing to a real SQLite
database: what it records, what it leaves out, which routes it wraps, and that a failed
write never changes the admin's answer but is logged as an error."""

import asyncio
import json
import logging
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from trade_engine.api import routes
from trade_engine.api.audit import audited, is_audited
from trade_engine.api.native import NativeApi
from trade_engine.config import load_config
from trade_engine.domain.errors import ErrorCode, TradeEngineError
from trade_engine.edge.auth import Principal
from trade_engine.edge.gateway import Gateway
from trade_engine.edge.http import Request
from trade_engine.edge.routes import Access, Call
from trade_engine.storage.database import open_database
from trade_engine.storage.migrate import upgrade
from trade_engine.storage.operations import audit_rows

CONFIG = load_config(None, {})


def call(database: Any, method: str, path: str, body: bytes, status: int, route: str | None = None,
         params: dict[str, str] | None = None, user: str = "ops", refused: bool = False,
         ) -> object:  # fmt: skip
    """Run one request through an audited stand-in handler; what the handler answered."""
    gateway: Any = SimpleNamespace(database=lambda: database)

    async def handler(call: Call) -> object:
        await call.request.body(65_536)  # as a real handler reads its body
        if refused:
            raise TradeEngineError(ErrorCode.VALIDATION_ERROR, "refused")
        return {"done": True}

    wrapped = audited(handler, gateway, method, route or path, status)
    chunks = [body[:5], body[5:]]  # the body in two parts, as a client may send it

    async def receive() -> Any:
        chunk = chunks.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}

    async def request() -> object:
        scope: Any = {"type": "http", "method": method, "path": path, "headers": []}
        incoming = Request(scope, receive)
        incoming.path_params = params or {}
        principal = Principal(user, frozenset({"admin"}))
        try:
            return await wrapped(Call(incoming, principal, None, None, None))
        except TradeEngineError as error:
            return error

    return asyncio.run(request())


def entries(database: Any) -> list[dict[str, Any]]:
    rows, _ = asyncio.run(audit_rows(database, limit=100, offset=0))
    return rows


@pytest.fixture
def database(tmp_path: Path) -> Any:
    engine = open_database(f"sqlite:///{tmp_path}/audit.db")
    asyncio.run(upgrade(engine))
    yield engine
    asyncio.run(engine.dispose())


def test_a_successful_admin_change_is_recorded(database: Any) -> None:
    body = json.dumps({"user_id": "alice", "permissions": ["read"], "label": "bot"}).encode()
    call(database, "POST", "/api/v1/admin/api-keys", body, 201, user="ops-7")
    call(database, "POST", "/api/v1/admin/markets/BTC-USDT/halt", b"", 200,
         route="/api/v1/admin/markets/{symbol}/halt", params={"symbol": "BTC-USDT"})  # fmt: skip

    halt, create = entries(database)
    assert (create["actor"], create["action"], create["target"], create["status"]) == (
        "ops-7",
        "POST /api/v1/admin/api-keys",
        "alice",
        201,
    )
    assert json.loads(create["summary"]) == {"user_id": "alice", "permissions": ["read"], "label": "bot"}
    assert (halt["action"], halt["target"], json.loads(halt["summary"])) == (
        "POST /api/v1/admin/markets/{symbol}/halt",
        "BTC-USDT",
        {},
    )
    assert halt["ts"] > 0
    assert create["ts"] > 0


def test_a_refused_change_is_not_recorded(database: Any) -> None:
    answer = call(database, "POST", "/api/v1/admin/deposits", b'{"user_id": "x"}', 201, refused=True)
    assert isinstance(answer, TradeEngineError)
    assert entries(database) == []


def test_exactly_the_admin_changes_are_audited() -> None:
    gateway = Gateway(CONFIG)
    table = routes.routes(gateway, NativeApi(gateway.auth, gateway.limiter))
    wrapped = {(route.method, route.path) for route in table if is_audited(route.handler)}
    changes = {
        (route.method, route.path)
        for route in table
        if route.access is Access.ADMIN and route.method != "GET"
    }
    assert wrapped == changes
    assert ("POST", "/api/v1/admin/deposits") in wrapped
    assert ("POST", "/api/v1/admin/ledger/verifications") in wrapped
    assert ("GET", "/api/v1/admin/api-keys") not in wrapped
    assert ("POST", "/api/v1/orders") not in wrapped


def test_a_secret_in_a_body_never_reaches_the_log(database: Any) -> None:
    call(database, "POST", "/api/v1/admin/api-keys", b'{"user_id": "bob", "secret": "s3cr3t"}', 201)
    (entry,) = entries(database)
    assert "s3cr3t" not in json.dumps(entry)
    assert json.loads(entry["summary"]) == {"user_id": "bob", "secret": "[redacted]"}


def test_a_failed_write_keeps_the_answer_and_is_logged_as_an_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    unmigrated = open_database(f"sqlite:///{tmp_path}/no-audit-table.db")
    caplog.set_level(logging.INFO, logger="trade_engine.api.audit")
    answer = call(unmigrated, "POST", "/api/v1/admin/deposits", b'{"user_id": "carol", "amount": "5"}', 201)
    asyncio.run(unmigrated.dispose())

    assert answer == {"done": True}
    (failure,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert failure.getMessage() == "audit entry not written"
    assert (failure.actor, failure.action, failure.target) == ("ops", "POST /api/v1/admin/deposits", "carol")  # type: ignore[attr-defined]
    assert "OperationalError" in failure.error  # type: ignore[attr-defined]
