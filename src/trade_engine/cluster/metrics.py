"""Metrics of the cluster roles, read when scraped (docs/cluster.md lists the alerts).

Core: `trade_engine_cluster_is_leader`, `_epoch`, `_consumer_lag` (commands in the
stream not yet taken), `_pending_commands` (taken, not yet answered), `_applied_seq`,
`_published_seq`, `_takeover_seconds`. Gateway: `_pending_commands` (sent, awaiting an
outcome), `_applied_seq` (its read model), `_leader_present`.
"""

from prometheus_client import CollectorRegistry, Gauge

from trade_engine.cluster.leader import consumer_lag
from trade_engine.cluster.node import CoreNodeState
from trade_engine.cluster.remote import NatsCore


def _gauge(registry: CollectorRegistry, name: str, text: str) -> Gauge:
    return Gauge(f"trade_engine_cluster_{name}", text, registry=registry)


def core_metrics(state: CoreNodeState) -> CollectorRegistry:
    registry = CollectorRegistry()

    def leading() -> float:
        return 1.0 if state.role == "leader" else 0.0

    def applied() -> float:
        if state.leader is not None:
            return float(state.leader.port.core.sequencer.last_seq)
        return float(state.standby.seq if state.standby is not None else 0)

    _gauge(registry, "is_leader", "1 on the active core").set_function(leading)
    _gauge(registry, "epoch", "The fencing epoch this core leads with (0: standby)").set_function(
        lambda: float(state.epoch)
    )
    _gauge(registry, "consumer_lag", "Commands in the stream not yet taken by the core").set_function(
        lambda: float(consumer_lag(state.leader)) if state.leader is not None else 0.0
    )
    _gauge(registry, "pending_commands", "Commands taken and not yet answered").set_function(
        lambda: float(state.leader.in_flight) if state.leader is not None else 0.0
    )
    _gauge(registry, "applied_seq", "Global sequence number of the last command applied").set_function(
        applied
    )
    _gauge(registry, "published_seq", "Global sequence number of the last batch published").set_function(
        lambda: float(state.leader.publisher.published_seq) if state.leader is not None else 0.0
    )
    _gauge(registry, "takeover_seconds", "Duration of this core's takeover").set_function(
        lambda: state.took_over_seconds
    )
    return registry


def gateway_metrics(registry: CollectorRegistry, port: NatsCore) -> None:
    _gauge(registry, "pending_commands", "Commands sent to the core, awaiting their outcome").set_function(
        lambda: float(port.in_flight)
    )
    _gauge(
        registry, "applied_seq", "Global sequence number of the last batch in the read model"
    ).set_function(lambda: float(port.seq))
    _gauge(registry, "leader_present", "1 while a core holds the lease").set_function(
        lambda: 1.0 if port.leader_present else 0.0
    )
