"""The leader's lease on a real NATS server (cluster/lease.py): free, held, stepped down,
and left behind by a holder that stopped renewing, also when the server keeps the
entry past its time to live (as a restarted replica did in a CI run: the standby then
could never lead)."""

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from tests.cluster.harness import Nats
from trade_engine.cluster import bus
from trade_engine.cluster.lease import Lease
from trade_engine.cluster.names import Names
from trade_engine.config import ClusterConfig

TTL = 0.5


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[Nats]:
    server = Nats(tmp_path)
    server.start()
    yield server
    server.stop()


@asynccontextmanager
async def leases(server: Nats, *, kept_seconds: float) -> AsyncIterator[tuple[Lease, Lease]]:
    """Two cores' leases of `TTL` on a bucket whose server keeps an entry for
    `kept_seconds` (longer than the lease: a server that expires entries late)."""
    config = ClusterConfig(nats_urls=server.urls, replicas=1, lease_seconds=kept_seconds)
    client = await bus.connect(config, "test", "core")
    try:
        js, bucket = await bus.ensure(client, config)
        name = Names.of(config).lease_bucket
        yield Lease(js, bucket, name, "a", TTL), Lease(js, bucket, name, "b", TTL)
    finally:
        await client.close()


async def renewed_unbeknown(lease: Lease) -> None:
    """A renewal of `lease`'s entry written without `lease` learning its revision: one
    whose answer was lost (a NATS node gone), or which was cancelled in flight."""
    own = Lease(lease._js, lease._bucket, lease._stream.removeprefix("KV_"), lease.node, TTL)
    latest = await lease.latest()
    assert latest is not None
    own._revision = latest.revision
    assert await own.renew()


def test_a_free_lease_is_taken_by_one_core_only(nats_server: Nats) -> None:
    async def run() -> None:
        async with leases(nats_server, kept_seconds=TTL) as (a, b):
            assert await a.acquire()
            assert a.valid()
            assert not await b.acquire()
            assert await a.renew()
            assert not await b.acquire()

    asyncio.run(run())


def test_a_renewed_lease_is_never_taken_over(nats_server: Nats) -> None:
    async def run() -> None:
        async with leases(nats_server, kept_seconds=60.0) as (a, b):
            assert await a.acquire()
            for _ in range(12):  # three times the lease's time to live
                await asyncio.sleep(TTL / 4)
                assert await a.renew()
                assert not await b.acquire()
            assert a.valid()

    asyncio.run(run())


def test_a_stepped_down_leader_frees_the_lease_at_once(nats_server: Nats) -> None:
    async def run() -> None:
        async with leases(nats_server, kept_seconds=60.0) as (a, b):
            assert await a.acquire()
            await a.release()
            assert not a.valid()
            assert await b.acquire()
            assert not await a.renew()

    asyncio.run(run())


def test_a_lease_left_unrenewed_is_taken_even_if_the_server_keeps_it(nats_server: Nats) -> None:
    async def run() -> None:
        async with leases(nats_server, kept_seconds=60.0) as (a, b):
            assert await a.acquire()
            assert not await b.acquire()  # held: b starts watching it
            await asyncio.sleep(TTL / 2)
            assert not await b.acquire()  # not yet a whole time to live
            await asyncio.sleep(TTL)
            assert not a.valid()  # a's own clock stopped it before b may lead
            assert await b.acquire()
            assert b.valid()
            assert not await a.renew()  # the former holder learns it lost the lease

    asyncio.run(run())


def test_a_lease_expired_by_the_server_is_free(nats_server: Nats) -> None:
    async def run() -> None:
        async with leases(nats_server, kept_seconds=1.0) as (a, b):
            assert await a.acquire()
            # The server drops the entry once its age passes 1 s, on its own timer
            # (nats-server 2.10: about 2 s here).
            for _ in range(100):
                if await a.latest() is None:
                    break
                await asyncio.sleep(0.1)
            assert await a.latest() is None
            assert await b.acquire()  # without having watched it first

    asyncio.run(run())


def test_a_renewal_written_after_its_answer_was_lost_is_adopted_not_taken_for_a_takeover(
    nats_server: Nats,
) -> None:
    # A renewal that times out (a NATS node lost) may still be written. The next renewal,
    # still naming the revision before it, then fails its check: the entry is this
    # core's own, so the core goes on leading (before, it exited as fenced, 75).
    async def run() -> None:
        async with leases(nats_server, kept_seconds=60.0) as (a, b):
            assert await a.acquire()
            await renewed_unbeknown(a)
            assert await a.renew()
            assert a.valid()
            assert not await b.acquire()
            # Another core's entry is never adopted.
            await asyncio.sleep(TTL * 1.5)
            assert await b.acquire()
            assert not await a.renew()
            assert not a.valid()

    asyncio.run(run())


def test_a_step_down_after_a_renewal_cancelled_in_flight_still_frees_the_lease(nats_server: Nats) -> None:
    # The leader cancels its renewing task before it steps down; a renewal cancelled in
    # flight may still be written. The deletion, naming the revision before it, then
    # failed its check with a BadRequestError the release did not expect: the leader
    # exited 1 on a clean stop and left the lease held (a CI run of the failover test).
    async def run() -> None:
        async with leases(nats_server, kept_seconds=60.0) as (a, b):
            assert await a.acquire()
            await renewed_unbeknown(a)
            await a.release()
            latest = await a.latest()
            assert latest is not None
            assert not latest.held
            assert await b.acquire()  # at once, not after a time to live

    asyncio.run(run())


def test_a_step_down_leaves_another_cores_entry_alone(nats_server: Nats) -> None:
    async def run() -> None:
        async with leases(nats_server, kept_seconds=60.0) as (a, b):
            assert await a.acquire()
            assert not await b.acquire()  # b starts watching it
            await asyncio.sleep(TTL * 1.5)
            assert await b.acquire()
            await a.release()  # too late: b holds it
            latest = await b.latest()
            assert latest is not None
            assert latest.held
            assert await b.renew()

    asyncio.run(run())
