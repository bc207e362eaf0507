#!/usr/bin/env bash
# Installs exactly the Debian packages quorumwatch needs that are missing. Idempotent and
# non-interactive; runs apt only when something is missing.
#   --etcd35  also fetch etcd 3.5 (Debian 13's etcd-server/etcd-client .debs, Go binaries that run
#             on Debian 12) into $QW_CACHE_DIR/etcd-3.5 (default ~/.cache/quorumwatch) without
#             touching the system's apt state; a second run with the cache present needs no network.
#   --promtool  also fetch Debian 12's prometheus .deb into $QW_CACHE_DIR/prometheus and unpack it
#             (tests run its promtool on /metrics); nothing is installed, no daemon starts.
#   --browser also install Debian's chromium and Node.js, and tests/browser's pinned
#             playwright-core (npm ci, from its package-lock.json) for the dashboard's browser test.
set -euo pipefail
want_etcd35=0
want_bench=0
want_promtool=0
want_browser=0
for a in "$@"; do
  case "$a" in
    --etcd35) want_etcd35=1 ;;
    --promtool) want_promtool=1 ;;
    --browser) want_browser=1 ;;
    --bench) want_bench=1 ;;
    *) echo "deps.sh: unknown argument $a" >&2; exit 2 ;;
  esac
done

PKGS=(
  build-essential cmake ninja-build pkg-config git ca-certificates curl
  libboost-dev libprotobuf-dev protobuf-compiler libsqlite3-dev libsystemd-dev
  libspdlog-dev libfmt-dev catch2 libssl-dev libmbedtls-dev nlohmann-json3-dev strace
  etcd-server etcd-client sqlite3 openssl procps psmisc clang-format clang
)

# The benchmarks compare the agent with Debian's node exporter in the same run.
if [ "$want_bench" = 1 ]; then PKGS+=(prometheus-node-exporter); fi
# The dashboard's test drives a real headless Chromium (script(1) from bsdutils gives the CLI's
# colour test a terminal).
if [ "$want_browser" = 1 ]; then
  PKGS+=(chromium fonts-dejavu-core bsdutils)
  command -v node >/dev/null 2>&1 || PKGS+=(nodejs)
  command -v npm >/dev/null 2>&1 || PKGS+=(npm)
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "deps.sh: not root and no sudo; install these yourself: ${PKGS[*]}" >&2
    exit 1
  fi
fi

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "deps.sh: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
  # etcd-server's package starts a system etcd on 2379 where systemd runs; we never use it.
  if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    $SUDO systemctl disable --now etcd >/dev/null 2>&1 || true
    $SUDO systemctl disable --now prometheus-node-exporter >/dev/null 2>&1 || true
  fi
else
  echo "deps.sh: all ${#PKGS[@]} packages present"
fi

# Downloads Debian packages with a private apt state (the system's is never touched) and unpacks
# them into DIR/root:  unpack_debs DIR "SOURCES LINE" PACKAGE...
unpack_debs() {
  local d=$1 line=$2
  shift 2
  local uri
  uri=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  [ -n "$uri" ] || uri=http://deb.debian.org/debian
  rm -rf "$d.tmp"
  mkdir -p "$d.tmp/lists/partial" "$d.tmp/cache/archives/partial"
  echo "${line/URI/$uri}" >"$d.tmp/sources.list"
  local o=(-o "Dir::Etc::sourcelist=$d.tmp/sources.list" -o Dir::Etc::sourceparts=/dev/null
           -o "Dir::State::Lists=$d.tmp/lists" -o "Dir::Cache=$d.tmp/cache")
  [ "$(id -u)" -eq 0 ] && o+=(-o APT::Sandbox::User=root)
  apt-get "${o[@]}" update -qq
  (cd "$d.tmp" && apt-get "${o[@]}" download "$@" >/dev/null)
  for f in "$d.tmp"/*.deb; do dpkg-deb -x "$f" "$d.tmp/root"; done
  rm -rf "$d.tmp/lists" "$d.tmp/cache" "$d.tmp"/*.deb "$d"
  mv "$d.tmp" "$d"
}

cache=${QW_CACHE_DIR:-$HOME/.cache/quorumwatch}
if [ "$want_etcd35" = 1 ]; then
  d=$cache/etcd-3.5
  if [ -x "$d/root/usr/bin/etcd" ]; then
    echo "deps.sh: etcd $("$d/root/usr/bin/etcd" --version | awk '/etcd Version/{print $3}') cached in $d"
  else
    echo "deps.sh: fetching etcd 3.5 from Debian trixie into $d"
    # trusted=yes: trixie's key is not in bookworm's keyring; nothing is installed system-wide.
    unpack_debs "$d" "deb [trusted=yes] URI trixie main" etcd-server etcd-client
    ver=$("$d/root/usr/bin/etcd" --version | awk '/etcd Version/{print $3}')
    case "$ver" in
      3.5.*) echo "deps.sh: etcd $ver ready in $d/root/usr/bin" ;;
      *) echo "deps.sh: expected etcd 3.5.x, got '$ver'" >&2; exit 1 ;;
    esac
  fi
fi

if [ "$want_promtool" = 1 ]; then
  d=$cache/prometheus
  if [ -x "$d/root/usr/bin/promtool" ]; then
    echo "deps.sh: promtool cached in $d"
  else
    echo "deps.sh: fetching Debian's prometheus package for promtool into $d"
    unpack_debs "$d" "deb URI bookworm main" prometheus
    "$d/root/usr/bin/promtool" --version 2>&1 | head -1 | sed 's/^/deps.sh: /'
  fi
fi

if [ "$want_browser" = 1 ]; then
  here=$(cd "$(dirname "$0")/.." && pwd)/tests/browser
  if [ ! -d "$here/node_modules/playwright-core" ] ||
     [ "$here/package-lock.json" -nt "$here/node_modules/.package-lock.json" ]; then
    echo "deps.sh: npm ci in tests/browser (playwright-core, pinned by package-lock.json)"
    (cd "$here" && npm ci --no-audit --no-fund --loglevel=error)
  else
    echo "deps.sh: playwright-core present in tests/browser/node_modules"
  fi
fi
