"""The audit trail of operator actions: who changed what, when, through the admin API.

One mechanism for every admin endpoint: the route table wraps each admin route that is
not a read (`audited`), which records every request its handler carried out into the
`audit_log` table: the admin's user id (the principal the request was authorized as),
the method and route, the target (the route's parameters, or the subject named in the
body), a short summary of the request body with anything secret left out, the status
and the request id. Responses are never recorded (an API key's secret travels in one).

The entry is written before the response starts, so a client that got its answer
finds the entry in the log. Writing it can fail (the database is unreachable or busy
beyond `AUDIT_TIMEOUT_SECONDS`, as in an outage just after the action committed); the
admin action has then already happened and its answer is sent unchanged. The entry is
kept (`AuditTrail`, logged as a warning with everything it holds) and written once the
database takes it again, in the order the actions happened, with the time they
happened. Only an entry that can no longer be written (the service stops with the
database still away, or more than `MAX_PENDING` wait) is logged as an error, with
everything it would have held, so it is never lost silently.
"""

import asyncio
import contextvars
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Final

import msgspec
from sqlalchemy.ext.asyncio import AsyncEngine

from trade_engine.edge.client_json import decode
from trade_engine.edge.routes import Call, Handler
from trade_engine.observability.logging import request_id
from trade_engine.storage.operations import AuditEntry, record_audit

log = logging.getLogger(__name__)

AUDIT_TIMEOUT_SECONDS: Final = 5.0
RETRY_SECONDS: Final = 1.0
MAX_PENDING: Final = 10_000
# Bodies are small (the API caps them); only this much is looked at for the summary.
MAX_BODY_KEPT: Final = 16_384
MAX_FIELDS: Final = 20
MAX_TEXT: Final = 80
MAX_ITEMS: Final = 10
REDACTED: Final = "[redacted]"
_decoder: Final = msgspec.json.Decoder()
# A field whose name contains one of these is never recorded, whatever the endpoint.
SECRET_WORDS: Final = ("secret", "token", "password", "passphrase", "private", "credential", "signature")


def is_secret(name: str) -> bool:
    lowered = name.lower()
    return any(word in lowered for word in SECRET_WORDS)


def summarize(body: bytes) -> dict[str, Any]:
    """A short, secret-free summary of a JSON request body: its scalar fields (long text
    cut), short lists of scalars, nested objects only named. Empty for no body."""
    if not body.strip():
        return {}
    try:
        decoded = decode(_decoder, body)
    except msgspec.DecodeError:
        return {"body": f"{len(body)} bytes, not JSON"}
    if not isinstance(decoded, dict):
        return {"body": f"a JSON {type(decoded).__name__}"}
    summary: dict[str, Any] = {}
    for index, (name, value) in enumerate(decoded.items()):
        if index == MAX_FIELDS:
            summary["..."] = f"{len(decoded) - MAX_FIELDS} more fields"
            break
        key = _text(str(name))
        summary[key] = REDACTED if is_secret(key) else _value(value)
    return summary


def _text(value: str) -> str:
    return value if len(value) <= MAX_TEXT else value[: MAX_TEXT - 1] + "…"


def _value(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, list):
        items = [_value(item) if not isinstance(item, list | dict) else "…" for item in value[:MAX_ITEMS]]
        return [*items, "…"] if len(value) > MAX_ITEMS else items
    return "{…}"


def target_of(path_params: dict[str, Any], summary: dict[str, Any]) -> str | None:
    """What the action was applied to: the route's parameters (a market, an API key), or
    the market or user the body names."""
    if path_params:
        return ",".join(str(value) for value in path_params.values())
    for field in ("symbol", "user_id"):
        value = summary.get(field)
        if isinstance(value, str):
            return value
    return None


class AuditTrail:
    """Writes audit entries, keeping those the database did not take and writing them
    in order once it does (module docstring)."""

    def __init__(
        self,
        database: Callable[[], AsyncEngine],
        *,
        timeout_seconds: float = AUDIT_TIMEOUT_SECONDS,
        retry_seconds: float = RETRY_SECONDS,
        max_pending: int = MAX_PENDING,
    ) -> None:
        self._database = database
        self._timeout = timeout_seconds
        self._retry = retry_seconds
        self._max_pending = max_pending
        self._pending: deque[AuditEntry] = deque()
        self._retrying: asyncio.Task[None] | None = None

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def record(self, entry: AuditEntry) -> None:
        log.info("admin action", extra=_context(entry))
        if self._pending:  # behind the entries already waiting, so they stay in order
            self._keep(entry, "earlier entries are waiting for the database")
            return
        try:
            await self._write(entry)
        except Exception as error:
            self._keep(entry, f"{type(error).__name__}: {error}")

    async def close(self) -> None:
        """Stop retrying; one last try for what waits, and each entry still not written
        is logged as an error."""
        if self._retrying is not None:
            self._retrying.cancel()
            await asyncio.gather(self._retrying, return_exceptions=True)
        await self._write_pending()
        while self._pending:
            self._lost(self._pending.popleft(), "the service stopped before the database took it")

    async def _write(self, entry: AuditEntry) -> None:
        async with asyncio.timeout(self._timeout):
            await record_audit(self._database(), entry)

    def _keep(self, entry: AuditEntry, reason: str) -> None:
        log.warning("audit entry kept to write later", extra={**_context(entry), "error": reason})
        self._pending.append(entry)
        if len(self._pending) > self._max_pending:
            self._lost(self._pending.popleft(), f"more than {self._max_pending} entries were waiting")
        if self._retrying is None or self._retrying.done():
            # In a context of its own: its log lines belong to no request.
            self._retrying = asyncio.get_running_loop().create_task(
                self._retry_until_written(), name="audit-retry", context=contextvars.Context()
            )

    async def _retry_until_written(self) -> None:
        while self._pending:
            await asyncio.sleep(self._retry)
            await self._write_pending()

    async def _write_pending(self) -> None:
        """Write the waiting entries, oldest first, until one fails (the database is still
        away) or none is left."""
        while self._pending:
            entry = self._pending[0]
            try:
                await self._write(entry)
            except Exception as error:
                log.info(
                    "audit entries still waiting", extra={"pending": len(self._pending), "error": str(error)}
                )
                return
            self._pending.popleft()
            log.info("audit entry written late", extra=_context(entry))

    @staticmethod
    def _lost(entry: AuditEntry, reason: str) -> None:
        log.error("audit entry not written", extra={**_context(entry), "error": reason})


def _context(entry: AuditEntry) -> dict[str, object]:
    return {
        "actor": entry.actor,
        "action": entry.action,
        "target": entry.target,
        "summary": entry.summary,
        "at_ns": entry.ts,
        "audited_request_id": entry.request_id,
    }


def audited(handler: Handler, trail: AuditTrail, method: str, route: str, status: int) -> Handler:
    """`handler`, recording each call it carries out (module docstring)."""

    async def record_after(call: Call) -> object:
        answer = await handler(call)
        await trail.record(_entry(call, f"{method} {route}", status))
        return answer

    record_after.__name__ = getattr(handler, "__name__", "audited")
    record_after.__doc__ = handler.__doc__
    record_after.audited = True  # type: ignore[attr-defined]
    return record_after


def is_audited(handler: Handler) -> bool:
    return getattr(handler, "audited", False) is True


def _entry(call: Call, action: str, status: int) -> AuditEntry:
    summary = summarize(call.request.raw_body[:MAX_BODY_KEPT])
    return AuditEntry(
        ts=time.time_ns(),
        actor=call.user().user_id,
        action=action,
        target=target_of(call.request.path_params, summary),
        summary=msgspec.json.encode(summary).decode(),
        status=status,
        request_id=request_id.get(),
    )
