#!/usr/bin/env bash
# Start the machine's PostgreSQL (Debian cluster 15/main) and make sure the role the
# tests and benchmarks use exists. Idempotent; `make test` calls it.
set -euo pipefail
VERSION=${PG_VERSION:-15}
CLUSTER=${PG_CLUSTER:-main}
ROLE=${TRADE_ENGINE_PG_ROLE:-trade_engine}

if ! command -v pg_ctlcluster >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "postgresql-$VERSION" >/dev/null
fi
if ! pg_lsclusters -h | awk -v v="$VERSION" -v c="$CLUSTER" '$1==v && $2==c' | grep -q .; then
    pg_createcluster "$VERSION" "$CLUSTER" >/dev/null
fi
if ! pg_lsclusters -h | awk -v v="$VERSION" -v c="$CLUSTER" '$1==v && $2==c {print $4}' | grep -q online; then
    pg_ctlcluster "$VERSION" "$CLUSTER" start
fi
for _ in $(seq 1 50); do
    su postgres -c "pg_isready -q" && break
    sleep 0.2
done
exists=$(su postgres -c "psql -tAc \"SELECT 1 FROM pg_roles WHERE rolname='$ROLE'\"")
if [ "$exists" != "1" ]; then
    su postgres -c "psql -qc \"CREATE ROLE $ROLE LOGIN CREATEDB SUPERUSER PASSWORD '$ROLE'\""
fi
# Superuser on this throwaway test cluster: dropping a test database WITH (FORCE) must be
# able to end any session in it (an autovacuum worker included).
su postgres -c "psql -qc \"ALTER ROLE $ROLE SUPERUSER\""
