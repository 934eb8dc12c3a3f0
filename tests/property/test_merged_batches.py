"""Batches written together leave the tables as writing them one by one would
(storage/merge.py), for any rows: a model of the writers' statements (append, upsert,
update with kept columns) applied to both, over every kind of row in `WRITES`.

The integration test (`test_journal.py`) checks the same on real SQLite with rows an
engine made; this one reaches the cases a random flow rarely makes: an order inserted
in one batch and updated in several later ones, an update of a row no batch inserts,
an absolute row after pending updates."""

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from trade_engine.storage.merge import merge_rows
from trade_engine.storage.projection import BatchRows, Row
from trade_engine.storage.writes import WRITES, TableWrite

Table = list[dict[str, Any]]
KEYS = st.integers(0, 4)  # a small key space: rows of one key meet often
VALUES = st.integers(0, 3)
# The update writes and the upsert that inserts their rows (orders, markets).
PARTNERS = {
    update.attribute: next(w for w in WRITES if w.table == update.table and w.mode == "upsert")
    for update in WRITES
    if update.mode == "update"
}
INSERTERS = {inserter.attribute for inserter in PARTNERS.values()}


def row_of(write: TableWrite, key: int, draw: Any) -> Row:
    """A row of `write` with key `key`, other columns drawn. Derived from the key: every
    key column (so an update's key finds the row its upsert inserted), and the columns
    an upsert never overwrites (a market's definition: fixed when it is added)."""
    values: list[object] = []
    for column in write.columns:
        fixed = write.mode == "upsert" and column not in write.updated
        if column in write.key or fixed or (write.mode == "upsert" and column in _update_keys(write)):
            values.append(f"{column}-{key}")
        elif column in write.keep_if_none:
            values.append(draw(st.none() | VALUES))
        else:
            values.append(draw(VALUES))
    return tuple(values)


def _update_keys(inserter: TableWrite) -> tuple[str, ...]:
    return tuple(c for update, w in PARTNERS.items() if w is inserter for c in _write(update).key)


def _write(attribute: str) -> TableWrite:
    return next(w for w in WRITES if w.attribute == attribute)


@st.composite
def batches(draw: Any) -> list[BatchRows]:
    out: list[BatchRows] = []
    appended = 0
    for _ in range(draw(st.integers(2, 6))):
        rows = BatchRows()
        for update, inserter in PARTNERS.items():
            # A key is inserted or updated in a batch, not both (the projection folds).
            keys = draw(st.lists(KEYS, max_size=4, unique=True))
            inserted = draw(st.sets(st.sampled_from(keys))) if keys else set()
            setattr(rows, inserter.attribute, [row_of(inserter, k, draw) for k in keys if k in inserted])
            setattr(rows, update, [row_of(_write(update), k, draw) for k in keys if k not in inserted])
        for write in WRITES:
            if write.mode == "upsert" and write.attribute not in INSERTERS:
                keys = draw(st.lists(KEYS, max_size=3, unique=True))
                setattr(rows, write.attribute, [row_of(write, k, draw) for k in keys])
            elif write.mode == "append":
                count = draw(st.integers(0, 2))
                setattr(rows, write.attribute, [row_of(write, appended + n, draw) for n in range(count)])
                appended += count
        out.append(rows)
    return out


def _found(table: Table, key: tuple[str, ...], values: dict[str, Any]) -> dict[str, Any] | None:
    return next((row for row in table if all(row[c] == values[c] for c in key)), None)


def written(tables: dict[str, Table], rows: BatchRows) -> None:
    """The writers' statements, as the model: in `WRITES` order, as the writers run them."""
    for write in WRITES:
        table = tables.setdefault(write.table, [])
        for row in getattr(rows, write.attribute):
            values = dict(zip(write.columns, row, strict=True))
            existing = None if write.mode == "append" else _found(table, write.key, values)
            if write.mode == "append" or (write.mode == "upsert" and existing is None):
                table.append(values)
            elif write.mode == "upsert":
                assert existing is not None
                existing.update({c: values[c] for c in write.updated})
            elif existing is not None:
                for column in write.columns:
                    if column in write.key or (values[column] is None and column in write.keep_if_none):
                        continue
                    existing[column] = values[column]


def contents(tables: dict[str, Table]) -> dict[str, list[str]]:
    return {name: sorted(repr(sorted(row.items())) for row in table) for name, table in tables.items()}


@settings(max_examples=300, deadline=None)
@given(batches(), st.data())
def test_batches_merged_leave_the_tables_as_written_one_by_one(
    rows: list[BatchRows], data: st.DataObject
) -> None:
    # Rows already in the tables before the batches: some keys exist, some do not.
    start = BatchRows()
    for inserter in PARTNERS.values():
        keys = data.draw(st.lists(KEYS, max_size=3, unique=True))
        setattr(start, inserter.attribute, [row_of(inserter, k, data.draw) for k in keys])
    one_by_one: dict[str, Table] = {}
    together: dict[str, Table] = {}
    for tables in (one_by_one, together):
        written(tables, start)
    for batch in rows:
        written(one_by_one, batch)
    written(together, merge_rows(rows))
    assert contents(together) == contents(one_by_one)
