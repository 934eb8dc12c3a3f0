"""Binance's error codes are stated in two tables: the error table (edge/errors.py: how
every `ErrorCode` answers) and the Binance adapter's own answers to what only its API
can get wrong (binance/errors.py: its parameters, symbols, signatures). A Binance error
built from a literal code anywhere else is an answer decided outside those tables.
The check is run on planted files too, so that it can be seen to fail.
"""

import ast
from collections.abc import Iterator
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[2] / "src" / "trade_engine"
ALLOWED = {Path("edge/errors.py"), Path("binance/errors.py")}
CONSTRUCTORS = {"BinanceError", "Binance"}


def _name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _is_number(node: ast.expr) -> bool:
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        node = node.operand
    return isinstance(node, ast.Constant) and isinstance(node.value, int)


def literal_codes(path: Path) -> Iterator[int]:
    """The lines of `path` that build a Binance error from a literal code."""
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Call) and _name(node.func) in CONSTRUCTORS:
            code = (
                node.args[0] if node.args else next((k.value for k in node.keywords if k.arg == "code"), None)
            )
            if code is not None and _is_number(code):
                yield node.lineno


def offenders(source: Path, allowed: set[Path]) -> list[str]:
    return [
        f"{path.relative_to(source)}:{line}"
        for path in sorted(source.rglob("*.py"))
        if path.relative_to(source) not in allowed
        for line in sorted(literal_codes(path))
    ]


def test_binance_codes_are_stated_only_in_the_error_tables() -> None:
    assert offenders(SOURCE, ALLOWED) == []


def test_the_check_finds_a_planted_literal_code(tmp_path: Path) -> None:
    (tmp_path / "rest.py").write_text(
        "def refuse():\n"
        "    raise BinanceError(-2013, 'Order does not exist.')\n"
        "ANSWER = errors.Binance(code=-1121, message='Invalid symbol.')\n"
        "fine = BinanceError(answer.code, answer.message)\n"
        "also_fine = refusal(INVALID_SYMBOL)\n"
    )
    assert offenders(tmp_path, set()) == ["rest.py:2", "rest.py:3"]
