"""Crash points for the failover tests: `TRADE_ENGINE_FAILPOINT=<name>[:<n>]` makes the
process kill itself (SIGKILL: no clean-up runs) the n-th time (default: the first) it
passes the named point. Unset, `hit` costs a dictionary look-up.

The core's points, in the order a command passes them:
- `after-durable`: the command is in the command stream (durable), not yet committed;
- `after-commit`: its batch's journal entry committed, nothing published yet;
- `after-publish`: the committed batch published, the outcome not yet sent.
"""

import logging
import os
import signal
from typing import Final

log = logging.getLogger(__name__)
POINTS: Final = ("after-durable", "after-commit", "after-publish")


def _parse(value: str) -> tuple[str, int]:
    name, _, count = value.partition(":")
    if name not in POINTS:
        raise ValueError(f"TRADE_ENGINE_FAILPOINT: unknown point {name!r} (known: {', '.join(POINTS)})")
    return name, int(count or "1")


_armed: Final = dict(
    [_parse(os.environ["TRADE_ENGINE_FAILPOINT"])] if os.environ.get("TRADE_ENGINE_FAILPOINT") else []
)


def hit(name: str) -> None:
    """Passing point `name`: die here if it is armed and its count is reached."""
    left = _armed.get(name)
    if left is None:
        return
    if left > 1:
        _armed[name] = left - 1
        return
    log.warning("failpoint reached: killing this process", extra={"failpoint": name})
    os.kill(os.getpid(), signal.SIGKILL)
