#!/usr/bin/env bash
# Checks the systemd units: `systemd-analyze verify` (must be clean) and
# `systemd-analyze security --offline=true` (prints each unit's exposure; fails above 2.5).
# Works without a running systemd. Installs the systemd package if systemd-analyze is missing.
#   ./scripts/check-units.sh [MAX_EXPOSURE]
set -euo pipefail
cd "$(dirname "$0")/.."
max=${1:-2.5}
if ! command -v systemd-analyze >/dev/null 2>&1; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO=sudo
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends systemd >/dev/null
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Fill the units as CMake does, with a bin directory holding executables of the right names.
mkdir -p "$tmp/bin"
fail=0
for u in quorumwatch-agent quorumwatch-aggregator; do
  ln -s /bin/true "$tmp/bin/$u"
  sed "s|@QW_BINDIR@|$tmp/bin|g" "systemd/$u.service.in" >"$tmp/$u.service"
done
for u in quorumwatch-agent quorumwatch-aggregator; do
  out=$(cd "$tmp" && systemd-analyze verify --man=no "./$u.service" 2>&1) || fail=1
  if [ -n "$out" ]; then
    echo "check-units.sh: verify $u.service:"
    echo "$out"
    fail=1
  else
    echo "check-units.sh: verify $u.service: clean"
  fi
  sec=$(cd "$tmp" && systemd-analyze security --offline=true --no-pager "./$u.service" 2>&1 || true)
  level=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' <<<"$sec")
  if [ -z "$level" ]; then
    echo "$sec"
    echo "check-units.sh: no exposure level for $u.service" >&2
    fail=1
    continue
  fi
  if awk -v l="$level" -v m="$max" 'BEGIN { exit !(l > m) }'; then
    grep '✗' <<<"$sec" || true
    echo "check-units.sh: $u.service exposure $level > $max" >&2
    fail=1
  else
    echo "check-units.sh: $u.service exposure $level (limit $max)"
  fi
done
exit $fail
