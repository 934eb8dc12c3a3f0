"""The PostgreSQL writer encodes each write's rows once: when the tables writer readies
the write (`merge`, while the write before it runs), or else when it is written.

The tables writer merges the batches waiting into one write (sequencer/tables.py); a
batch encoded as it was prepared had its array literals built a second time with the
others. No database here: the encoding is all in process (the writes themselves are
covered against a real PostgreSQL in tests/integration).
"""

from collections.abc import Sequence

import pytest

from trade_engine.storage import pgarrays
from trade_engine.storage.postgres_writer import PostgresBatchWriter
from trade_engine.storage.projection import STATE_ROW_ID, BatchRows


def batch_rows(seq: int, user: str) -> BatchRows:
    return BatchRows(
        balances=[(user, "USDT", 100 * seq, seq, 1_000 + seq)],
        state=[(STATE_ROW_ID, seq, 1_000 + seq)],
    )


@pytest.fixture
def encoded_integers(monkeypatch: pytest.MonkeyPatch) -> list[tuple[object, ...]]:
    """Every integer column the writer encodes, as it encodes it."""
    seen: list[tuple[object, ...]] = []
    real = pgarrays.integers

    def counting(column: Sequence[object]) -> str:
        seen.append(tuple(column))
        return real(column)

    monkeypatch.setattr(pgarrays, "integers", counting)
    return seen


def test_preparing_batches_encodes_nothing(encoded_integers: list[tuple[object, ...]]) -> None:
    writer = PostgresBatchWriter("postgresql://unused")  # connects on its first statement
    prepared = [writer.prepare(batch_rows(seq, f"u{seq}")) for seq in (1, 2, 3)]
    assert encoded_integers == []
    assert [batch.encoded for batch in prepared] == [None, None, None]


def test_a_merged_write_encodes_each_column_once_with_every_batch_in_it(
    encoded_integers: list[tuple[object, ...]],
) -> None:
    writer = PostgresBatchWriter("postgresql://unused")
    merged = writer.merge([writer.prepare(batch_rows(seq, f"u{seq}")) for seq in (1, 2, 3)])
    assert merged.last_seq == 3
    assert [row[0] for row in merged.rows.balances] == ["u1", "u2", "u3"]
    # Balances (available, locked, updated_ts: one column each, the three batches' rows),
    # then the one state row of the merged batch (id, position, time).
    once = [
        (100, 200, 300),
        (1, 2, 3),
        (1_001, 1_002, 1_003),
        (STATE_ROW_ID,),
        (3,),
        (1_003,),
    ]
    assert encoded_integers == once
    parameters = writer.encode(merged)  # what `write` sends: encoded when readied
    assert encoded_integers == once
    assert "{100,200,300}" in parameters
    assert '{"u1","u2","u3"}' in parameters
    assert parameters[-1] == "3"  # the position the write brings the tables to


def test_a_batch_written_without_being_readied_is_encoded_when_written(
    encoded_integers: list[tuple[object, ...]],
) -> None:
    writer = PostgresBatchWriter("postgresql://unused")
    parameters = writer.encode(writer.prepare(batch_rows(7, "u7")))  # recovery's path
    assert encoded_integers == [(700,), (7,), (1_007,), (STATE_ROW_ID,), (7,), (1_007,)]
    assert parameters[-1] == "7"
