"""Suite-wide checks.

`make unit-compiled` runs the engine tests a second time against the mypyc-compiled
core; TRADE_ENGINE_EXPECT_COMPILED makes sure that run really imports compiled modules
instead of silently testing the interpreted source twice.
"""

import os

import pytest

import trade_engine.engine.engine as engine_module


def pytest_report_header() -> str:
    compiled = not engine_module.__file__.endswith(".py")
    return f"trade_engine core: {'compiled (mypyc)' if compiled else 'interpreted'}"


def pytest_sessionstart(session: pytest.Session) -> None:
    if os.environ.get("TRADE_ENGINE_EXPECT_COMPILED") == "1" and engine_module.__file__.endswith(".py"):
        raise pytest.UsageError(f"expected the compiled core, imported {engine_module.__file__}")
