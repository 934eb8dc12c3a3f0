"""The replay of the field harness's workload (benchmarks/workload.py) speaks the
harness's contract: its file format, its modify (the order re-enters with the new
quantity open) and its canonical report lines (src/correctness.cpp of
flash1-dev/matching-engine-benchmark). `make bench-workload` checks the five full
scenarios against the published hashes; this checks each kind of report on a few
messages, with no generator needed."""

import importlib.util
import struct
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def _workload() -> ModuleType:
    # Appended, not prepended: benchmarks/http.py must not shadow the standard library.
    if str(BENCHMARKS) not in sys.path:
        sys.path.append(str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location("workload_replay", BENCHMARKS / "workload.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


NEW, CANCEL, MODIFY = 0, 1, 2
BUY, SELL = 0, 1
# (type, side, ioc, qty, order id, price ticks), in wire order; seq is the position.
MESSAGES = [
    (NEW, BUY, 0, 10, 1, 1000),  # 0: rests
    (NEW, SELL, 0, 4, 2, 1000),  # 1: fills 4 of order 1
    (MODIFY, BUY, 0, 11, 1, 1001),  # 2: order 1 re-enters with 11 open (not 11 - 4)
    (NEW, SELL, 1, 20, 3, 1001),  # 3: IOC takes all 11, its rest is cancelled
    (CANCEL, BUY, 0, 0, 1, 0),  # 4: order 1 is filled: refused
    (MODIFY, SELL, 0, 5, 2, 999),  # 5: order 2 is filled: refused
    (NEW, SELL, 0, 3, 4, 1005),  # 6: rests
    (CANCEL, SELL, 0, 0, 4, 0),  # 7: cancelled
    (CANCEL, BUY, 0, 0, 99, 0),  # 8: never seen: refused
]
EXPECTED = [
    "0,0,0,1,1000,10",
    "0,1,1,2,1000,4",
    "1,1,1000,4,1,2",
    "3,2,0,1,1001,11",
    "0,3,1,3,1001,20",
    "1,3,1001,11,1,3",
    "2,3,1,3,1001",
    "4,4,1",
    "5,5,2",
    "0,6,1,4,1005,3",
    "2,7,1,4,1005",
    "4,8,99",
]


def _write(path: Path, messages: list[tuple[int, int, int, int, int, int]]) -> None:
    records = b"".join(
        struct.pack("<BBBxIQQqq", kind, side, ioc, qty, seq, order_id, price, 0)
        for seq, (kind, side, ioc, qty, order_id, price) in enumerate(messages)
    )
    path.write_bytes(struct.pack("<QII", 0x4D4542575F303031, 1, len(messages)) + records)


def test_each_kind_of_report_comes_out_as_the_harness_writes_it(tmp_path: Path) -> None:
    workload = _workload()
    path = tmp_path / "orders.bin"
    _write(path, MESSAGES)

    messages = workload.read_messages(str(path), None)
    commands, _seconds = workload.translate(messages)
    text, kinds = workload.canonical_text(messages, commands)

    assert messages == MESSAGES
    assert text.split("\n") == EXPECTED
    assert kinds["TradeExecuted"] == 2
    assert kinds["CommandRejected"] == 3


def test_a_file_of_another_format_is_refused(tmp_path: Path) -> None:
    workload = _workload()
    path = tmp_path / "orders.bin"
    path.write_bytes(struct.pack("<QII", 0x1234, 1, 0))

    with pytest.raises(SystemExit, match="not an MEBW_001 workload file"):
        workload.read_messages(str(path), None)
