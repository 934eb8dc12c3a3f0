#!/usr/bin/env bash
# Install the browser the web tests drive: Debian's Chromium and its matching
# ChromeDriver (/usr/bin/chromium, /usr/bin/chromedriver). Idempotent; `make test` and
# `make screenshots` call it. Both come from the same Debian source package, so their
# versions always match.
set -euo pipefail
if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
# Recommended packages (fonts, sandbox helpers, ...) are not needed headless; without
# them the install is about half the download.
if ! apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null 2>&1; then
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
fi
chromium --version
chromedriver --version
