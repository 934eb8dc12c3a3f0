"""The collector's pauses go into the metrics, by generation, only while installed, and
counting them takes no lock (a collection may start while a metric's lock is held)."""

import contextlib
import gc
import threading

from prometheus_client import generate_latest

from trade_engine.observability.collections import CollectionPauses
from trade_engine.observability.metrics import Metrics


def installed() -> tuple[Metrics, CollectionPauses]:
    metrics, pauses = Metrics(), CollectionPauses()
    metrics.registry.register(pauses)
    pauses.install()
    return metrics, pauses


def observed(metrics: Metrics, generation: str) -> tuple[float, float]:
    """(count, sum) of the pauses observed for `generation`."""
    values = {
        sample.name: sample.value
        for family in metrics.registry.collect()
        if family.name == "trade_engine_gc_pause_seconds"
        for sample in family.samples
        if sample.labels.get("generation") == generation
    }
    return values["trade_engine_gc_pause_seconds_count"], values["trade_engine_gc_pause_seconds_sum"]


def test_each_collection_is_observed_under_its_generation_while_installed() -> None:
    metrics, pauses = installed()
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
    text = generate_latest(metrics.registry).decode()
    assert 'trade_engine_gc_pause_seconds_bucket{generation="2",le="+Inf"} 1.0' in text


def test_a_collection_while_every_metric_lock_is_held_is_counted_and_returns() -> None:
    """prometheus_client's locks are not reentrant: a callback that took one while the
    same thread held it (a collection starting inside a scrape) would wait forever."""
    metrics, pauses = installed()
    locks = [lock for value in vars(metrics).values() if (lock := getattr(value, "_lock", None)) is not None]
    assert locks
    finished = threading.Event()

    def collect_holding_every_lock() -> None:
        with contextlib.ExitStack() as held:
            for lock in locks:
                held.enter_context(lock)
            gc.collect(2)
        finished.set()

    try:
        worker = threading.Thread(target=collect_holding_every_lock, daemon=True)
        worker.start()
        assert finished.wait(10)
    finally:
        pauses.remove()
    assert observed(metrics, "2")[0] >= 1
