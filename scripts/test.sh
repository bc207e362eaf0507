#!/usr/bin/env bash
# Installs what is missing, builds a debug build with AddressSanitizer and UBSan, and runs every
# test (unit and integration on real etcd). Non-zero on any failure.
#   BUILD_DIR   build directory (default: build-test)
#   QW_SANITIZE ON|OFF (default ON)
#   CTEST_ARGS  extra ctest arguments, e.g. "-L unit" or "-L etcd-3.5"
#   QW_ETCD_VERSIONS  etcd versions for the integration tests (default "3.4;3.5")
#   QW_FUZZ_SECONDS  seconds per fuzz target (default 10; 0 skips the fuzz smoke)
#   QW_CROSS    0 skips the cross unit tests under qemu (scripts/cross.sh) run after ctest
#   QW_CROSS_ARCHES  architectures for them (default "armhf": the 32-bit target, where size_t,
#               long and time_t differ from the build machine; "arm64 armhf" runs both, as
#               scripts/package.sh's cross builds of the binaries do)
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh --etcd35 --promtool --browser
./scripts/check-format.sh

BUILD_DIR=${BUILD_DIR:-build-test}
jobs=$(nproc)
start=$(date +%s)
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DQW_SANITIZE="${QW_SANITIZE:-ON}" \
  -DQW_ETCD_VERSIONS="${QW_ETCD_VERSIONS:-3.4;3.5}" >/dev/null
cmake --build "$BUILD_DIR" -j "$jobs"
built=$(date +%s)
echo "test.sh: build took $((built - start)) s"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# ${CTEST_ARGS} is deliberately unquoted: it holds several arguments.
# shellcheck disable=SC2086
ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$jobs" ${CTEST_ARGS:-}
echo "test.sh: tests took $(($(date +%s) - built)) s"

# clang 14 must build the agent, the aggregator and the CLI too (fuzzing needs clang).
./scripts/check-clang.sh

# A short fuzz run of every libFuzzer target (scripts/fuzz.sh; QW_FUZZ_SECONDS, 0 skips it).
if [ "${QW_FUZZ_SECONDS:-10}" != 0 ]; then
  ./scripts/fuzz.sh "${QW_FUZZ_SECONDS:-10}"
fi

# Cross builds (arm64, armhf): the unit tests built for each and run under qemu-user
# (scripts/cross.sh; Release, only qw_unit_tests). QW_CROSS=0 skips them.
if [ "${QW_CROSS:-1}" != 0 ]; then
  cross_start=$(date +%s)
  for arch in ${QW_CROSS_ARCHES:-armhf}; do
    ./scripts/cross.sh "$arch" --tests
  done
  echo "test.sh: cross unit tests under qemu took $(($(date +%s) - cross_start)) s"
fi
