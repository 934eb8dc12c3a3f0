"""A committed command is answered as committed even when history cannot be read.

The tables are written behind the journal (sequencer/tables.py); a read of history waits
for them, and fails with 503 when they do not come (the database went away just after
the journal commit). An answer built from such a read would call a durable amendment or
deposit unavailable, and a client retrying it would amend or deposit twice, or be told
"the amendment changes nothing" (issue 10, point 7: never a 503 for what is durable). Here
the tables are held back by a lock on their position row while the journal commits.
"""

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg
import httpx

from tests.e2e.client import API
from tests.e2e.server import Server


@contextmanager
def tables_held(url: str) -> Iterator[None]:
    """Hold the tables' writer: a transaction keeps `sequencer_state`, which every table
    write updates, locked (the journal, a table of its own, commits meanwhile)."""
    locked, release = threading.Event(), threading.Event()
    failed: list[BaseException] = []

    async def hold() -> None:
        connection = await asyncpg.connect(url)
        try:
            async with connection.transaction():
                await connection.execute("LOCK TABLE sequencer_state IN ACCESS EXCLUSIVE MODE")
                locked.set()
                await asyncio.to_thread(release.wait)
        finally:
            await connection.close()

    def run() -> None:
        try:
            asyncio.run(hold())
        except BaseException as error:  # reported by the test's thread
            failed.append(error)
            locked.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert locked.wait(30), "the lock was not taken"
    assert not failed, failed
    try:
        yield
    finally:
        release.set()
        thread.join(30)


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
