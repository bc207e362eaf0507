#!/usr/bin/env bash
# Builds a Release build in build-bench/ and runs every benchmark; prints their figures.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh --bench
BUILD_DIR=${BUILD_DIR:-build-bench}
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DQW_BUILD_TESTS=OFF >/dev/null
cmake --build "$BUILD_DIR" -j "$(nproc)" --target qw-bench-agent-cycle qw-bench-agent-footprint
echo "== agent sampling CPU (bench/bench_agent_cycle.cpp)"
"$BUILD_DIR/bin/qw-bench-agent-cycle"
echo "== agent memory and CPU beside prometheus-node-exporter (bench/bench_agent_footprint.cpp)"
"$BUILD_DIR/bin/qw-bench-agent-footprint" --seconds "${QW_FOOTPRINT_SECONDS:-120}"
