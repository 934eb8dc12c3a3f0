"""Database work on an event loop of its own, in a thread of its own.

Each step of an awaited read (connect, execute, fetch) goes back to the event loop that
awaits it before the next step starts. On a loop busy with long synchronous work (a
restart rebuilding a million orders) a few-step read then waits for that work, step
after step, however little the database itself needs (measured: a 1M-order restart
waited 0.15 s for a fold of the store's totals that had long been computed, and a
faster rebuild would have waited longer). On a loop of its own the read goes on while
the caller's loop is busy; only its result waits for the caller.
"""

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

log = logging.getLogger(__name__)


async def on_own_loop(make: Callable[[], Coroutine[Any, Any, T]], name: str) -> T:
    """The result of the coroutine `make()`, run to its end on a new event loop in a new
    thread named `name`. Cancelling the caller cancels the coroutine there and waits
    until it has finished (released its connections) before raising."""
    caller = asyncio.get_running_loop()
    finished: asyncio.Future[T] = caller.create_future()
    running: list[tuple[asyncio.AbstractEventLoop, asyncio.Task[T]]] = []
    started = threading.Event()

    async def body() -> T:
        task = asyncio.ensure_future(make())
        running.append((asyncio.get_running_loop(), task))
        started.set()
        return await task

    def settle(result: T | None, error: BaseException | None) -> None:
        if finished.done():
            return
        if error is None:
            finished.set_result(result)  # type: ignore[arg-type]
        elif isinstance(error, asyncio.CancelledError):
            finished.cancel()
        else:
            finished.set_exception(error)

    def run() -> None:
        result: T | None = None
        error: BaseException | None = None
        try:
            result = asyncio.run(body())
        except BaseException as raised:  # handed to the caller, whatever it is
            error = raised
        finally:
            started.set()
        try:
            caller.call_soon_threadsafe(settle, result, error)
        except RuntimeError:  # the caller's loop has closed: nobody is waiting any more
            log.warning("work on its own loop ended after its caller", extra={"thread": name})

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    try:
        return await asyncio.shield(finished)
    except asyncio.CancelledError:
        started.wait()
        for loop, task in running:
            with contextlib.suppress(RuntimeError):  # its loop has closed: it has ended
                loop.call_soon_threadsafe(task.cancel)
        await asyncio.gather(finished, return_exceptions=True)
        raise
