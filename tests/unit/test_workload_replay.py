"""The replay of the field harness's workload (benchmarks/workload.py) speaks the
harness's contract: its file format, its modify (the order re-enters with the new
quantity open) and its canonical report lines (src/correctness.cpp of
flash1-dev/matching-engine-benchmark). `make bench-workload` checks the five full
scenarios against the published hashes; this checks each kind of report on a few
messages, with no generator needed."""

import gc
import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture(scope="module")
def workload() -> Iterator[ModuleType]:
    """benchmarks/workload.py, loaded by path with the `flows` it imports; both are
    taken out of `sys.modules` again afterwards, and benchmarks/ out of `sys.path`
    (appended, not prepended: benchmarks/http.py must not shadow the standard library)."""
    sys.path.append(str(BENCHMARKS))
    try:
        spec = importlib.util.spec_from_file_location("workload_replay", BENCHMARKS / "workload.py")
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.path.remove(str(BENCHMARKS))
        sys.modules.pop("flows", None)


@pytest.fixture(autouse=True)
def collector_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test here fails if what it calls collects, freezes or thaws the heap: in
    the suite's process, thawing let the collector reach connections earlier tests had
    left open and frozen, and pytest failed the run on their warnings (CI at bf4b990).
    Freezing and thawing belong to the script's `main`."""

    def refused(*_args: object) -> None:
        raise AssertionError("the benchmark touched the test process's collector")

    for name in ("collect", "freeze", "unfreeze"):
        monkeypatch.setattr(gc, name, refused)


NEW, CANCEL, MODIFY = 0, 1, 2
BUY, SELL = 0, 1
# (type, side, ioc, qty, order id, price ticks), in wire order; seq is the position.
# The harness's ids are out of order and unlike the engine's (1, 2, 3 ... as accepted).
MESSAGES = [
    (NEW, BUY, 0, 10, 7, 1000),  # 0: rests
    (NEW, SELL, 0, 4, 3, 1000),  # 1: fills 4 of order 7
    (MODIFY, BUY, 0, 11, 7, 1001),  # 2: order 7 re-enters with 11 open (not 11 - 4)
    (NEW, SELL, 1, 20, 9, 1001),  # 3: IOC takes all 11, its rest is cancelled
    (CANCEL, BUY, 0, 0, 7, 0),  # 4: order 7 is filled: refused
    (MODIFY, SELL, 0, 5, 3, 999),  # 5: order 3 is filled: refused
    (NEW, SELL, 0, 3, 5, 1005),  # 6: rests
    (NEW, BUY, 0, 2, 2, 1003),  # 7: rests below it
    (MODIFY, SELL, 0, 4, 5, 1003),  # 8: repriced onto the bid: trades (acknowledged after it)
    (CANCEL, SELL, 0, 0, 5, 0),  # 9: cancelled at its new price
    (CANCEL, BUY, 0, 0, 99, 0),  # 10: never seen: refused
]
EXPECTED = [
    "0,0,0,7,1000,10",
    "0,1,1,3,1000,4",
    "1,1,1000,4,7,3",
    "3,2,0,7,1001,11",
    "0,3,1,9,1001,20",
    "1,3,1001,11,7,9",
    "2,3,1,9,1001",
    "4,4,7",
    "5,5,3",
    "0,6,1,5,1005,3",
    "0,7,0,2,1003,2",
    "1,8,1003,2,2,5",
    "3,8,1,5,1003,4",
    "2,9,1,5,1003",
    "4,10,99",
]


def _write(path: Path, messages: list[tuple[int, int, int, int, int, int]]) -> None:
    """A workload file laid out by hand from the generator's `write_binary`: a 16-byte
    header (magic u64, version u32, count u32), then 40 bytes per record (type, side,
    ioc, pad: u8 each; qty u32; sequence u64; order id u64; price i64; reserved i64),
    little-endian."""
    data = bytearray(0x4D4542575F303031.to_bytes(8, "little"))
    data += (1).to_bytes(4, "little") + len(messages).to_bytes(4, "little")
    for seq, (kind, side, ioc, qty, order_id, price) in enumerate(messages):
        record = bytearray(40)
        record[0], record[1], record[2] = kind, side, ioc
        record[4:8] = qty.to_bytes(4, "little")
        record[8:16] = seq.to_bytes(8, "little")
        record[16:24] = order_id.to_bytes(8, "little")
        record[24:32] = price.to_bytes(8, "little", signed=True)
        data += record
    path.write_bytes(bytes(data))


def test_each_kind_of_report_comes_out_as_the_harness_writes_it(workload: ModuleType, tmp_path: Path) -> None:
    path = tmp_path / "orders.bin"
    _write(path, MESSAGES)

    messages = workload.read_messages(str(path), None)
    commands, _seconds = workload.translate(messages)
    text, kinds = workload.canonical_text(messages, commands)

    assert messages == MESSAGES
    assert text.split("\n") == EXPECTED
    assert kinds["TradeExecuted"] == 3
    assert kinds["CommandRejected"] == 3


def test_a_file_of_another_format_is_refused(workload: ModuleType, tmp_path: Path) -> None:
    path = tmp_path / "orders.bin"
    path.write_bytes((0x1234).to_bytes(8, "little") + bytes(8))

    with pytest.raises(SystemExit, match="not an MEBW_001 workload file"):
        workload.read_messages(str(path), None)


def test_a_file_cut_short_is_refused(workload: ModuleType, tmp_path: Path) -> None:
    path = tmp_path / "orders.bin"
    _write(path, MESSAGES)
    path.write_bytes(path.read_bytes()[:-1])

    with pytest.raises(SystemExit, match="not the 11 records its header counts"):
        workload.read_messages(str(path), None)
