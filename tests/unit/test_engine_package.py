"""The engine package's own rules: pure, small modules, every stage compiled.

These read the source files, so they hold for the interpreted and the compiled run alike.
"""

import ast
import sys
from pathlib import Path

import pytest

import trade_engine.engine

from ..compiled import compiled_core_modules

ENGINE = Path(trade_engine.engine.__file__).resolve().parent
# `__file__` of a compiled run points into build/compiled, which holds a copy of the
# sources next to the extension modules.
MODULES = sorted(path for path in ENGINE.glob("*.py"))
# msgspec types and the ledger's data stay interpreted: mypyc cannot compile msgspec
# structs, and neither is on the hot path.
INTERPRETED = {"__init__", "commands", "events", "ledger"}
# The core may import the standard library, msgspec and the domain, and nothing that
# does I/O or depends on time or chance.
FORBIDDEN = {"asyncio", "socket", "sqlite3", "asyncpg", "time", "random", "datetime"}
MAX_LINES = 400


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path.name}: relative import"
            assert node.module is not None
            names.add(node.module)
    return names


def test_every_engine_module_but_the_message_types_is_compiled():
    compiled = set(compiled_core_modules())
    for path in MODULES:
        name = f"trade_engine.engine.{path.stem}"
        assert (name in compiled) != (path.stem in INTERPRETED), name
    assert {name for name in compiled if name.startswith("trade_engine.engine.")} <= {
        f"trade_engine.engine.{path.stem}" for path in MODULES
    }


@pytest.mark.parametrize("path", MODULES, ids=lambda path: path.name)
def test_an_engine_module_imports_only_the_stdlib_msgspec_and_the_domain(path):
    for name in imported_modules(path):
        top = name.split(".")[0]
        assert top not in FORBIDDEN, f"{path.name} imports {name}"
        allowed = (
            top in sys.stdlib_module_names
            or top == "msgspec"
            or name.startswith(("trade_engine.domain.", "trade_engine.engine"))
        )
        assert allowed, f"{path.name} imports {name}"


@pytest.mark.parametrize("path", MODULES, ids=lambda path: path.name)
def test_an_engine_module_stays_under_400_lines(path):
    assert len(path.read_text().splitlines()) <= MAX_LINES


@pytest.mark.parametrize("path", MODULES, ids=lambda path: path.name)
def test_an_engine_module_says_what_it_owns(path):
    assert ast.get_docstring(ast.parse(path.read_text())), path.name
