"""Several consecutive batches' rows as one batch that leaves the tables as writing them
one by one would.

The tables are written behind the journal (docs/adr/0001); when they fall behind, one
transaction for many batches catches up where one per batch would fall further behind
(each costs a round trip and a commit whatever its size). The writers' statements need
each key at most once per batch, and never an update and an insert of the same row, so
keyed rows are folded:

- an `upsert` row replaces the earlier row of its key (its values are absolute), and
  any pending `update` of that row;
- an `update` of a row that an earlier batch inserts is folded into that inserted row;
  two updates of one row become one. Either way a None in a `keep_if_none` column keeps
  the value before it, as the statement would;
- `append` rows (trades, ledger entries, transfers: naturally keyed) are concatenated.
"""

from collections.abc import Sequence
from typing import Final

from trade_engine.storage.projection import BatchRows, Row
from trade_engine.storage.writes import WRITES, TableWrite

# The upsert that inserts the rows each update changes (orders: new_orders; markets: new_markets).
_INSERTED_BY: Final = {
    write.attribute: next(p for p in WRITES if p.table == write.table and p.mode == "upsert")
    for write in WRITES
    if write.mode == "update"
}


def _key(write: TableWrite, columns: tuple[str, ...], row: Sequence[object]) -> tuple[object, ...]:
    return tuple(row[columns.index(name)] for name in write.key)


def _fold(target: list[object], columns: tuple[str, ...], update: Row, write: TableWrite) -> None:
    """Apply `write`'s `update` row to `target` (a row in `columns` order)."""
    for name, value in zip(write.columns, update, strict=True):
        if name in write.key or (value is None and name in write.keep_if_none):
            continue
        target[columns.index(name)] = value


class _Merged:
    def __init__(self) -> None:
        self.appended: dict[str, list[Row]] = {}
        self.keyed: dict[str, dict[tuple[object, ...], list[object]]] = {}
        # Per update write: its key → the pending inserted row it falls on.
        self.inserted: dict[str, dict[tuple[object, ...], list[object]]] = {}

    def add(self, write: TableWrite, row: Row) -> None:
        if write.mode == "append":
            self.appended.setdefault(write.attribute, []).append(row)
        elif write.mode == "upsert":
            self._upsert(write, row)
        else:
            self._update(write, row)

    def _upsert(self, write: TableWrite, row: Row) -> None:
        values = list(row)
        self.keyed.setdefault(write.attribute, {})[_key(write, write.columns, row)] = values
        for attribute, inserter in _INSERTED_BY.items():
            if inserter is write:
                update = next(w for w in WRITES if w.attribute == attribute)
                key = _key(update, write.columns, row)
                self.inserted.setdefault(attribute, {})[key] = values
                self.keyed.get(attribute, {}).pop(key, None)  # superseded by the absolute row

    def _update(self, write: TableWrite, row: Row) -> None:
        key = _key(write, write.columns, row)
        inserted = self.inserted.get(write.attribute, {}).get(key)
        if inserted is not None:
            _fold(inserted, _INSERTED_BY[write.attribute].columns, row, write)
            return
        pending = self.keyed.setdefault(write.attribute, {})
        earlier = pending.get(key)
        if earlier is None:
            pending[key] = list(row)
        else:
            _fold(earlier, write.columns, row, write)

    def rows(self) -> BatchRows:
        merged = BatchRows()
        for write in WRITES:
            if write.mode == "append":
                rows = self.appended.get(write.attribute, [])
            else:
                rows = [tuple(values) for values in self.keyed.get(write.attribute, {}).values()]
            setattr(merged, write.attribute, rows)
        return merged


def merge_rows(batches: Sequence[BatchRows]) -> BatchRows:
    """The rows of `batches` (consecutive, in order) as one batch."""
    if len(batches) == 1:
        return batches[0]
    merged = _Merged()
    for rows in batches:
        for write in WRITES:
            for row in getattr(rows, write.attribute):
                merged.add(write, row)
    return merged.rows()
