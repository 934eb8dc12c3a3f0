"""How long the garbage collector stops the process, per generation.

A collection runs on whichever thread allocates at the time and holds the GIL
throughout: every request in flight waits for it. Its pauses are a cause of tail
latency that no other metric names (issue 12's profile: full collections over the
engine's resting orders took 50-360 ms), so they are measured where they happen.
"""

import gc
import time
from typing import Any

from prometheus_client import Histogram


class CollectionPauses:
    """Observes each collection's duration into `histogram` (labelled by generation)
    while installed."""

    def __init__(self, histogram: Histogram) -> None:
        self._histogram = histogram
        self._began = 0.0

    def install(self) -> None:
        if self._observe not in gc.callbacks:
            gc.callbacks.append(self._observe)

    def remove(self) -> None:
        if self._observe in gc.callbacks:
            gc.callbacks.remove(self._observe)

    def _observe(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._began = time.perf_counter()
        else:
            self._histogram.labels(str(info["generation"])).observe(time.perf_counter() - self._began)
