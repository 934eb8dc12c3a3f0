"""SQLite's batch writer (storage/sqlite_writer.py) against a real file."""

import asyncio
from pathlib import Path

import pytest

from trade_engine.sequencer.messages import JournalEntry
from trade_engine.sequencer.ports import CommitFailed
from trade_engine.storage.database import open_database
from trade_engine.storage.migrate import upgrade
from trade_engine.storage.writer import writer_for


def test_a_store_that_cannot_be_opened_yet_is_a_transient_failure_retried_once_it_can(
    tmp_path: Path,
) -> None:
    """The writer opens its connection at its first write, and again after a lost one.
    A file that could not be opened then raised SQLite's own error instead of a
    transient `CommitFailed`: the tables' writer took it for a bug and stopped the
    sequencer for good, where it retries a transient failure until the store is back."""
    directory = tmp_path / "mounted-later"
    url = f"sqlite:///{directory}/trade-engine.db"
    entry = JournalEntry(first_seq=1, last_seq=1, ts=0, commands=b"")

    async def scenario() -> tuple[CommitFailed, int]:
        writer = writer_for(url)
        try:
            with pytest.raises(CommitFailed) as failed:
                await writer.append(entry)
            directory.mkdir()
            database = open_database(url)
            try:
                await upgrade(database)
            finally:
                await database.dispose()
            await writer.append(entry)  # the same writer, once the file can be opened
            return failed.value, await writer.committed_seq()
        finally:
            await writer.close()

    failure, committed = asyncio.run(scenario())
    assert failure.transient
    assert not failure.maybe_committed
    assert "unable to open" in str(failure)
    assert committed == 1
