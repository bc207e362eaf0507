#!/usr/bin/env bash
# Fails when a tracked C++ source or header is not clang-format clean (.clang-format at the top).
#   ./scripts/check-format.sh        check (lists the files that differ)
#   ./scripts/check-format.sh --fix  reformat them in place
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files '*.cpp' '*.h' '*.cc' '*.hpp')
if [ "${1:-}" = --fix ]; then
  clang-format -i "${files[@]}"
  exit 0
fi
bad=()
for f in "${files[@]}"; do
  clang-format --dry-run --Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done
if [ ${#bad[@]} -gt 0 ]; then
  echo "check-format.sh: not clang-format clean (run ./scripts/check-format.sh --fix):" >&2
  printf '  %s\n' "${bad[@]}" >&2
  exit 1
fi
echo "check-format.sh: ${#files[@]} files clang-format clean ($(clang-format --version | sed 's/.*version //'))"
