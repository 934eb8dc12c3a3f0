"""Work on an event loop of its own (storage/own_loop.OwnLoop): it starts at once and
goes on while the caller's loop is blocked, hands back its result or its error, and
`stop` returns only once the work has finished its clean-up, even when the caller's
loop has not turned since the work started."""

import asyncio
import sys
import threading

import pytest

from trade_engine.storage.own_loop import OwnLoop


def test_the_work_goes_on_while_the_callers_loop_is_blocked_and_its_result_comes_back() -> None:
    finished = threading.Event()

    async def work() -> tuple[str, int]:
        for _ in range(20):  # twenty turns of its loop: none of them the caller's
            await asyncio.sleep(0.001)
        finished.set()
        return threading.current_thread().name, id(asyncio.get_running_loop())

    async def caller() -> tuple[bool, tuple[str, int], int]:
        running = OwnLoop(work, "own-loop-test")  # started at once, no turn needed
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

    async def caller() -> None:
        await OwnLoop(work, "own-loop-test")

    with pytest.raises(LookupError, match="no such thing"):
        asyncio.run(caller())


@pytest.mark.parametrize("started", [True, False], ids=["running", "just-created"])
def test_stop_returns_once_the_work_has_cleaned_up(started: bool) -> None:
    running_event = threading.Event()
    steps: list[str] = []

    async def work() -> None:
        running_event.set()
        try:
            await asyncio.sleep(60)
        finally:
            await asyncio.sleep(0.05)  # releasing its connections takes turns of its loop
            steps.append("released")

    async def caller() -> list[str]:
        job = OwnLoop(work, "own-loop-test")
        if started:
            await asyncio.to_thread(running_event.wait, 10)
        await job.stop()  # no turn of this loop in between when just created
        with pytest.raises(asyncio.CancelledError):
            await job
        return list(steps)

    assert asyncio.run(caller()) == ["released"]


def test_its_thread_has_ended_once_the_caller_has_the_outcome() -> None:
    """`ended` is set before the outcome reaches the caller: a caller that awaited the
    work (or `stop`) finds it set. (CI once found it unset after `stop`: the
    outcome was handed over first and the thread preempted before it set the event.)"""

    async def work() -> None:
        await asyncio.sleep(0)

    async def caller() -> int:
        unset = 0
        for turn in range(300):
            job = OwnLoop(work, "own-loop-test")
            if turn % 2:
                await job.stop()
            else:
                await job
            unset += not job.ended.is_set()
        return unset

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads switch as often as they can: the race shows
    try:
        assert asyncio.run(caller()) == 0
    finally:
        sys.setswitchinterval(interval)
