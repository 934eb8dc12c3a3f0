#!/usr/bin/env bash
# Install nats-server (Debian's package) for the cluster tests and benchmarks, which start
# their own servers (one node, or a three-node JetStream cluster on loopback) in
# temporary directories. Idempotent; `make test` calls it. The package's own service is
# not used: nothing listens on the default port because of this script.
set -euo pipefail
if ! command -v nats-server >/dev/null 2>&1 && [ ! -x /usr/sbin/nats-server ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nats-server >/dev/null
fi
/usr/sbin/nats-server --version
