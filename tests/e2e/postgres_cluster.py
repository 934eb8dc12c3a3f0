"""A throwaway PostgreSQL server of a test's own, to stop and start at will.

Outage tests stop the database under a running service; doing that to the machine's
shared cluster would break every other test. This creates a new cluster with `initdb`
in a temporary directory, on a port of its own, owned by the `postgres` account
(PostgreSQL refuses to run as root), and removes it afterwards.
"""

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import asyncpg

from tests.e2e.server import free_port

BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))
USER = "postgres"


def _as_postgres(*command: str, timeout: float = 60) -> None:
    subprocess.run(
        ["runuser", "-u", USER, "--", *command],
        check=True,
        timeout=timeout,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


class PostgresCluster:
    def __init__(self) -> None:
        # Not under pytest's temporary directories: those are private to root, and the
        # server runs as `postgres`.
        self.directory = Path(tempfile.mkdtemp(prefix="trade-engine-pg-"))
        self.data = self.directory / "data"
        self.port = free_port()
        self.log = self.directory / "postgres.log"

    @property
    def admin_url(self) -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/postgres"

    def url(self, database: str = "trade_engine") -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"

    def create(self) -> None:
        shutil.chown(self.directory, USER, USER)
        _as_postgres(str(BIN / "initdb"), "-D", str(self.data), "-U", USER, "--auth=trust", "-E", "UTF8")
        self.start()
        subprocess.run(
            [str(BIN / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", USER, "trade_engine"],
            check=True,
            timeout=30,
        )

    def start(self) -> None:
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=on"
        _as_postgres(
            str(BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start"
        )

    def stop(self, mode: str = "fast") -> None:
        """`fast` ends sessions and checkpoints; `immediate` is a crash (no checkpoint)."""
        _as_postgres(str(BIN / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def remove(self) -> None:
        if self.running():
            self.stop("immediate")
        shutil.rmtree(self.directory, ignore_errors=True)

    async def query(self, sql: str, database: str = "trade_engine") -> list[asyncpg.Record]:
        connection = await asyncpg.connect(self.url(database), timeout=10)
        try:
            return list(await connection.fetch(sql))
        finally:
            await connection.close()


def wait_until(predicate: object, timeout: float, what: str) -> None:
    """Poll `predicate()` until true; fail naming `what` after `timeout` seconds."""
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)
