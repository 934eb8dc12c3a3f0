"""The audit trail middleware (api/audit.py) around a stand-in admin endpoint, writing to
a real SQLite database: what it records, what it leaves out, and that a failed write
never changes the admin's answer but is logged as an error."""

import asyncio
import json
import logging
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from trade_engine.api.audit import audit_trail
from trade_engine.api.auth import Authenticator, mint_token
from trade_engine.config import load_config
from trade_engine.storage.database import open_database
from trade_engine.storage.migrate import upgrade
from trade_engine.storage.operations import audit_rows

CONFIG = load_config(None, {})


def endpoint(status: int, answer: bytes = b'{"success": true}'):
    """A stand-in for an admin handler: reads the whole body, answers with `status`."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        more = True
        while more:
            message = await receive()
            more = message.get("more_body", False)
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": answer, "more_body": False})

    return app


def call(database: Any, method: str, path: str, body: bytes, status: int, route: str | None = None,
         params: dict[str, str] | None = None, user: str = "ops") -> list[dict[str, Any]]:  # fmt: skip
    """Run one request through the middleware; the messages the client received."""
    services = SimpleNamespace(auth=Authenticator(CONFIG), core=SimpleNamespace(database=database))
    token = mint_token(CONFIG, user, ["admin"])
    scope: Any = {
        "type": "http",
        "method": method,
        "path": path,
        "path_template": route or path,
        "path_params": params or {},
        "headers": [(b"authorization", f"Bearer {token}".encode())],
        "app": SimpleNamespace(state=SimpleNamespace(services=services)),
    }
    chunks = [body[:5], body[5:]]  # the body in two parts, as a client may send it
    sent: list[dict[str, Any]] = []

    async def receive() -> Any:
        chunk = chunks.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}

    async def send(message: Any) -> None:
        sent.append(message)

    async def request() -> None:
        await audit_trail(endpoint(status))(scope, receive, send)

    asyncio.run(request())
    return sent


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


def test_reads_refusals_and_other_paths_are_not_recorded(database: Any) -> None:
    call(database, "GET", "/api/v1/admin/api-keys", b"", 200)
    call(database, "POST", "/api/v1/admin/deposits", b'{"user_id": "x"}', 400)
    call(database, "POST", "/api/v1/admin/markets", b"{}", 403)
    call(database, "POST", "/api/v1/orders", b'{"market": "BTC-USDT"}', 201)
    assert entries(database) == []


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
    sent = call(unmigrated, "POST", "/api/v1/admin/deposits", b'{"user_id": "carol", "amount": "5"}', 201)
    asyncio.run(unmigrated.dispose())

    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    assert sent[0]["status"] == 201
    (failure,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert failure.getMessage() == "audit entry not written"
    assert (failure.actor, failure.action, failure.target) == ("ops", "POST /api/v1/admin/deposits", "carol")  # type: ignore[attr-defined]
    assert "OperationalError" in failure.error  # type: ignore[attr-defined]
