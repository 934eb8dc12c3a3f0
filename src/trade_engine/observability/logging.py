"""Structured logs: one JSON object per line, with the request id of the request.

Extra context goes in `extra={...}`; secrets never do (tokens, API secrets and
passwords are not logged anywhere in the service).
"""

import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Final

import msgspec

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)

_STANDARD: Final = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}
_encoder = msgspec.json.Encoder()


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = request_id.get()
        if rid is not None:
            line["request_id"] = rid
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return _encoder.encode(line).decode() if _encodable(line) else repr(line)


def _encodable(line: dict[str, Any]) -> bool:
    try:
        _encoder.encode(line)
    except (TypeError, msgspec.EncodeError):
        for key, value in line.items():
            line[key] = value if isinstance(value, str | int | float | bool | None) else repr(value)
    return True


@contextmanager
def errors_logged(logger: logging.Logger, message: str, **context: object) -> Iterator[None]:
    """Log an error of the block, with its traceback and `context`, instead of raising it:
    for work whose failure must not stop what follows (cleaning up after another error,
    or on the way out), where `contextlib.suppress(Exception)` would hide it. A
    cancellation (not an `Exception`) still goes through."""
    try:
        yield
    except Exception:
        logger.warning(message, exc_info=True, extra=context)


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("uvicorn.access",):
        logging.getLogger(noisy).disabled = True
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
