"""Process-wide settings every long-running role applies before it starts (`serve`,
`gateway`, `core`).

The garbage collector's thresholds. With Python's default (a young collection every
700 net allocations of containers), a busy service collects its youngest generation
about 20 times a second, so the objects of requests still in flight (milliseconds old)
survive two young collections and are promoted to the oldest generation. That growth
then triggers full collections, each of which walks every object of every connection
and stalls every order in flight. Measured with `make bench-ws` (1,000 WebSocket
clients, 1,000 orders/s): 11 full collections a minute, up to 84 ms each, order latency
p99 100-390 ms. With 10,000, an object must live for seconds to be promoted: no full
collection after start-up, young collections of 7 ms at most, order p99 66 ms. Over
HTTP (`make bench-http`, SQLite, median of 3 side by side) the tail shrank too: 64
connections, p99 88 -> 39 ms resting and 120 -> 34 ms mixed. What start-up recovers
stays out of every collection (`gc.freeze()` in core/bootstrap.py).

Which build of the engine the process runs: the mypyc-compiled one or the source.
Python imports whichever comes first on its path, silently, so every role names it in
its start-up line and in its metrics (`trade_engine_build_info`).
"""

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

from prometheus_client import CollectorRegistry, Info

from trade_engine.engine import engine as engine_module

COLLECTOR_THRESHOLDS: Final = (10_000, 10, 10)


def core_build() -> str:
    """The engine build this process imported: "compiled (mypyc)" or "interpreted".
    Production and `make run` put the compiled build (`make compiled`) first on
    PYTHONPATH; an entry that does not resolve from the process's working directory (a
    relative one, in a child started elsewhere) falls back to the source unseen."""
    return "interpreted" if (engine_module.__file__ or "").endswith(".py") else "compiled (mypyc)"


def register_build(registry: CollectorRegistry) -> None:
    """`trade_engine_build_info{core="..."} 1` in `registry`: what `core_build` says, for
    monitoring and for the benchmarks, which report the build each server runs."""
    Info("trade_engine_build", "The engine build this process runs", registry=registry).info(
        {"core": core_build()}
    )


def tune_collector() -> None:
    gc.set_threshold(*COLLECTOR_THRESHOLDS)


@contextmanager
def long_lived() -> Iterator[None]:
    """Make objects that live as long as the process (a service's modules, the read
    model's million orders at a restart) with the collector off, then freeze them: no
    collection walks them later, and none runs while they are made (measured: importing
    `serve` ran 222 young collections, about 45 ms of a 3 s restart; handing a million
    orders to the read model six more, about 35 ms)."""
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()
