"""Nothing swallows an exception unseen: in the service's source, an error caught as
`Exception` (or `BaseException`, or by a bare `except`) is raised again, handed on (its
name used), or logged; `contextlib.suppress` never takes `Exception` or `BaseException`
(observability/logging.py's `errors_logged` is the way to go on past an error). The
check is run on planted files too, so that it can be seen to fail.
"""

import ast
import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from trade_engine.observability.logging import errors_logged

SOURCE = Path(__file__).resolve().parents[2] / "src" / "trade_engine"
BROAD = {"Exception", "BaseException"}
LOG_METHODS = {"debug", "info", "warning", "error", "exception", "critical"}


def _caught(node: ast.expr | None) -> set[str]:
    """The names of the exception classes a handler or `suppress` argument names."""
    if node is None:
        return {"BaseException"}  # a bare `except:`
    if isinstance(node, ast.Tuple):
        return set().union(*(_caught(element) for element in node.elts))
    if isinstance(node, ast.Name):
        return {node.id}
    if isinstance(node, ast.Attribute):
        return {node.attr}
    return set()


def _seen(handler: ast.ExceptHandler) -> bool:
    """Whether the handler raises, uses what it caught, or logs."""
    for node in ast.walk(ast.Module(body=handler.body, type_ignores=[])):
        if isinstance(node, ast.Raise):
            return True
        if handler.name is not None and isinstance(node, ast.Name) and node.id == handler.name:
            return True
        called = node.func if isinstance(node, ast.Call) else None
        if isinstance(called, ast.Attribute) and called.attr in LOG_METHODS:
            return True
    return False


def _silent(node: ast.AST) -> bool:
    """A broad handler that neither raises, hands on nor logs; or a broad `suppress`."""
    if isinstance(node, ast.ExceptHandler):
        return bool(_caught(node.type) & BROAD) and not _seen(node)
    return (
        isinstance(node, ast.Call)
        and ast.unparse(node.func) in ("suppress", "contextlib.suppress")
        and any(_caught(argument) & BROAD for argument in node.args)
    )


def silent_lines(path: Path) -> Iterator[int]:
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ExceptHandler | ast.Call) and _silent(node):
            yield node.lineno


def offenders(source: Path) -> list[str]:
    return [
        f"{path.relative_to(source)}:{line}"
        for path in sorted(source.rglob("*.py"))
        for line in sorted(silent_lines(path))
    ]


def test_no_error_is_swallowed_unseen() -> None:
    assert offenders(SOURCE) == []


def test_the_check_finds_planted_silent_handlers(tmp_path: Path) -> None:
    (tmp_path / "quiet.py").write_text(
        "import contextlib\n"
        "from contextlib import suppress\n"
        "try:\n"
        "    work()\n"
        "except Exception:\n"  # 5: swallowed
        "    pass\n"
        "try:\n"
        "    work()\n"
        "except (OSError, BaseException):\n"  # 9: swallowed
        "    held = None\n"
        "try:\n"
        "    work()\n"
        "except:\n"  # 13: swallowed
        "    pass\n"
        "with contextlib.suppress(asyncio.CancelledError, Exception):\n"  # 15
        "    work()\n"
        "with suppress(BaseException):\n"  # 17
        "    work()\n"
        "try:\n"
        "    work()\n"
        "except Exception:\n"
        "    log.warning('work failed', exc_info=True)\n"
        "try:\n"
        "    work()\n"
        "except Exception as error:\n"
        "    failures.append(error)\n"
        "try:\n"
        "    work()\n"
        "except Exception:\n"
        "    cleanup()\n"
        "    raise\n"
        "try:\n"
        "    work()\n"
        "except OSError:\n"  # a named, expected error: the handler's own business
        "    pass\n"
        "with contextlib.suppress(FileNotFoundError):\n"
        "    work()\n"
    )
    assert offenders(tmp_path) == ["quiet.py:5", "quiet.py:9", "quiet.py:13", "quiet.py:15", "quiet.py:17"]


def test_an_error_in_errors_logged_is_logged_with_its_traceback_and_context_and_passed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log = logging.getLogger("tests.errors_logged")
    steps: list[str] = []

    def release() -> None:
        steps.append("release")
        raise ConnectionError("nats: connection closed")

    with caplog.at_level(logging.WARNING, logger=log.name):
        with errors_logged(log, "the lease was not released", ttl=2.0):
            release()
        steps.append("went on")
    assert steps == ["release", "went on"]
    (record,) = caplog.records
    assert (record.levelname, record.getMessage()) == ("WARNING", "the lease was not released")
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], ConnectionError)
    assert record.__dict__["ttl"] == 2.0


def test_a_cancellation_goes_through_errors_logged(caplog: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("tests.errors_logged")
    with (
        caplog.at_level(logging.WARNING, logger=log.name),
        pytest.raises(asyncio.CancelledError),
        errors_logged(log, "not this"),
    ):
        raise asyncio.CancelledError
    assert caplog.records == []
