"""Writes beside the tables' writer, which works behind the journal (sequencer/tables.py).

- A read of history waits for the tables, and fails with 503 when they do not come (the
  database went away just after the journal commit; here a lock holds the writer back).
  A committed command answered from such a read would be called unavailable though
  durable, and a client retrying it would amend or deposit twice, or be told "the
  amendment changes nothing" (issue 10, point 7: never a 503 for what is durable).
- The writer adds a user's row with the first deposit, in a transaction of its own; an
  API key created for that user at the same moment looked the user up, found none, and
  failed on the key when inserting it (500, seen in the outage test's set-up).
"""

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import asyncpg
import httpx

from tests.e2e.client import API
from tests.e2e.server import Server


@contextmanager
def in_a_transaction(url: str, statement: str) -> Iterator[None]:
    """Run `statement` in a transaction of its own, kept open (its locks held, its rows
    unseen by others) until the block ends, then committed."""
    started, finish = threading.Event(), threading.Event()
    failed: list[BaseException] = []

    async def hold() -> None:
        connection = await asyncpg.connect(url)
        try:
            async with connection.transaction():
                await connection.execute(statement)
                started.set()
                await asyncio.to_thread(finish.wait)
        finally:
            await connection.close()

    def run() -> None:
        try:
            asyncio.run(hold())
        except BaseException as error:  # reported by the test's thread
            failed.append(error)
            started.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert started.wait(30), "the statement did not run"
    assert not failed, failed
    try:
        yield
    finally:
        finish.set()
        thread.join(30)
    assert not failed, failed


def tables_held(url: str) -> AbstractContextManager[None]:
    """Hold the tables' writer back: its every write updates `sequencer_state`, locked
    here (the journal, a table of its own, commits meanwhile)."""
    return in_a_transaction(url, "LOCK TABLE sequencer_state IN ACCESS EXCLUSIVE MODE")


def test_an_amendment_and_a_deposit_committed_while_history_lags_are_answered_as_done(
    postgres_url: str, tmp_path: Path
) -> None:
    server = Server(postgres_url, tmp_path, TRADE_ENGINE_SEQUENCER_HISTORY_WAIT_SECONDS="0.5")
    server.start()
    admin, headers = server.headers("ops", "admin"), server.headers("alice")
    order = {"market": "BTC-USDT", "side": "BUY", "price": "30000.00", "quantity": "0.01"}
    order["client_order_id"] = "a"
    try:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            funding = {"user_id": "alice", "asset": "USDT", "amount": "1000", "reference": "first"}
            assert http.post(f"{API}/admin/deposits", json=funding, headers=admin).status_code == 201
            assert http.post(f"{API}/orders", json=order, headers=headers).status_code == 201
            with tables_held(postgres_url):
                amend = http.patch(
                    f"{API}/orders/by-client-id/a", json={"quantity": "0.005"}, headers=headers
                )
                deposit = {"user_id": "alice", "asset": "USDT", "amount": "5", "reference": "second"}
                deposited = http.post(f"{API}/admin/deposits", json=deposit, headers=admin)
                # A read of history meanwhile is refused, as before: the lock does hold it back.
                lagging = http.get(f"{API}/orders/by-client-id/a", headers=headers)
            assert amend.status_code == 200, amend.text
            assert amend.json()["data"]["quantity"] == "0.00500"
            assert amend.json()["data"]["status"] == "NEW"
            assert deposited.status_code == 201, deposited.text
            done = deposited.json()["data"]
            assert (done["amount"], done["replayed"]) == ("5.00000000", False)
            # 1,000 + 5, of which the amended order holds 30,000 × 0.005 and its fee (0.1 %)
            balance = (done["balance"]["available"], done["balance"]["locked"])
            assert balance == ("854.85000000", "150.15000000")
            assert lagging.status_code == 503, lagging.text
            # Once the tables are written, history agrees with the answers.
            looked_up = http.get(f"{API}/orders/by-client-id/a", headers=headers).json()["data"]
            assert looked_up == amend.json()["data"]
            replay = http.post(f"{API}/admin/deposits", json=deposit, headers=admin).json()["data"]
            assert replay == {**done, "replayed": True}
    finally:
        server.kill()


def test_an_api_key_for_a_user_the_tables_writer_is_adding_is_created(
    postgres_url: str, tmp_path: Path
) -> None:
    server = Server(postgres_url, tmp_path)
    server.start()
    admin = server.headers("ops", "admin")
    try:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            # The tables' writer adding bob with his first deposit: its transaction holds
            # his new row, uncommitted, and the key's insert of the same user waits for it.
            adding_bob = "INSERT INTO users (id, created_ts) VALUES ('bob', 1)"
            with in_a_transaction(postgres_url, adding_bob):
                body = {"user_id": "bob", "label": "beside the writer"}
                created = _in_thread(lambda: http.post(f"{API}/admin/api-keys", json=body, headers=admin))
                _until_waiting_on_a_lock(postgres_url, "INSERT INTO users")
            assert created().status_code == 201, created().text
            keys = http.get(f"{API}/admin/api-keys", params={"user_id": "bob"}, headers=admin).json()["data"]
            assert [key["label"] for key in keys] == ["beside the writer"]
    finally:
        server.kill()


def _in_thread(call: Callable[[], httpx.Response]) -> Callable[[], httpx.Response]:
    """Start `call` in a thread; a function that waits for its response."""
    done: list[httpx.Response] = []
    thread = threading.Thread(target=lambda: done.append(call()), daemon=True)
    thread.start()

    def result() -> httpx.Response:
        thread.join(30)
        assert done, "no response"
        return done[0]

    return result


def _until_waiting_on_a_lock(url: str, statement: str) -> None:
    async def waiting() -> bool:
        connection = await asyncpg.connect(url)
        try:
            query = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE $1"
            return bool(await connection.fetchval(query, f"{statement}%"))
        finally:
            await connection.close()

    deadline = time.monotonic() + 30
    while not asyncio.run(waiting()):
        assert time.monotonic() < deadline, f"no {statement!r} waiting on a lock"
        time.sleep(0.05)
