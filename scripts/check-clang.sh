#!/usr/bin/env bash
# Builds the agent, the aggregator and the CLI with clang (Debian 12: clang 14) and warnings as
# errors, so the tree stays buildable by the compiler libFuzzer needs. No optimisation and no
# debug info: this checks that clang accepts the code, nothing is run.
#   BUILD_DIR  build directory (default: build-clang)
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh >/dev/null
BUILD_DIR=${BUILD_DIR:-build-clang}
start=$(date +%s)
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Debug \
  -DCMAKE_CXX_FLAGS_DEBUG="-O0 -g0" -DQW_BUILD_TESTS=OFF >/dev/null
cmake --build "$BUILD_DIR" -j "$(nproc)" --target quorumwatch-agent quorumwatch-aggregator quorumwatch
echo "check-clang.sh: $("${CXX:-clang++}" --version | head -1): agent, aggregator and CLI build" \
  "with -Werror ($(($(date +%s) - start)) s)"
