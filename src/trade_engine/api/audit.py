"""The audit trail of operator actions: who changed what, when, through the admin API.

One mechanism for every admin endpoint: the route table wraps each admin route that is
not a read (`audited`), which records every request its handler carried out into the
`audit_log` table: the admin's user id (the principal the request was authorized as),
the method and route, the target (the route's parameters, or the subject named in the
body), a short summary of the request body with anything secret left out, the status
and the request id. Responses are never recorded (an API key's secret travels in one).

The entry is written before the response starts, so a client that got its answer
finds the entry in the log. Writing it can fail (the database is unreachable or
busy beyond `AUDIT_TIMEOUT_SECONDS`); the admin action has then already happened and
its answer is sent unchanged, and the failure is logged as an error with everything
the entry would have held, so it is never lost silently.
"""

import asyncio
import logging
import time
from typing import Any, Final

import msgspec

from trade_engine.edge.gateway import Gateway
from trade_engine.edge.routes import Call, Handler
from trade_engine.observability.logging import request_id
from trade_engine.storage.operations import AuditEntry, record_audit

log = logging.getLogger(__name__)

AUDIT_TIMEOUT_SECONDS: Final = 5.0
# Bodies are small (the API caps them); only this much is looked at for the summary.
MAX_BODY_KEPT: Final = 16_384
MAX_FIELDS: Final = 20
MAX_TEXT: Final = 80
MAX_ITEMS: Final = 10
REDACTED: Final = "[redacted]"
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
        decoded = msgspec.json.decode(body)
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


def audited(handler: Handler, gateway: Gateway, method: str, route: str, status: int) -> Handler:
    """`handler`, recording each call it carries out (module docstring)."""

    async def record_after(call: Call) -> object:
        answer = await handler(call)
        await _record(gateway, call, f"{method} {route}", status)
        return answer

    record_after.__name__ = getattr(handler, "__name__", "audited")
    record_after.__doc__ = handler.__doc__
    record_after.audited = True  # type: ignore[attr-defined]
    return record_after


def is_audited(handler: Handler) -> bool:
    return getattr(handler, "audited", False) is True


async def _record(gateway: Gateway, call: Call, action: str, status: int) -> None:
    summary = summarize(call.request.raw_body[:MAX_BODY_KEPT])
    entry = AuditEntry(
        ts=time.time_ns(),
        actor=call.user().user_id,
        action=action,
        target=target_of(call.request.path_params, summary),
        summary=msgspec.json.encode(summary).decode(),
        status=status,
        request_id=request_id.get(),
    )
    context = {"actor": entry.actor, "action": entry.action, "target": entry.target, "summary": entry.summary}
    log.info("admin action", extra=context)
    try:
        async with asyncio.timeout(AUDIT_TIMEOUT_SECONDS):
            await record_audit(gateway.database(), entry)
    except Exception as error:
        log.error(
            "audit entry not written",
            extra={**context, "error": f"{type(error).__name__}: {error}"},
        )
