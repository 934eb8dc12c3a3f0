"""An order's status is named in one table: a status literal ("PARTIALLY_FILLED" and
the rest) anywhere else in the source means a rule re-derived outside the lifecycle.

Allowed: the lifecycle table itself (domain/lifecycle.py) and the wire-mapping tables
that translate it (binance/wire.py). Every other module uses `OrderStatus`,
`OrderChange` and `status_after`. The check is run on a planted file too, so that it
can be seen to fail.
"""

import ast
from collections.abc import Iterator
from pathlib import Path

from trade_engine.domain.lifecycle import OrderChange, OrderStatus
from trade_engine.engine import ENDINGS, OrderCancelled, OrderExpired, OrderFilled

SOURCE = Path(__file__).resolve().parents[2] / "src" / "trade_engine"
ALLOWED = {Path("domain/lifecycle.py"), Path("binance/wire.py")}
# The statuses, the lifecycle's own change names, and Binance's REJECTED (wire only).
LITERALS = {status.value for status in OrderStatus} | {OrderChange.TRIGGERED.value, "REJECTED"}


def status_literals(path: Path) -> Iterator[tuple[int, str]]:
    """(line, text) of every string constant in `path` that names an order status."""
    tree = ast.parse(path.read_text(), filename=str(path))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and node.value in LITERALS and id(node) not in docstrings:
            yield node.lineno, str(node.value)


def offenders(source: Path, allowed: set[Path]) -> list[str]:
    return [
        f"{path.relative_to(source)}:{line}: {text!r}"
        for path in sorted(source.rglob("*.py"))
        if path.relative_to(source) not in allowed and "migrations" not in path.parts
        for line, text in status_literals(path)
    ]


def test_status_literals_appear_only_in_the_lifecycle_and_wire_tables() -> None:
    assert offenders(SOURCE, ALLOWED) == []


def test_the_check_finds_a_planted_literal(tmp_path: Path) -> None:
    (tmp_path / "views.py").write_text(
        'def status(executed):\n    return "PARTIALLY_FILLED" if executed else "NEW"\n'
    )
    (tmp_path / "ok.py").write_text('"""Orders go from NEW to FILLED."""\nNAME = "FILLED_AMOUNT"\n')
    assert offenders(tmp_path, set()) == ["views.py:2: 'PARTIALLY_FILLED'", "views.py:2: 'NEW'"]


def test_each_terminal_event_is_one_ending_of_the_lifecycle() -> None:
    assert {
        OrderFilled: OrderChange.FILLED,
        OrderCancelled: OrderChange.CANCELED,
        OrderExpired: OrderChange.EXPIRED,
    } == ENDINGS


def test_the_check_finds_the_wire_only_and_trigger_names(tmp_path: Path) -> None:
    (tmp_path / "views.py").write_text('STATES = ("REJECTED", "TRIGGERED")\n')
    assert offenders(tmp_path, set()) == ["views.py:1: 'REJECTED'", "views.py:1: 'TRIGGERED'"]
