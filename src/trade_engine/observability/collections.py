"""How long the garbage collector stops the process, per generation.

A collection runs on whichever thread allocates at the time and holds the GIL
throughout: every request in flight waits for it. Its pauses are a cause of tail
latency that no other metric names (issue 12's profile: passes over the engine's
resting orders took 30-360 ms), so they are measured where they happen.

The collector's callback takes no lock: a collection can start inside any allocation,
including one made while prometheus_client holds a metric's (non-reentrant) lock, and a
callback that then observed a `Histogram` would wait for that lock forever. It counts
into plain lists instead (under the GIL, which a collection holds), and the registry
reads them as a histogram when scraped (`collect`).
"""

import bisect
import gc
import itertools
import time
from collections.abc import Iterator
from typing import Any, Final

from prometheus_client.core import HistogramMetricFamily

from trade_engine.observability.metrics import LATENCY_BUCKETS

NAME: Final = "trade_engine_gc_pause_seconds"
GENERATIONS: Final = 3


class CollectionPauses:
    """A prometheus collector of each collection's duration, by generation, counted
    while installed."""

    def __init__(self, bounds: tuple[float, ...] = LATENCY_BUCKETS) -> None:
        self._bounds = bounds
        # Per generation: the pauses per bucket (the last one past every bound), and
        # their total in seconds.
        self._counts = [[0] * (len(bounds) + 1) for _ in range(GENERATIONS)]
        self._seconds = [0.0] * GENERATIONS
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
            return
        seconds = time.perf_counter() - self._began
        generation = info["generation"]
        self._counts[generation][bisect.bisect_left(self._bounds, seconds)] += 1
        self._seconds[generation] += seconds

    def collect(self) -> Iterator[HistogramMetricFamily]:
        text = "Garbage-collector pauses by generation (every thread waits for them)"
        family = HistogramMetricFamily(NAME, text, labels=["generation"])
        for generation in range(GENERATIONS):
            cumulative = list(itertools.accumulate(self._counts[generation]))
            bounds = [repr(bound) for bound in self._bounds] + ["+Inf"]  # Prometheus's `le`
            buckets = list(zip(bounds, cumulative, strict=True))
            family.add_metric([str(generation)], buckets, self._seconds[generation])
        yield family
