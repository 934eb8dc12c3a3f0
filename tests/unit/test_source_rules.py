"""Rules every source module keeps: small (one job), and one place for each conversion.

Read from the source files, like the layer test (test_architecture.py)."""

import re
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[2] / "src" / "trade_engine"
MAX_LINES = 400
# Nanoseconds turned into milliseconds by hand, instead of by domain/timestamps.py.
INLINED_MS = re.compile(r"time_ns\(\)\)?\s*//?\s*1_?000_?000\b")


def _modules() -> list[Path]:
    return sorted(SOURCE.rglob("*.py"))


def test_no_source_module_is_over_400_lines() -> None:
    over = {
        str(path.relative_to(SOURCE)): lines
        for path in _modules()
        if (lines := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert over == {}


def test_times_become_milliseconds_only_in_the_timestamps_module() -> None:
    inlined = [
        f"{path.relative_to(SOURCE)}:{number}"
        for path in _modules()
        if path.name != "timestamps.py"
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if INLINED_MS.search(line)
    ]
    assert inlined == []


def test_the_pattern_finds_an_inlined_conversion() -> None:
    assert INLINED_MS.search("at = time.time_ns() // 1_000_000")
    assert INLINED_MS.search("now = Decimal(time.time_ns()) / 1_000_000")
    assert not INLINED_MS.search("at = ms(time.time_ns())")
