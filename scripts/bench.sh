#!/usr/bin/env bash
# Builds a Release build in build-bench/ and runs every benchmark; prints their figures.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh --bench --etcd35
BUILD_DIR=${BUILD_DIR:-build-bench}
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DQW_BUILD_TESTS=OFF >/dev/null
cmake --build "$BUILD_DIR" -j "$(nproc)" --target qw-bench-agent-cycle qw-bench-agent-footprint \
  qw-bench-ingest qw-bench-query qw-bench-risk qw-bench-detect qw-bench-snapshot
echo "== agent sampling CPU (bench/bench_agent_cycle.cpp)"
"$BUILD_DIR/bin/qw-bench-agent-cycle"
echo "== agent memory and CPU beside prometheus-node-exporter (bench/bench_agent_footprint.cpp)"
"$BUILD_DIR/bin/qw-bench-agent-footprint" --seconds "${QW_FOOTPRINT_SECONDS:-120}"
echo "== aggregator ingest beside a bare SQLite ceiling (bench/bench_ingest.cpp)"
"$BUILD_DIR/bin/qw-bench-ingest"
echo "== aggregator query latency over 7 nodes x 7 days (bench/bench_query.cpp)"
"$BUILD_DIR/bin/qw-bench-query" --nodes "${QW_QUERY_NODES:-7}" --days "${QW_QUERY_DAYS:-7}"
echo "== risk engine cost per cluster view, 7 members (bench/bench_risk.cpp)"
"$BUILD_DIR/bin/qw-bench-risk"
echo "== detection: kill -9 and SIGSTOP of a member until the API shows it (bench/bench_detect.cpp)"
for v in 3.4 3.5; do
  QW_ETCD=$v "$BUILD_DIR/bin/qw-bench-detect" --runs "${QW_DETECT_RUNS:-10}"
done
echo "== snapshot verification and restore drills per size, beside sha256sum and a bare restore (bench/bench_snapshot.cpp)"
for v in 3.4 3.5; do
  QW_ETCD=$v "$BUILD_DIR/bin/qw-bench-snapshot" --sizes "${QW_SNAPSHOT_SIZES:-10,100}" \
    --runs "${QW_SNAPSHOT_RUNS:-5}"
done
