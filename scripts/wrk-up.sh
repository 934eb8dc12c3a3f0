#!/usr/bin/env bash
# Install wrk (Debian's package), the load generator of `make bench-http` and
# `make bench-revisions`. Idempotent.
set -euo pipefail
if ! command -v wrk >/dev/null 2>&1; then
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk >/dev/null 2>&1; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk >/dev/null
    fi
fi
wrk --version 2>&1 | head -1 || true
