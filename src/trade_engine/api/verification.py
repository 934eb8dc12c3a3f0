"""Ledger verification on demand, while the service runs: the checks of start-up
(`storage.recovery.load_engine` + `verify`: conservation, holds, ledger) on the live
database, without stalling the service.

- **Off the event loop.** A run happens in a worker thread with an event loop and a
  database engine of its own (one connection), so the service's loop keeps serving.
- **On one snapshot.** The service keeps committing while the check reads, so every
  read of a run happens in one read transaction that sees a single committed state
  (storage/one_state.py).
- **One at a time.** A request while a run is in progress waits for that run's result
  instead of starting another; the last result is kept with its time and duration.
- **Bounded.** A run not done within `database.verification_timeout_seconds` is
  FAILED, so a stalled database holds no request for ever.
"""

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Final, Literal

from trade_engine.storage.one_state import one_committed_state
from trade_engine.storage.own_loop import OwnLoop
from trade_engine.storage.recovery import load_engine, verify

log = logging.getLogger(__name__)

MAX_PROBLEMS_KEPT: Final = 100

Outcome = Literal["CONSISTENT", "INCONSISTENT", "FAILED"]


@dataclass(frozen=True)
class Verification:
    outcome: Outcome
    started_ns: int
    finished_ns: int
    duration_seconds: float
    problems: list[str]  # the first MAX_PROBLEMS_KEPT
    problem_count: int
    markets: int
    accounts: int
    open_orders: int
    error: str | None = None


async def verify_snapshot(url: str, timeout: float) -> Verification:
    """Load and verify the store at `url` as of one committed state, within `timeout`
    seconds (else FAILED: the database stalled, or the store outgrew the limit)."""
    started_ns, started = time.time_ns(), time.perf_counter()
    try:
        try:
            async with asyncio.timeout(timeout), one_committed_state(url) as snapshot:
                engine, report = await load_engine(snapshot)
                problems = await verify(snapshot, engine)
        except TimeoutError as error:
            raise TimeoutError(f"did not finish within {timeout:g} s") from error
    except Exception as error:
        log.error("ledger verification could not run", extra={"error": f"{type(error).__name__}: {error}"})
        return Verification(
            outcome="FAILED",
            started_ns=started_ns,
            finished_ns=time.time_ns(),
            duration_seconds=time.perf_counter() - started,
            problems=[],
            problem_count=0,
            markets=0,
            accounts=0,
            open_orders=0,
            error=f"{type(error).__name__}: {str(error)[:500]}",
        )
    result = Verification(
        outcome="INCONSISTENT" if problems else "CONSISTENT",
        started_ns=started_ns,
        finished_ns=time.time_ns(),
        duration_seconds=time.perf_counter() - started,
        problems=problems[:MAX_PROBLEMS_KEPT],
        problem_count=len(problems),
        markets=report.markets,
        accounts=report.accounts,
        open_orders=report.open_orders,
    )
    level = logging.INFO if not problems else logging.ERROR
    log.log(
        level,
        "ledger verified",
        extra={
            "outcome": result.outcome,
            "problems": result.problem_count,
            "seconds": round(result.duration_seconds, 3),
        },
    )
    return result


class LedgerVerifier:
    """Runs verifications one at a time, in a worker thread; keeps the last result."""

    def __init__(self, url: str, timeout: float) -> None:
        self._url = url
        self._timeout = timeout
        self._running: asyncio.Task[Verification] | None = None
        self.last: Verification | None = None

    @property
    def running(self) -> bool:
        return self._running is not None and not self._running.done()

    async def run(self) -> Verification:
        """The result of a run started now, or of the run already in progress."""
        if self._running is None or self._running.done():
            self._running = asyncio.create_task(self._run(), name="ledger-verification")
        # Shielded: a caller that goes away does not cancel a run others may wait for.
        return await asyncio.shield(self._running)

    async def _run(self) -> Verification:
        result = await OwnLoop(lambda: verify_snapshot(self._url, self._timeout), "ledger-verification")
        self.last = result
        return result
