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

from collections.abc import Callable, Sequence
from operator import itemgetter
from typing import Final

from trade_engine.storage.projection import BatchRows, Row
from trade_engine.storage.writes import WRITES, TableWrite

# Every lookup below is worked out once per kind of row, not once per row: a catch-up
# merges a million rows, on the event loop's thread (measured: the name lookups per
# row were 12% of that thread in `make bench-durable`'s throughput run).
KeyOf = Callable[[Sequence[object]], object]
# A fold: (position in the update row, position in the target row, kept if None).
Fold = tuple[tuple[int, int, bool], ...]


def _key_of(write: TableWrite, columns: tuple[str, ...]) -> KeyOf:
    """Reads `write`'s key from a row in `columns` order (one value, or a tuple of them)."""
    return itemgetter(*(columns.index(name) for name in write.key))


def _fold_of(write: TableWrite, columns: tuple[str, ...]) -> Fold:
    """Where each non-key value of `write`'s update rows goes in a row in `columns` order."""
    return tuple(
        (position, columns.index(name), name in write.keep_if_none)
        for position, name in enumerate(write.columns)
        if name not in write.key
    )


def _updated_by(inserter: TableWrite) -> tuple[tuple[str, KeyOf], ...]:
    """The update writes whose rows `inserter`'s rows insert (orders: new_orders), each
    with its key as read from an inserted row."""
    return tuple(
        (update.attribute, _key_of(update, inserter.columns))
        for update in WRITES
        if update.mode == "update" and update.table == inserter.table
    )


_KEY: Final = {write.attribute: _key_of(write, write.columns) for write in WRITES if write.mode != "append"}
_UPDATED_BY: Final = {write.attribute: _updated_by(write) for write in WRITES if write.mode == "upsert"}
# Per update write: its fold onto a row of its own, and onto a row its inserter inserts.
_FOLD_OWN: Final = {
    write.attribute: _fold_of(write, write.columns) for write in WRITES if write.mode == "update"
}
_FOLD_INSERTED: Final = {
    write.attribute: _fold_of(
        write, next(p for p in WRITES if p.table == write.table and p.mode == "upsert").columns
    )
    for write in WRITES
    if write.mode == "update"
}


def _fold(target: list[object], update: Row, fold: Fold) -> None:
    """Apply an update row to `target`: a None in a kept column leaves its value."""
    for source, position, kept in fold:
        value = update[source]
        if value is None and kept:
            continue
        target[position] = value


class _Merged:
    def __init__(self) -> None:
        self.appended: dict[str, list[Row]] = {}
        self.keyed: dict[str, dict[object, list[object]]] = {}
        # Per update write: its key → the pending inserted row it falls on.
        self.inserted: dict[str, dict[object, list[object]]] = {}

    def add(self, write: TableWrite, rows: list[Row]) -> None:
        if write.mode == "append":
            self.appended.setdefault(write.attribute, []).extend(rows)
        elif write.mode == "upsert":
            self._upsert(write.attribute, rows)
        else:
            self._update(write.attribute, rows)

    def _upsert(self, attribute: str, rows: list[Row]) -> None:
        key_of, keyed = _KEY[attribute], self.keyed.setdefault(attribute, {})
        updated_by = [
            (key, self.inserted.setdefault(update, {}), self.keyed.get(update, {}))
            for update, key in _UPDATED_BY[attribute]
        ]
        for row in rows:
            values = list(row)
            keyed[key_of(row)] = values
            for update_key_of, inserted, pending in updated_by:
                key = update_key_of(row)
                inserted[key] = values
                pending.pop(key, None)  # superseded by the absolute row

    def _update(self, attribute: str, rows: list[Row]) -> None:
        key_of, own, onto_inserted = _KEY[attribute], _FOLD_OWN[attribute], _FOLD_INSERTED[attribute]
        inserted = self.inserted.get(attribute, {})
        pending = self.keyed.setdefault(attribute, {})
        for row in rows:
            key = key_of(row)
            target = inserted.get(key)
            if target is not None:
                _fold(target, row, onto_inserted)
                continue
            earlier = pending.get(key)
            if earlier is None:
                pending[key] = list(row)
            else:
                _fold(earlier, row, own)

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
            batch_rows = getattr(rows, write.attribute)
            if batch_rows:
                merged.add(write, batch_rows)
    return merged.rows()
