#!/usr/bin/env bash
# Local demo: installs what is missing, builds, starts a real 3-member etcd cluster on free
# loopback ports, three agents and the aggregator on 127.0.0.1:9479, and prints the cluster view
# every few seconds until Ctrl-C. Everything started is stopped on exit, also on failure.
#   ./scripts/demo.sh [--check] [--etcd 3.4|3.5] [--port N]
#   --check  scripted tour (tolerance 1, kill -9 a member, 0 with a reason, restart, 1); exit 0
#            only if every step was seen.
set -euo pipefail
cd "$(dirname "$0")/.."
prev=""
need35=0
for a in "$@"; do
  if [ "$a" = "--etcd=3.5" ] || { [ "$prev" = "--etcd" ] && [ "$a" = "3.5" ]; }; then need35=1; fi
  prev=$a
done
if [ "$need35" = 1 ]; then ./scripts/deps.sh --etcd35; else ./scripts/deps.sh; fi
BUILD_DIR=${BUILD_DIR:-build}
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD_DIR" -j "$(nproc)" --target qw-demo quorumwatch quorumwatch-agent \
  quorumwatch-aggregator
exec "$BUILD_DIR/bin/qw-demo" "$@"
