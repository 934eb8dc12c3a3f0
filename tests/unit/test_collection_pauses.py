"""The collector's pauses go into the metrics, by generation, only while installed."""

import gc

from trade_engine.observability.collections import CollectionPauses
from trade_engine.observability.metrics import Metrics


def observed(metrics: Metrics, generation: str) -> tuple[float, float]:
    """(count, sum) of the pauses observed for `generation`."""
    values = {
        sample.name: sample.value
        for family in metrics.registry.collect()
        if family.name == "trade_engine_gc_pause_seconds"
        for sample in family.samples
        if sample.labels.get("generation") == generation
    }
    return (
        values.get("trade_engine_gc_pause_seconds_count", 0.0),
        values.get("trade_engine_gc_pause_seconds_sum", 0.0),
    )


def test_each_collection_is_observed_under_its_generation_while_installed() -> None:
    metrics = Metrics()
    pauses = CollectionPauses(metrics.gc_pause_seconds)
    pauses.install()
    pauses.install()  # once is enough: a second install adds no second callback
    try:
        gc.collect(1)
        gc.collect(2)
    finally:
        pauses.remove()
    (count_1, seconds_1), (count_2, seconds_2) = observed(metrics, "1"), observed(metrics, "2")
    # A young collection may also have run on its own in between; a full one does not.
    assert (count_1 >= 1, count_2) == (True, 1)
    assert (seconds_1 > 0, seconds_2 > 0) == (True, True)
    gc.collect(2)
    assert observed(metrics, "2")[0] == count_2  # removed: not observed any more
