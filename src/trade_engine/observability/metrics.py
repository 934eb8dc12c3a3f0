"""Prometheus metrics of one service process (one engine: no multiprocess mode)."""

from collections.abc import Callable, Iterator
from functools import lru_cache
from typing import Final, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, Metric, SummaryMetricFamily

LATENCY_BUCKETS: Final = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
)  # fmt: skip
MATCH_BUCKETS: Final = (
    0.000002, 0.000005, 0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.005,
)  # fmt: skip
BATCH_BUCKETS: Final = (1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500)
# Around the WebSocket flush interval (40 ms by default), finer than LATENCY_BUCKETS there.
FLUSH_WAIT_BUCKETS: Final = (
    0.001, 0.0025, 0.005, 0.01, 0.02, 0.03, 0.04, 0.05, 0.075, 0.1, 0.25, 1.0,
)  # fmt: skip


_Labelled = TypeVar("_Labelled", Counter, Histogram)


def children(metric: _Labelled) -> Callable[..., _Labelled]:
    """`metric.labels`, remembered per label values.

    prometheus_client's `labels` takes a lock and checks its arguments on every call:
    about 0.65 µs of the 1 µs an increment costs (measured), taken several times per
    request and per order. The label values are few (routes, methods, statuses, markets),
    as the metric's own children are.
    """
    return lru_cache(maxsize=1024)(metric.labels)


class Tally:
    """A sum of seconds and how many were added: plain additions, since only the event
    loop's thread adds (what a summary without quantiles exposes)."""

    __slots__ = ("count", "total")

    def __init__(self) -> None:
        self.count = 0
        self.total = 0.0

    def add(self, seconds: float) -> None:
        self.count += 1
        self.total += seconds


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.orders = Counter(
            "trade_engine_orders_total",
            "Order commands by market and outcome",
            ["market", "outcome"],
            registry=r,
        )
        self.trades = Counter("trade_engine_trades_total", "Trades by market", ["market"], registry=r)
        self.order_outcome = children(self.orders)  # (market, outcome)
        self.market_trades = children(self.trades)  # (market)
        self.matching_seconds = Histogram(
            "trade_engine_matching_seconds",
            "Engine time per command (matching, holds, settlement)",
            buckets=MATCH_BUCKETS,
            registry=r,
        )
        self.api_seconds = Histogram(
            "trade_engine_api_request_seconds",
            "HTTP request latency by route and method",
            ["route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.api_responses = Counter(
            "trade_engine_api_responses_total", "HTTP responses by status", ["status"], registry=r
        )
        self.route_seconds = children(self.api_seconds)  # (route template, method)
        self.responses_of = children(self.api_responses)  # (status)
        self.queue_depth = Gauge("trade_engine_sequencer_queue_depth", "Commands waiting", registry=r)
        self.batch_size = Histogram(
            "trade_engine_batch_size", "Commands per group commit", buckets=BATCH_BUCKETS, registry=r
        )
        self.commit_seconds = Histogram(
            "trade_engine_commit_seconds", "Duration of one group commit", buckets=LATENCY_BUCKETS, registry=r
        )
        self.settlement_lag = Gauge(
            "trade_engine_settlement_lag_seconds",
            "Time from matching to durable settlement of the latest batch",
            registry=r,
        )
        self.queue_wait_seconds = Histogram(
            "trade_engine_queue_wait_seconds",
            "Mean time a batch's commands waited in the sequencer's queue",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        # Taken on every command and request: kept by plain additions, read when scraped
        # (`_ReadWhenScraped`). A histogram's locks and buckets, and a counter per stage
        # incremented per batch, cost the order path 3-5% at 64 connections (measured).
        self.core_round_trip = Tally()
        self.api_send = Tally()
        self.stage_seconds: Callable[[], dict[str, float]] = dict
        r.register(_ReadWhenScraped(self))
        self.projection_lag = Gauge(
            "trade_engine_projection_lag_commands",
            "Acknowledged commands whose rows are not yet in the tables (docs/adr/0001)",
            registry=r,
        )
        self.commit_retries = Counter(
            "trade_engine_commit_retries_total", "Group commits retried after transient errors", registry=r
        )
        self.open_orders = Gauge("trade_engine_open_orders", "Open orders and pending stops", registry=r)
        self.ready = Gauge("trade_engine_ready", "1 once recovered and the database is reachable", registry=r)
        self.ws_clients = Gauge("trade_engine_websocket_clients", "Connected WebSocket clients", registry=r)
        self.ws_messages = Counter(
            "trade_engine_websocket_messages_total", "Messages sent to WebSocket clients", registry=r
        )
        self.ws_slow_consumers = Counter(
            "trade_engine_websocket_slow_consumers_total",
            "WebSocket clients closed for falling behind (4001)",
            registry=r,
        )
        self.ws_latency = Histogram(
            "trade_engine_websocket_delivery_seconds",
            "Time from commit to a message being written to a client",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.ws_flush_wait = Histogram(
            "trade_engine_websocket_flush_wait_seconds",
            "Time from the oldest change a flush carries (per market, per user) to that flush: "
            "the conflation's part of the delivery time (websocket.flush_interval_ms)",
            buckets=FLUSH_WAIT_BUCKETS,
            registry=r,
        )


class _ReadWhenScraped:
    """The values `Metrics` keeps outside prometheus_client, read at each scrape."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        metrics = self._metrics
        for name, documentation, tally in (
            (
                "trade_engine_core_round_trip_seconds",
                "Time from handing a command to the core to its outcome",
                metrics.core_round_trip,
            ),
            (
                "trade_engine_api_send_seconds",
                "Time from an HTTP response being ready to its bytes handed to the server's transport",
                metrics.api_send,
            ),
        ):
            yield SummaryMetricFamily(name, documentation, count_value=tally.count, sum_value=tally.total)
        stages = CounterMetricFamily(
            "trade_engine_command_stage_seconds",
            "Time commands spent in each stage between submit and answer, summed over commands: "
            "queue (with waits for the pipeline and the tables), apply (their batch), previous_commit "
            "(their batch waiting for the one before to be committed and answered), commit (the "
            "journal append awaited), store (of which inside the store), sync (of which the store's "
            "sync, where it tells it apart)",
            labels=["stage"],
        )
        for stage, seconds in metrics.stage_seconds().items():
            stages.add_metric([stage], seconds)
        yield stages
