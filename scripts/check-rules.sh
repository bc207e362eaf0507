#!/usr/bin/env bash
# Checks the Prometheus alerting rules shipped in packaging/prometheus/:
#   1. promtool check rules quorumwatch.rules.yml
#   2. promtool test rules quorumwatch.rules.test.yml (every alert fires in a case, is silent in one)
#   3. every Warning.Code of proto/api.proto (except the zero value CODE_UNSPECIFIED) has an alert
#      rule whose expression selects it (code="CODE"); fails naming the codes without one.
# promtool: $PROMTOOL, else the one scripts/deps.sh --promtool unpacks into
# ${QW_CACHE_DIR:-~/.cache/quorumwatch}/prometheus, else promtool on PATH.
#   ./scripts/check-rules.sh
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
dir=packaging/prometheus
rules=quorumwatch.rules.yml
tests=quorumwatch.rules.test.yml
proto=proto/api.proto
cache=${QW_CACHE_DIR:-$HOME/.cache/quorumwatch}

if [ -n "${PROMTOOL:-}" ]; then
  promtool=$PROMTOOL
  if [ ! -x "$promtool" ] && ! command -v "$promtool" >/dev/null 2>&1; then
    echo "check-rules.sh: PROMTOOL=$PROMTOOL is not an executable" >&2
    exit 1
  fi
elif [ -x "$cache/prometheus/root/usr/bin/promtool" ]; then
  promtool=$cache/prometheus/root/usr/bin/promtool
elif command -v promtool >/dev/null 2>&1; then
  promtool=$(command -v promtool)
else
  echo "check-rules.sh: no promtool: set PROMTOOL, run ./scripts/deps.sh --promtool (unpacks" \
    "Debian's into $cache/prometheus) or install the prometheus package" >&2
  exit 1
fi
for f in "$dir/$rules" "$dir/$tests" "$proto"; do
  [ -f "$f" ] || { echo "check-rules.sh: $f missing" >&2; exit 1; }
done
echo "check-rules.sh: promtool $promtool ($("$promtool" --version 2>&1 | head -1))"

fail=0
echo "check-rules.sh: promtool check rules $dir/$rules"
if ! (cd "$dir" && "$promtool" check rules "$rules"); then
  echo "check-rules.sh: FAILED: promtool check rules" >&2
  fail=1
fi
echo "check-rules.sh: promtool test rules $dir/$tests"
if ! (cd "$dir" && "$promtool" test rules "$tests"); then
  echo "check-rules.sh: FAILED: promtool test rules" >&2
  fail=1
fi

# Warning.Code's values: the enum Code inside message Warning, comments stripped, the zero left out.
codes=$(awk '
  /^message Warning[ {]/ { inmsg = 1 }
  inmsg && /enum Code[ ]*\{/ { inenum = 1; next }
  inenum {
    sub(/\/\/.*/, "")
    if ($0 ~ /\}/) exit
    if (match($0, /[A-Z][A-Z0-9_]*[ ]*=[ ]*[0-9]+/)) {
      split(substr($0, RSTART, RLENGTH), kv, /[ ]*=[ ]*/)
      if (kv[2] + 0 != 0) print kv[1]
    }
  }' "$proto")
if [ -z "$codes" ]; then
  echo "check-rules.sh: FAILED: no Warning.Code values found in $proto" >&2
  exit 1
fi
# code -> alert: an alert rule (not a comment, not a recording rule) whose lines select code="X".
mapping=$(awk '
  /^[ ]*#/ { next }
  /^[ ]*- alert:/ { name = $3; next }
  /^[ ]*- record:/ { name = ""; next }
  name != "" {
    line = $0
    while (match(line, /code="[A-Z0-9_]+"/)) {
      print substr(line, RSTART + 6, RLENGTH - 7), name
      line = substr(line, RSTART + RLENGTH)
    }
  }' "$dir/$rules" | sort -u)
missing=()
n=0
for c in $codes; do
  n=$((n + 1))
  a=$(awk -v c="$c" '$1 == c { print $2 }' <<<"$mapping" | paste -sd, -)
  if [ -z "$a" ]; then
    missing+=("$c")
  else
    printf 'check-rules.sh:   %-22s -> %s\n' "$c" "$a"
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "check-rules.sh: FAILED: Warning.Code values of $proto without an alert in $dir/$rules:" \
    "${missing[*]}" >&2
  fail=1
else
  echo "check-rules.sh: all $n Warning.Code values of $proto (CODE_UNSPECIFIED excepted) have an alert"
fi
# And the other way: an alert selecting a code the enum does not have (renamed or removed).
while read -r c _; do
  [ -n "$c" ] || continue
  if ! grep -qx "$c" <<<"$codes"; then
    echo "check-rules.sh: FAILED: $dir/$rules selects code=\"$c\", not a Warning.Code of $proto" >&2
    fail=1
  fi
done <<<"$mapping"

if [ $fail -ne 0 ]; then
  echo "check-rules.sh: FAILED" >&2
  exit 1
fi
echo "check-rules.sh: OK (check rules, test rules, $n warning codes covered)"
