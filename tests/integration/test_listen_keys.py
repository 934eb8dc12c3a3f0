"""Listen keys in the database, on SQLite and PostgreSQL: the `listen_keys` table
(migration `0008`) and the store's rules (one live key per user, keep-alive, expiry,
close, and keys of a revoked API key)."""

import asyncio

from tests.integration.migrations import round_trip
from trade_engine.storage.apikeys import ApiKeyStore
from trade_engine.storage.database import open_database
from trade_engine.storage.listen_keys import ListenKeyStore
from trade_engine.storage.migrate import upgrade

SECOND = 1_000_000_000
T0 = 1_767_225_600 * SECOND


def run(coroutine):
    return asyncio.run(coroutine)


def test_the_listen_keys_migration_matches_the_schema_and_goes_both_ways(database_url):
    trip = run(round_trip(database_url, "0007", {"listen_keys"}))
    assert trip.after_upgrade == []
    assert "listen_keys" not in trip.tables_below
    assert trip.again == []


def test_a_user_has_one_live_key_kept_alive_until_it_expires_or_is_closed(database_url):
    async def scenario():
        database = open_database(database_url)
        await upgrade(database)
        api_keys = ApiKeyStore(database, "test-encryption-key")
        (alice, _), (bob, _) = [await api_keys.create(u, ["read"], "", T0) for u in ("alice", "bob")]
        store = ListenKeyStore(database, 60 * SECOND)
        key = await store.open("alice", alice.key, T0)
        results = {
            "same again": await store.open("alice", alice.key, T0 + 30 * SECOND) == key,
            "bob's own": await store.open("bob", bob.key, T0) != key,
            "alive at 89 s": key in await store.alive([key], T0 + 89 * SECOND),
            "dead at 90 s": key not in await store.alive([key], T0 + 90 * SECOND),
            "bob cannot keep it alive": not await store.keep_alive(key, "bob", T0 + 60 * SECOND),
            "kept alive": await store.keep_alive(key, "alice", T0 + 60 * SECOND),
            "alive at 119 s": key in await store.alive([key], T0 + 119 * SECOND),
            "expired: not kept alive": not await store.keep_alive(key, "alice", T0 + 120 * SECOND),
        }
        fresh = await store.open("alice", alice.key, T0 + 120 * SECOND)
        results["a new key after expiry"] = fresh != key
        results["bob cannot close it"] = not await store.close(fresh, "bob")
        results["closed"] = await store.close(fresh, "alice")
        results["gone once closed"] = fresh not in await store.alive([fresh], T0 + 121 * SECOND)
        await database.dispose()
        return results

    results = run(scenario())
    assert all(results.values()), results


def test_keys_opened_with_a_revoked_api_key_are_dead(database_url):
    async def scenario():
        database = open_database(database_url)
        await upgrade(database)
        api_keys = ApiKeyStore(database, "test-encryption-key")
        created, _ = await api_keys.create("carol", ["read"], "", T0)
        store = ListenKeyStore(database, 60 * SECOND)
        key = await store.open("carol", created.key, T0)
        before = await store.alive([key, "unknown"], T0 + SECOND)
        await api_keys.revoke(created.key, T0 + 2 * SECOND)
        after = await store.alive([key], T0 + 3 * SECOND)
        await database.dispose()
        return key, before, after

    key, before, after = run(scenario())
    assert list(before) == [key]
    assert (before[key].user_id, before[key].expires_ns) == ("carol", T0 + 60 * SECOND)
    assert after == {}
