"""Listen-key streams end at their key's deadline exactly (binance/subscriptions.py):
the watcher sleeps until the earliest deadline and asks the store again as of then, so a
key kept alive meanwhile (through any process: the store is shared) lives on, and one
that was not expires on time, not at the next periodic check. A hand-written store
stands in for the database."""

import asyncio
import time

from trade_engine.binance.subscriptions import UserDataSubscriptions
from trade_engine.storage.listen_keys import ListenKey

MS = 1_000_000


class Store:
    """Listen keys and their deadlines, as the database would hold them."""

    def __init__(self) -> None:
        self.expires: dict[str, int] = {}
        self.asked = 0

    def add(self, key: str, expires_ns: int) -> ListenKey:
        self.expires[key] = expires_ns
        return ListenKey(key, "alice", "api-key", expires_ns)

    async def alive(self, keys: list[str], now_ns: int) -> dict[str, ListenKey]:
        self.asked += 1
        return {
            k: ListenKey(k, "alice", "api-key", self.expires[k])
            for k in keys
            if k in self.expires and self.expires[k] > now_ns
        }


class Stream:
    def __init__(self) -> None:
        self.expired: dict[str, int] = {}

    def expire(self, listen_key: str) -> None:
        self.expired[listen_key] = time.time_ns()

    def terminate(self) -> None:
        raise AssertionError("not revoked")


async def _scenario() -> tuple[Store, Stream, dict[str, int]]:
    subscriptions, store, stream = UserDataSubscriptions(), Store(), Stream()
    start = time.time_ns()
    deadlines = {"short": start + 150 * MS, "kept": start + 100 * MS}
    subscriptions.listen(store.add("kept", deadlines["kept"]), stream, store, check_seconds=30.0)
    subscriptions.listen(store.add("short", deadlines["short"]), stream, store, check_seconds=30.0)
    await asyncio.sleep(0.05)
    deadlines["kept"] = start + 300 * MS  # a keep-alive, as another process would make it
    store.expires["kept"] = deadlines["kept"]
    await asyncio.sleep(0.5)
    await subscriptions.close()
    return store, stream, deadlines


def test_each_stream_ends_at_its_key_deadline_and_a_keep_alive_moves_the_deadline() -> None:
    store, stream, deadlines = asyncio.run(_scenario())
    assert set(stream.expired) == {"short", "kept"}
    for key, deadline in deadlines.items():
        late = stream.expired[key] - deadline
        assert -2 * MS <= late < 80 * MS, (key, late / MS)  # (a timer may fire a hair early)
    # Asked at each deadline (the old one of "kept", "short", the new one of "kept"),
    # not every 30 s, nor in a loop.
    assert store.asked <= 4


async def _checked_often() -> tuple[Stream, int]:
    subscriptions, store, stream = UserDataSubscriptions(), Store(), Stream()
    deadline = time.time_ns() + 200 * MS
    subscriptions.listen(store.add("k", deadline), stream, store, check_seconds=0.03)
    await asyncio.sleep(0.3)
    await subscriptions.close()
    return stream, deadline


def test_a_periodic_check_before_the_deadline_does_not_end_the_stream_early() -> None:
    stream, deadline = asyncio.run(_checked_often())
    assert -2 * MS <= stream.expired["k"] - deadline < 80 * MS
