"""Columns of a batch as PostgreSQL array literals (`{1,2,NULL}`), sent as text.

asyncpg encodes list parameters itself, but it checks every element against the
`collections.abc` classes to detect nested arrays, which cost about 10 ms per batch of
1,000 commands (measured). Literal text is built with `str.join` at C speed, once per
write (storage/writes.py). PostgreSQL parses the literal with `array_in` (the statement
casts `$n::text::bigint[]`).
"""

from collections.abc import Callable, Sequence
from typing import Final

_CACHE_LIMIT: Final = 100_000


def integers(column: Sequence[object]) -> str:
    if None in column:
        return "{" + ",".join("NULL" if value is None else str(value) for value in column) + "}"
    return "{" + ",".join(map(str, column)) + "}"


def booleans(column: Sequence[object]) -> str:
    return "{" + ",".join("NULL" if value is None else ("t" if value else "f") for value in column) + "}"


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Texts:
    """Quotes text elements, remembering the quoted form: most values of a column
    (markets, assets, sides, statuses, active users) repeat from batch to batch."""

    def __init__(self) -> None:
        self._quoted: dict[str, str] = {}

    def __call__(self, column: Sequence[object]) -> str:
        quoted = self._quoted
        if len(quoted) > _CACHE_LIMIT:
            quoted.clear()
        parts = []
        for value in column:
            if value is None:
                parts.append("NULL")
                continue
            assert isinstance(value, str)
            text = quoted.get(value)
            if text is None:
                text = quoted[value] = _quote(value)
            parts.append(text)
        return "{" + ",".join(parts) + "}"


def encoder_for(sql_type: str, texts: Texts) -> Callable[[Sequence[object]], str]:
    """The literal encoder for a column of `sql_type` (as PostgreSQL spells it)."""
    if sql_type in ("BIGINT", "INTEGER", "SMALLINT"):
        return integers
    if sql_type == "BOOLEAN":
        return booleans
    if sql_type == "TEXT":
        return texts
    raise ValueError(f"no array literal encoder for {sql_type}")
