"""Work on an event loop of its own (storage/own_loop.on_own_loop): it goes on while the
caller's loop is blocked, hands back its result or its error, and a cancelled caller
returns only once the work has finished its clean-up."""

import asyncio
import threading

import pytest

from trade_engine.storage.own_loop import on_own_loop


def test_the_work_goes_on_while_the_callers_loop_is_blocked_and_its_result_comes_back() -> None:
    finished = threading.Event()

    async def work() -> tuple[str, int]:
        for _ in range(20):  # twenty turns of its loop: none of them the caller's
            await asyncio.sleep(0.001)
        finished.set()
        return threading.current_thread().name, id(asyncio.get_running_loop())

    async def caller() -> tuple[bool, tuple[str, int], int]:
        running = asyncio.create_task(on_own_loop(work, "own-loop-test"))
        await asyncio.sleep(0)  # the thread starts
        done_while_blocked = finished.wait(timeout=10)  # blocks this loop
        return done_while_blocked, await running, id(asyncio.get_running_loop())

    done_while_blocked, (thread, loop), callers_loop = asyncio.run(caller())
    assert done_while_blocked
    assert thread == "own-loop-test"
    assert loop != callers_loop


def test_an_error_of_the_work_is_raised_to_the_caller() -> None:
    async def work() -> None:
        await asyncio.sleep(0)
        raise LookupError("no such thing")

    with pytest.raises(LookupError, match="no such thing"):
        asyncio.run(on_own_loop(work, "own-loop-test"))


def test_a_cancelled_caller_returns_once_the_work_has_cleaned_up() -> None:
    started = threading.Event()
    steps: list[str] = []

    async def work() -> None:
        started.set()
        try:
            await asyncio.sleep(60)
        finally:
            await asyncio.sleep(0.05)  # releasing its connections takes turns of its loop
            steps.append("released")

    async def caller() -> list[str]:
        running = asyncio.create_task(on_own_loop(work, "own-loop-test"))
        await asyncio.to_thread(started.wait, 10)
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running
        return list(steps)

    assert asyncio.run(caller()) == ["released"]
