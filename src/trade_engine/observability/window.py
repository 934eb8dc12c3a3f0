"""Change of cumulative counters over the most recent seconds: rates and means.

The process counts cumulatively (Prometheus counters, histogram sums and counts); an
operator wants "per second, lately". A `CounterWindow` keeps timestamped readings of
such counters and answers with their change between now and a base reading: the
newest reading at least `window` seconds old, or the oldest one it has while it has
none that old (just after start). A rate is then change / span, and a mean (say, of
commit latency) is the change of a histogram's sum over the change of its count.

Readings are taken when asked, at most one per `resolution` seconds, so nothing runs
while nobody looks and memory stays at about window / resolution readings. The span
is part of the answer: when nobody asked for a while, the base is older than the
window and the rate is the average since then, which is still exact for that span.
Counters that went down (a reset) discard the readings.
"""

from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Reading:
    at: float  # monotonic seconds
    values: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class Change:
    seconds: float
    deltas: tuple[float, ...]

    def rate(self, index: int) -> float:
        """Per second, of the counter at `index`."""
        return self.deltas[index] / self.seconds

    def mean(self, total: int, count: int) -> float | None:
        """The mean of what a histogram observed in the span (its sum over its count),
        None if it observed nothing."""
        observations = self.deltas[count]
        return self.deltas[total] / observations if observations > 0 else None


class CounterWindow:
    def __init__(self, window: float = 10.0, resolution: float = 1.0, minimum: float = 1.0) -> None:
        if not 0 < minimum <= window or not 0 < resolution <= window:
            raise ValueError("need 0 < minimum <= window and 0 < resolution <= window")
        self.window = window
        self._resolution = resolution
        self._minimum = minimum
        self._readings: deque[Reading] = deque()

    def change(self, at: float, values: tuple[float, ...]) -> Change | None:
        """Record the counters' `values` at monotonic time `at`; their change over the
        window, or None until the readings span at least `minimum` seconds."""
        readings = self._readings
        if readings and (
            len(values) != len(readings[-1].values)
            or any(value < last for value, last in zip(values, readings[-1].values, strict=True))
        ):
            readings.clear()
        if not readings or at - readings[-1].at >= self._resolution:
            readings.append(Reading(at, values))
        # The base is the newest reading at least `window` old: older ones are not needed.
        while len(readings) > 1 and at - readings[1].at >= self.window:
            readings.popleft()
        base = readings[0]
        span = at - base.at
        if span < self._minimum:
            return None
        return Change(span, tuple(value - old for value, old in zip(values, base.values, strict=True)))
