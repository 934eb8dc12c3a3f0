"""Database work on an event loop of its own, in a thread of its own.

Each step of an awaited read or write (connect, execute, fetch) goes back to the event
loop that awaits it before the next step starts. On a loop busy with long synchronous
work (a restart rebuilding a million orders) a few-step job then waits for that work,
step after step, however little the database itself needs (measured: a 1M-order
restart waited 0.15 s for a fold of the store's totals long computed, and on
PostgreSQL 0.9 s for rows the server could have written meanwhile). On a loop of its
own the job goes on while the caller's loop is busy; only its result waits for the
caller.
"""

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Coroutine, Generator
from typing import Any, Generic, TypeVar

T = TypeVar("T")

log = logging.getLogger(__name__)


class OwnLoop(Generic[T]):
    """The coroutine `make()`, run to its end on a new event loop in a new thread named
    `name`, started at once (not when the caller's loop next turns). Await it for its
    result; `stop` cancels it and waits until it has finished (released its
    connections): a cancelled wait alone leaves it running."""

    def __init__(self, make: Callable[[], Coroutine[Any, Any, T]], name: str) -> None:
        self._caller = asyncio.get_running_loop()
        self._name = name
        self._finished: asyncio.Future[T] = self._caller.create_future()
        self._running: list[tuple[asyncio.AbstractEventLoop, asyncio.Task[T]]] = []
        self._started = threading.Event()
        # Set once its work is done (whatever became of it), before the outcome is handed
        # over, for a caller that waits on the thread rather than on its own loop.
        self.ended = threading.Event()
        self._make = make
        threading.Thread(target=self._run, name=name, daemon=True).start()

    @property
    def done(self) -> "asyncio.Future[T]":
        """Settled with the work's outcome when it ends (for `asyncio.wait`)."""
        return self._finished

    def __await__(self) -> Generator[Any, None, T]:
        return asyncio.shield(self._finished).__await__()

    async def stop(self) -> None:
        """Cancel the work (if it has not ended) and return once it has ended."""
        self._started.wait()
        for loop, task in self._running:
            with contextlib.suppress(RuntimeError):  # its loop has closed: it has ended
                loop.call_soon_threadsafe(task.cancel)
        await asyncio.gather(self._finished, return_exceptions=True)

    async def _body(self) -> T:
        task = asyncio.ensure_future(self._make())
        self._running.append((asyncio.get_running_loop(), task))
        self._started.set()
        return await task

    def _run(self) -> None:
        result: T | None = None
        error: BaseException | None = None
        try:
            result = asyncio.run(self._body())
        except BaseException as raised:  # handed to the caller, whatever it is
            error = raised
        finally:
            self._started.set()
            # Before the caller hears the outcome: a caller that has it finds this set.
            self.ended.set()
        try:
            self._caller.call_soon_threadsafe(self._settle, result, error)
        except RuntimeError:  # the caller's loop has closed: nobody is waiting any more
            log.warning("work on its own loop ended after its caller", extra={"worker": self._name})

    def _settle(self, result: T | None, error: BaseException | None) -> None:
        if self._finished.done():
            return
        if error is None:
            self._finished.set_result(result)  # type: ignore[arg-type]
        elif isinstance(error, asyncio.CancelledError):
            self._finished.cancel()
        else:
            self._finished.set_exception(error)
