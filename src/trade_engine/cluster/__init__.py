"""The cluster: the core and the gateways as separate processes over NATS JetStream
(docs/cluster.md). Stateless gateways reach the one active core through `NatsCore`
(remote.py), an adapter of the core port; the core takes commands from a JetStream
stream, journals them in PostgreSQL behind a fencing epoch (fencing.py), publishes what
it committed, and a warm standby follows it (follower.py) to take over on a lease
(lease.py)."""
