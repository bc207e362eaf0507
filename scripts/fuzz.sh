#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz) with clang in their own build directory and runs each
# for SECONDS on a seed corpus made from the snapshot fixtures and the captured snapshot streams; prints the executions and the
# findings of every target. Non-zero when a target found a crash (or a leak, timeout or
# out-of-memory): the input is in $BUILD_DIR/fuzz/findings/TARGET/ (turn it into a unit test).
#   ./scripts/fuzz.sh [SECONDS]   (default 60)
#   BUILD_DIR   build directory (default: build-fuzz)
#   FUZZ_JOBS   build jobs (default: nproc)
# The corpus each run grows is kept in $BUILD_DIR/fuzz/corpus/TARGET for the next run.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
BUILD_DIR=${BUILD_DIR:-build-fuzz}
targets=(fuzz_bbolt fuzz_snapshot_stream)

cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DQW_FUZZ=ON -DQW_BUILD_TESTS=OFF >/dev/null
cmake --build "$BUILD_DIR" -j "${FUZZ_JOBS:-$(nproc)}" --target "${targets[@]}"

# Seeds: the real snapshots, each also without its trailer and cut to its first pages.
seed_target() {
  local dir=$1 f base
  rm -rf "$dir"
  mkdir -p "$dir"
  case $2 in
    fuzz_bbolt)
      for f in tests/fixtures/snapshots/*.db; do
        base=$(basename "$f" .db)
        cp "$f" "$dir/$base"
        head -c -32 "$f" >"$dir/$base-bare"
        head -c 16384 "$f" >"$dir/$base-4pages"
      done
      ;;
    fuzz_snapshot_stream)
      # The captured streams, with the first byte choosing the piece size.
      for f in tests/fixtures/etcd-*/snap_gateway.json; do
        base=$(basename "$(dirname "$f")")
        { printf '\x07'; cat "$f"; } >"$dir/$base"
        { printf '\x00'; head -c 300 "$f"; } >"$dir/$base-cut"
      done
      printf '\x03{"error":{"grpc_code":14,"message":"etcdserver: request timed out"}}\n' \
        >"$dir/error"
      ;;
  esac
}

status=0
summary=()
for t in "${targets[@]}"; do
  work=$BUILD_DIR/fuzz
  corpus=$work/corpus/$t
  findings=$work/findings/$t
  seeds=$work/seeds/$t
  mkdir -p "$corpus" "$findings"
  seed_target "$seeds" "$t"
  dict=()
  [ -f "tests/fuzz/${t#fuzz_}.dict" ] && dict=(-dict="tests/fuzz/${t#fuzz_}.dict")
  log=$work/$t.log
  touch "$work/$t.start"
  rc=0
  # A single input may take 10 s and 64 MB in one allocation (the agent's MemoryMax); past
  # either it is a finding.
  "$BUILD_DIR/bin/$t" "$corpus" "$seeds" "${dict[@]}" -max_total_time="$secs" -timeout=10 \
    -rss_limit_mb=2048 -malloc_limit_mb=64 -print_final_stats=1 \
    -artifact_prefix="$findings/" >"$log" 2>&1 || rc=$?
  execs=$(awk '/stat::number_of_executed_units/{print $NF}' "$log")
  new=$(find "$findings" -type f -newer "$work/$t.start" | wc -l)
  summary+=("$t: ${execs:-0} executions in $secs s, $new findings (corpus $(find "$corpus" -type f | wc -l) inputs)")
  if [ "$rc" != 0 ] || [ "$new" -gt 0 ]; then
    status=1
    echo "fuzz.sh: $t exited $rc; its log: $log" >&2
    grep -E "ERROR|SUMMARY|invariant|==[0-9]+==" "$log" | head -20 >&2 || true
    find "$findings" -type f -newer "$work/$t.start" | head >&2
  fi
done
printf 'fuzz.sh: %s\n' "${summary[@]}"
exit "$status"
