#!/usr/bin/env bash
# Install promtool (Debian's package `prometheus`) to test the alert rules in deploy/
# (tests/integration/test_alert_rules.py). Idempotent; `make test` calls it. Only the
# tool is used: the package's service is not started here.
set -euo pipefail
if ! command -v promtool >/dev/null 2>&1; then
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null 2>&1; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
    fi
fi
promtool --version | head -1
