"""Batch writers: one transaction per group commit, on the raw database drivers.

The write path is the hot path of durability, so it bypasses SQLAlchemy's statement
building (measured at roughly half the throughput of the raw drivers) and writes on a
dedicated connection: the stdlib `sqlite3` in one worker thread (sqlite_writer.py), or
`asyncpg` (postgres_writer.py). What is written where, and how, is writes.py.
"""

from sqlalchemy.engine import make_url

from trade_engine.sequencer.ports import CommitFailed
from trade_engine.storage.postgres_writer import PostgresBatchWriter, PostgresBulkWriter
from trade_engine.storage.sqlite_writer import SqliteBatchWriter
from trade_engine.storage.writes import BatchWriter, PreparedBatch

__all__ = [
    "BatchWriter",
    "CommitFailed",
    "PostgresBatchWriter",
    "PreparedBatch",
    "SqliteBatchWriter",
    "writer_for",
]


def writer_for(url: str, *, bulk: bool = False) -> BatchWriter:
    """The writer for the store at `url`; `bulk`: for recovery's writes of the rows the
    tables lack (core/catch_up.py), which no order waits behind."""
    parsed = make_url(url)
    if parsed.drivername.startswith("sqlite"):
        assert parsed.database, "an embedded database needs a file path"
        return SqliteBatchWriter(parsed.database)
    dsn = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    return PostgresBulkWriter(dsn) if bulk else PostgresBatchWriter(dsn)
