"""The page's decimal-string arithmetic (static/js/decimal.js), run in the browser and
checked against Python's Decimal on generated cases: exact, whatever the size."""

import random
from decimal import ROUND_DOWN, Context, Decimal
from typing import Any

import pytest

from tests.e2e.web.page import Page

SEED = 20261204
CASES = 300
EXACT = Context(prec=200)  # enough digits for every generated case: no rounding


def text(value: Decimal, scale: int) -> str:
    """How decimal.js writes a value with `scale` places (no negative zero)."""
    result = f"{value.quantize(Decimal(1).scaleb(-scale), rounding=ROUND_DOWN, context=EXACT):.{scale}f}"
    return result[1:] if result.startswith("-") and Decimal(result) == 0 else result


def sum_exact(values: list[str]) -> Decimal:
    total = Decimal(0)
    for value in values:
        total = EXACT.add(total, Decimal(value))
    return total


def places(value: str) -> int:
    return len(value.partition(".")[2])


def decimals(rng: random.Random) -> str:
    whole = str(rng.choice([0, rng.randrange(10), rng.randrange(10**6), rng.randrange(10**30)]))
    scale = rng.choice([0, 0, 2, 5, 8, 18])
    fraction = "".join(rng.choice("0123456789") for _ in range(scale))
    sign = "-" if rng.random() < 0.25 else ""
    return f"{sign}{whole}.{fraction}" if scale else f"{sign}{whole}"


PAIRS = [(decimals(r), decimals(r)) for r in [random.Random(SEED)] for _ in range(CASES)]


def run(page: Page, function: str, arguments: list[list[Any]]) -> list[Any]:
    """decimal.js's `function` applied to each argument list, in the browser."""
    page.open("/static/js/decimal.js")
    results: list[Any] = page.browser.driver.execute_async_script(
        "const [name, cases, done] = arguments;"
        "import('/static/js/decimal.js').then(m => done(cases.map(c => {"
        "  try { return m[name](...c); } catch (e) { return `error: ${e.constructor.name}`; } })));",
        function,
        arguments,
    )
    return results


@pytest.mark.parametrize(
    ("function", "expected"),
    [
        ("add", lambda a, b: text(EXACT.add(Decimal(a), Decimal(b)), max(places(a), places(b)))),
        ("subtract", lambda a, b: text(EXACT.subtract(Decimal(a), Decimal(b)), max(places(a), places(b)))),
        ("multiply", lambda a, b: text(EXACT.multiply(Decimal(a), Decimal(b)), places(a) + places(b))),
        ("compare", lambda a, b: (Decimal(a) > Decimal(b)) - (Decimal(a) < Decimal(b))),
    ],
)
def test_arithmetic_is_exact(page: Page, function: str, expected: Any) -> None:
    results = run(page, function, [list(pair) for pair in PAIRS])
    assert results == [expected(a, b) for a, b in PAIRS]


def test_equal_values_compare_equal_whatever_their_places(page: Page) -> None:
    pairs = [["1.50", "1.5"], ["0", "0.000"], ["-0.0", "0"], ["100", "100.00000000"]]
    assert run(page, "compare", pairs) == [0, 0, 0, 0]


def test_truncate_cuts_toward_zero(page: Page) -> None:
    cases = [(a, scale) for a, _ in PAIRS[:100] for scale in (0, 2, 8)]
    results = run(page, "truncate", [list(case) for case in cases])
    assert results == [text(Decimal(a), scale) for a, scale in cases]


def test_sum_and_zero(page: Page) -> None:
    values = [a for a, _ in PAIRS[:50]]
    assert run(page, "sum", [[values], [[]]]) == [text(sum_exact(values), max(map(places, values))), "0"]
    assert run(page, "isZero", [["0"], ["0.000"], ["-0.00"], ["0.001"]]) == [True, True, True, False]


def test_only_decimal_strings_are_taken(page: Page) -> None:
    good = ["0", "12", "12.5", "-0.001", "123456789012345678901234567890.123456789"]
    bad = ["", " 1", "1 ", "1.", ".5", "1e5", "0x10", "NaN", "Infinity", "1,5", "+1", "--1", "1.2.3"]
    assert run(page, "isDecimal", [[v] for v in good + bad]) == [True] * len(good) + [False] * len(bad)
    assert set(run(page, "add", [[v, "1"] for v in bad])) == {"error: TypeError"}
    assert run(page, "isDecimal", [[1.5], [None]]) == [False, False]  # numbers are not amounts
