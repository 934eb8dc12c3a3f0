"""The budget of a graceful stop (`http.shutdown_timeout_seconds`).

SIGTERM asks a process to finish what it took and exit; an operator (and a supervisor
such as systemd or Kubernetes) expects it to be gone within the budget. Should a stop
overrun it (a wait that cannot end: a bug, or a dependency that no longer answers),
the process logs what each of its tasks was waiting for, so the cause can be found,
and exits with EXIT_OVERRAN. Nothing acknowledged is lost by that: acknowledged means
committed, and what was taken but not committed is answered OUTCOME_UNKNOWN by the
gateways and taken over by the standby.
"""

import asyncio
import logging
import os
from typing import Final

log = logging.getLogger(__name__)
EXIT_OVERRAN: Final = 70  # EX_SOFTWARE: the stop did not finish within its budget
_FRAMES: Final = 6


def waiting_tasks() -> list[str]:
    """Each task of the running loop with the innermost frames it is suspended in."""
    described = []
    for task in asyncio.all_tasks():
        frames = task.get_stack(limit=_FRAMES)
        where = " <- ".join(
            f"{frame.f_code.co_name} ({os.path.basename(frame.f_code.co_filename)}:{frame.f_lineno})"
            for frame in reversed(frames)
        )
        described.append(f"{task.get_name()}: {where or 'not started'}")
    return sorted(described)


async def enforce(stop: asyncio.Event, budget: float) -> None:
    """Once `stop` is set, allow the stop `budget` seconds; then log the waiting tasks
    and end the process at once (run it as a task beside the stopping code)."""
    await stop.wait()
    await asyncio.sleep(budget)
    log.error(
        "the graceful stop overran http.shutdown_timeout_seconds: exiting",
        extra={"seconds": budget, "waiting": waiting_tasks()},
    )
    for handler in logging.getLogger().handlers:
        handler.flush()
    os._exit(EXIT_OVERRAN)
