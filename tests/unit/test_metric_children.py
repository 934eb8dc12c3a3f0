"""Labelled metrics reached through `children`: one child per label values, counted where
the metric's own children are (what a scrape exposes)."""

from prometheus_client import generate_latest

from trade_engine.observability.metrics import Metrics


def test_the_same_labels_reach_the_same_child_and_the_scrape_counts_it() -> None:
    metrics = Metrics()
    first = metrics.order_outcome("BTC-USDT", "accepted")
    assert metrics.order_outcome("BTC-USDT", "accepted") is first
    assert first is metrics.orders.labels("BTC-USDT", "accepted")
    first.inc()
    metrics.order_outcome("BTC-USDT", "accepted").inc()
    metrics.order_outcome("ETH-USDT", "rejected").inc()
    metrics.route_seconds("/api/v1/orders", "POST").observe(0.002)
    metrics.responses_of("201").inc()
    metrics.market_trades("BTC-USDT").inc(3)
    text = generate_latest(metrics.registry).decode()
    assert 'trade_engine_orders_total{market="BTC-USDT",outcome="accepted"} 2.0' in text
    assert 'trade_engine_orders_total{market="ETH-USDT",outcome="rejected"} 1.0' in text
    assert 'trade_engine_api_request_seconds_count{method="POST",route="/api/v1/orders"} 1.0' in text
    assert 'trade_engine_api_responses_total{status="201"} 1.0' in text
    assert 'trade_engine_trades_total{market="BTC-USDT"} 3.0' in text


def test_each_service_counts_its_own() -> None:
    """The remembered children belong to one `Metrics`: a second service (a test's second
    server in one process) starts from zero."""
    one, two = Metrics(), Metrics()
    one.order_outcome("BTC-USDT", "accepted").inc()
    assert two.order_outcome("BTC-USDT", "accepted") is not one.order_outcome("BTC-USDT", "accepted")
    assert 'outcome="accepted"} 0.0' in generate_latest(two.registry).decode()
