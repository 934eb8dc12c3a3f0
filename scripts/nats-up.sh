#!/usr/bin/env bash
# Install nats-server 2.10 for the cluster tests and benchmarks, which start their own
# servers (one node, or a three-node JetStream cluster on loopback) in temporary
# directories, each with `jetstream { sync_interval: always }`: a command stored in the
# stream is on disk on every replica that acknowledged it (docs/cluster.md). Debian 12's
# own package (2.9.10) cannot do that, so this takes Debian 13's package (trixie's
# nats-server, a static Go binary) from the Debian archive, checks it against the digest
# below (from trixie's signed package index), and unpacks only the binary into
# .tools/nats-server/, never touching the system's packages. Idempotent; `make test`
# calls it.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VERSION=2.10.27
DEB="nats-server_${VERSION}-1+b2_amd64.deb"
SHA256=6d913ac987b78734c08537c2adeb1526cf735f216173a9170d94b185fcfe6f8a
URL="http://deb.debian.org/debian/pool/main/n/nats-server/${DEB}"
TARGET="$ROOT/.tools/nats-server/nats-server"

if [ -x "$TARGET" ] && "$TARGET" --version | grep -q "v${VERSION}\$"; then
    "$TARGET" --version
    exit 0
fi
if [ "$(dpkg --print-architecture)" != amd64 ]; then
    echo "nats-up: only amd64 is scripted; put nats-server ${VERSION} at $TARGET" >&2
    exit 1
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python3 - "$URL" "$work/$DEB" <<'PY'
import sys, time, urllib.request
url, path = sys.argv[1], sys.argv[2]
for attempt in range(5):
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(path, "wb") as out:
            out.write(response.read())
        break
    except OSError as error:
        if attempt == 4:
            raise SystemExit(f"nats-up: cannot download {url}: {error}")
        time.sleep(2 ** attempt)
PY
echo "${SHA256}  $work/$DEB" | sha256sum --check --quiet
dpkg-deb --extract "$work/$DEB" "$work/root"
mkdir -p "$(dirname "$TARGET")"
install -m 0755 "$work/root/usr/sbin/nats-server" "$TARGET"
"$TARGET" --version
