#!/usr/bin/env bash
# Streaming soak: three agents stream real samples from a real 3-member etcd cluster while the
# aggregator is killed with kill -9 at random moments (100 times by default), then checks that
# every batch each agent produced is stored exactly once. Prints kills, produced, stored, lost and
# duplicated. Bounded: about 1 s per kill plus a few seconds.
#   ./scripts/soak.sh [--kills N] [--etcd 3.4|3.5] [--seed S]
set -euo pipefail
cd "$(dirname "$0")/.."
kills=100 etcd=3.4 seed=""
while [ $# -gt 0 ]; do
  case "$1" in
    --kills) kills=$2; shift 2 ;;
    --etcd) etcd=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
    *) echo "soak.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
if [ "$etcd" = 3.5 ]; then ./scripts/deps.sh --etcd35; else ./scripts/deps.sh; fi
BUILD_DIR=${BUILD_DIR:-build}
cmake -S . -B "$BUILD_DIR" -G Ninja -DQW_ETCD_VERSIONS="3.4;3.5" >/dev/null
bin=qw_integration_tests_${etcd//./}
cmake --build "$BUILD_DIR" -j "$(nproc)" --target "$bin"
export QW_KILLS=$kills QW_ETCD=$etcd
[ -n "$seed" ] && export QW_SEED=$seed
"$BUILD_DIR/bin/$bin" "kill -9 of the aggregator at random moments loses and duplicates no batch"
