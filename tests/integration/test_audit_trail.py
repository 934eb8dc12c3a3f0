"""The audit trail (api/audit.py) around stand-in admin handlers, writing to a real SQLite
database: what it records, what it leaves out, which routes it wraps, and that a failed
write never changes the admin's answer: the entry is kept and written once the database
takes it, and only one that can no longer be written is logged as an error."""

import asyncio
import json
import logging
import time
from pathlib import Path
from typing import Any

import pytest

from trade_engine.api import routes
from trade_engine.api.audit import AuditTrail, audited, is_audited
from trade_engine.api.native import NativeApi
from trade_engine.config import load_config
from trade_engine.domain.errors import ErrorCode, TradeEngineError
from trade_engine.edge.auth import Principal
from trade_engine.edge.gateway import Gateway
from trade_engine.edge.http import Request
from trade_engine.edge.routes import Access, Call
from trade_engine.storage.database import open_database
from trade_engine.storage.migrate import upgrade
from trade_engine.storage.operations import OperatorHistory

CONFIG = load_config(None, {})


def call(database: Any, method: str, path: str, body: bytes, status: int, route: str | None = None,
         params: dict[str, str] | None = None, user: str = "ops", refused: bool = False,
         ) -> object:  # fmt: skip
    """Run one request through an audited stand-in handler; what the handler answered."""
    return asyncio.run(
        answer(AuditTrail(lambda: database), method, path, body, status, route, params, user, refused)
    )


async def answer(trail: AuditTrail, method: str, path: str, body: bytes, status: int,
                 route: str | None = None, params: dict[str, str] | None = None, user: str = "ops",
                 refused: bool = False) -> object:  # fmt: skip
    """`call`, inside a running event loop and through a given trail."""

    async def handler(call: Call) -> object:
        await call.request.body(65_536)  # as a real handler reads its body
        if refused:
            raise TradeEngineError(ErrorCode.VALIDATION_ERROR, "refused")
        return {"done": True}

    wrapped = audited(handler, trail, method, route or path, status)
    chunks = [body[:5], body[5:]]  # the body in two parts, as a client may send it

    async def receive() -> Any:
        chunk = chunks.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}

    scope: Any = {"type": "http", "method": method, "path": path, "headers": []}
    incoming = Request(scope, receive)
    incoming.path_params = params or {}
    principal = Principal(user, frozenset({"admin"}))
    try:
        return await wrapped(Call(incoming, principal, None, None, None))
    except TradeEngineError as error:
        return error


def entries(database: Any) -> list[dict[str, Any]]:
    rows, _ = asyncio.run(OperatorHistory(database).audit_rows(limit=100, offset=0))
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
    table = routes.routes(gateway, NativeApi(gateway.auth, gateway.limiter), AuditTrail(gateway.database))
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


def test_an_entry_the_database_refuses_is_kept_and_written_once_it_takes_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # The database refuses the writes (its audit table is not there yet, as a database
    # that is away refuses them); the admin's answers are unchanged, the entries wait,
    # in order, and are written once the table exists, with the time of the action.
    database = open_database(f"sqlite:///{tmp_path}/late.db")
    caplog.set_level(logging.INFO, logger="trade_engine.api.audit")

    async def scenario() -> list[object]:
        trail = AuditTrail(lambda: database, retry_seconds=0.05)
        answers = [
            await answer(
                trail, "POST", "/api/v1/admin/deposits", b'{"user_id": "carol", "amount": "5"}', 201
            ),
            await answer(
                trail, "POST", "/api/v1/admin/withdrawals", b'{"user_id": "dave", "amount": "1"}', 201
            ),
        ]
        assert trail.pending == 2
        await upgrade(database)
        async with asyncio.timeout(10):
            while trail.pending:
                await asyncio.sleep(0.05)
        await trail.close()
        return answers

    before = time.time_ns()
    assert asyncio.run(scenario()) == [{"done": True}, {"done": True}]
    withdrawal, deposit = entries(database)
    asyncio.run(database.dispose())
    assert (deposit["target"], withdrawal["target"]) == ("carol", "dave")
    assert before <= deposit["ts"] <= withdrawal["ts"]
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
    kept = [r for r in caplog.records if r.getMessage() == "audit entry kept to write later"]
    assert [r.target for r in kept] == ["carol", "dave"]  # type: ignore[attr-defined]
    assert "OperationalError" in kept[0].error  # type: ignore[attr-defined]
    assert len([r for r in caplog.records if r.getMessage() == "audit entry written late"]) == 2


def test_an_entry_never_written_is_logged_as_an_error_when_the_trail_closes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    unmigrated = open_database(f"sqlite:///{tmp_path}/no-audit-table.db")
    caplog.set_level(logging.INFO, logger="trade_engine.api.audit")

    async def scenario() -> object:
        trail = AuditTrail(lambda: unmigrated, retry_seconds=0.05)
        answered = await answer(
            trail, "POST", "/api/v1/admin/deposits", b'{"user_id": "carol", "amount": "5"}', 201
        )
        await asyncio.sleep(0.2)  # a few retries, all refused
        assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
        await trail.close()
        return answered

    assert asyncio.run(scenario()) == {"done": True}
    asyncio.run(unmigrated.dispose())
    (failure,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert failure.getMessage() == "audit entry not written"
    assert (failure.actor, failure.action, failure.target) == ("ops", "POST /api/v1/admin/deposits", "carol")  # type: ignore[attr-defined]
    assert "stopped" in failure.error  # type: ignore[attr-defined]


def test_the_oldest_entry_is_given_up_when_too_many_wait(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    unmigrated = open_database(f"sqlite:///{tmp_path}/no-audit-table.db")
    caplog.set_level(logging.INFO, logger="trade_engine.api.audit")

    async def scenario() -> int:
        trail = AuditTrail(lambda: unmigrated, retry_seconds=60, max_pending=2)
        for user in ("a", "b", "c"):
            await answer(trail, "POST", "/api/v1/admin/deposits", f'{{"user_id": "{user}"}}'.encode(), 201)
        waiting = trail.pending
        await trail.close()
        return waiting

    assert asyncio.run(scenario()) == 2
    asyncio.run(unmigrated.dispose())
    lost = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert [r.target for r in lost] == ["a", "b", "c"]  # type: ignore[attr-defined]
    assert "more than 2" in lost[0].error  # type: ignore[attr-defined]
