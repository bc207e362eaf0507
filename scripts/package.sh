#!/usr/bin/env bash
# Builds the Debian packages quorumwatch-agent and quorumwatch-aggregator (with the CLI) for
# amd64, arm64 and armhf into dist/, and checks them: dpkg-deb --contents, ELF machine of every
# binary, runtime libraries, lintian (fails on errors), the cross unit tests under qemu-user, and
# dpkg -i + dpkg --purge of the amd64 packages on this machine (needs root; skipped otherwise).
#   ./scripts/package.sh            QW_ARCHES="amd64 arm64" limits the architectures
# Installs what it needs itself (apt). Build directories: build-pkg (amd64), build-cross-ARCH;
# staging in build-pkg-stage/. The packages are assembled with dpkg-deb from the CMake builds
# (compiler flags from dpkg-buildflags with hardening=+all, binaries stripped).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
ARCHES=${QW_ARCHES:-amd64 arm64 armhf}
t0=$(date +%s)

./scripts/deps.sh
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
need=()
for p in lintian dpkg-dev file adduser init-system-helpers binutils systemd; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "package.sh: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

version=$(sed -n 's/^project(quorumwatch VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
maintainer=${QW_MAINTAINER:-quorumwatch maintainers <maintainers@quorumwatch.invalid>}
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
export DEB_BUILD_MAINT_OPTIONS=hardening=+all
flags() { DEB_HOST_ARCH=$1 dpkg-buildflags --get "$2"; }
dist=$root/dist
stage=$root/build-pkg-stage
rm -rf "$dist" "$stage"
mkdir -p "$dist" "$stage"

# ---- builds -------------------------------------------------------------------------------------
declare -A bindir
timing=""
for arch in $ARCHES; do
  ta=$(date +%s)
  if [ "$arch" = amd64 ]; then
    cmake -S . -B build-pkg -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE=-DNDEBUG \
      -DCMAKE_CXX_FLAGS="$(flags amd64 CPPFLAGS) $(flags amd64 CXXFLAGS)" \
      -DCMAKE_EXE_LINKER_FLAGS="$(flags amd64 LDFLAGS)" -DCMAKE_INSTALL_PREFIX=/usr \
      -DQW_BUILD_TESTS=OFF >/dev/null
    cmake --build build-pkg -j "$(nproc)" --target quorumwatch-agent quorumwatch-aggregator \
      quorumwatch
    bindir[$arch]=build-pkg/bin
  else
    ./scripts/cross.sh "$arch" --bins --tests
    bindir[$arch]=build-cross-$arch/bin
  fi
  timing+=" $arch $(($(date +%s) - ta)) s;"
done
# The units as CMake fills them (prefix /usr): the same text for every architecture.
[ -f build-pkg/systemd/quorumwatch-agent.service ] || {
  echo "package.sh: build-pkg/systemd/*.service missing (QW_ARCHES must include amd64)" >&2
  exit 1
}

# ---- generated texts (from the amd64 binaries' --help) -------------------------------------------
native=build-pkg/bin
# Config file: every key commented out at its default, with its help line.
conffile() {  # $1 binary
  "$native/$1" --help | awk '
    /^  --/ { key = substr($1, 3); next }
    key != "" && /^      / {
      text = substr($0, 7); def = ""
      if (match(text, / \(default: .*\)$/)) { def = substr(text, RSTART + 11, RLENGTH - 12)
                                              text = substr(text, 1, RSTART - 1) }
      if (key != "config" && key != "help" && key != "print-config")
        printf "\n# %s\n# %s = %s\n", text, key, def
      key = ""
    }'
}
# Man page OPTIONS section.
manopts() {  # $1 binary
  "$native/$1" --help | awk '
    /^  --/ { printf ".TP\n\\fB%s\\fR", $1; if ($2 != "") printf " \\fI%s\\fR", $2; printf "\n"; next }
    /^      / { sub(/^      /, ""); print }' | sed -e 's/\\fB--/\\fB\\-\\-/' -e '/^[^.]/s/-/\\-/g'
}
mkdir -p "$stage/gen"
{
  echo "# /etc/quorumwatch/agent.conf: quorumwatch-agent settings (key = value; flags override)."
  echo "# Every key is listed commented out at its default; see quorumwatch-agent(8)."
  echo "# Secrets come from systemd credentials (LoadCredential= in quorumwatch-agent.service):"
  echo "# put them in /etc/quorumwatch/credentials/ (root only) or use a drop-in from"
  echo "# /usr/share/doc/quorumwatch-agent/examples/ (k3s, kubeadm)."
  conffile quorumwatch-agent
  cat <<'EOF'

# ---- packaged settings -------------------------------------------------------------------------
# The aggregator's token (quorumwatch-aggregator makes one at installation; copy its
# /etc/quorumwatch/credentials/aggregator.token to /etc/quorumwatch/credentials/agent.token here).
token-file = /run/credentials/quorumwatch-agent.service/token
# Unacknowledged batches survive agent restarts, on tmpfs (RuntimeDirectory=), never etcd's disk.
spool-file = /run/quorumwatch-agent/spool
# https etcd (k3s, kubeadm): the certificates systemd hands over (see the examples):
# etcd-cacert = /run/credentials/quorumwatch-agent.service/etcd-ca.crt
# etcd-cert = /run/credentials/quorumwatch-agent.service/etcd-client.crt
# etcd-key = /run/credentials/quorumwatch-agent.service/etcd-client.key
EOF
} >"$stage/gen/agent.conf"
{
  echo "# /etc/quorumwatch/aggregator.conf: quorumwatch-aggregator settings (key = value)."
  echo "# Every key is listed commented out at its default; see quorumwatch-aggregator(8)."
  echo "# Secrets come from systemd credentials (LoadCredential= in"
  echo "# quorumwatch-aggregator.service) from /etc/quorumwatch/credentials/ (root only)."
  conffile quorumwatch-aggregator
  cat <<'EOF'

# ---- packaged settings -------------------------------------------------------------------------
# Agents must present this token (made at installation in
# /etc/quorumwatch/credentials/aggregator.token; copy it to every agent's agent.token).
token-file = /run/credentials/quorumwatch-aggregator.service/token
# TLS (wss:// and https://): put aggregator-tls.crt / aggregator-tls.key (and
# aggregator-client-ca.crt for client certificates) in /etc/quorumwatch/credentials/, then:
# tls-cert = /run/credentials/quorumwatch-aggregator.service/tls.crt
# tls-key = /run/credentials/quorumwatch-aggregator.service/tls.key
# client-ca = /run/credentials/quorumwatch-aggregator.service/client-ca.crt
EOF
} >"$stage/gen/aggregator.conf"
# The packaged conffiles must parse (unknown keys are errors).
"$native/quorumwatch-agent" --config "$stage/gen/agent.conf" --help >/dev/null
"$native/quorumwatch-aggregator" --config "$stage/gen/aggregator.conf" --help >/dev/null

date_man=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%d)
for m in quorumwatch-agent.8 quorumwatch-aggregator.8 quorumwatch.1; do
  bin=${m%.*}
  manopts "$bin" >"$stage/gen/$bin.opts"
  sed -e "s/@DATE@/$date_man/" -e "s/@VERSION@/$version/" \
    -e "/@OPTIONS@/{r $stage/gen/$bin.opts" -e 'd}' "packaging/man/$m.in" >"$stage/gen/$m"
done
{
  echo "quorumwatch ($version) bookworm; urgency=medium"
  echo
  echo "  * Built by scripts/package.sh from the quorumwatch source tree."
  echo
  echo " -- $maintainer  $(date -u -R -d "@$SOURCE_DATE_EPOCH")"
} >"$stage/gen/changelog"

# ---- runtime dependencies -----------------------------------------------------------------------
# dpkg-shlibdeps on the amd64 binaries (it needs a debian/control); the cross binaries must need
# exactly the same libraries (checked below), and Debian 12 has the same versions on every arch.
shlibdeps() {  # $@ binaries -> Depends value
  local d=$stage/shlibdeps
  mkdir -p "$d/debian"
  printf 'Source: quorumwatch\n\nPackage: quorumwatch\nArchitecture: any\n' >"$d/debian/control"
  local abs=()
  for b in "$@"; do abs+=("$root/$b"); done
  (cd "$d" && dpkg-shlibdeps -O "${abs[@]}" 2>/dev/null) | sed -n 's/^shlibs:Depends=//p'
}
dep_agent=$(shlibdeps "$native/quorumwatch-agent")
dep_aggregator=$(shlibdeps "$native/quorumwatch-aggregator" "$native/quorumwatch")
needed() { readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | grep -v '^ld-linux' | sort | tr '\n' ' '; }

# ---- assemble -----------------------------------------------------------------------------------
declare -A elf=([amd64]='x86-64' [arm64]='ARM aarch64' [armhf]='ARM, EABI5')
declare -A strip=([amd64]=strip [arm64]=aarch64-linux-gnu-strip [armhf]=arm-linux-gnueabihf-strip)
sizes=""
build_deb() {  # $1 package $2 arch
  local pkg=$1 arch=$2 d=$stage/$1_$2 comp unit bins desc depends recommends
  rm -rf "$d"
  mkdir -p "$d/DEBIAN" "$d/usr/bin" "$d/lib/systemd/system" "$d/etc/quorumwatch" \
    "$d/usr/share/doc/$pkg" "$d/usr/share/man/man8"
  if [ "$pkg" = quorumwatch-agent ]; then
    # libsystemd is dlopen()ed for the etcd unit's restart count (agent/src/unit_watch.cpp).
    comp=agent bins="quorumwatch-agent" depends="$dep_agent" recommends="libsystemd0"
    desc="etcd quorum monitor: node agent
 quorumwatch gives early warning for etcd on small clusters (Raspberry Pi
 k3s or kubeadm, or plain etcd, 3 to 7 nodes). This agent runs on every
 etcd node: it samples the local member (status, health, members, alarms,
 /metrics) and the node (disk, thermal, pressure) and streams the samples
 to quorumwatch-aggregator, at idle I/O priority and low CPU weight."
  else
    comp=aggregator bins="quorumwatch-aggregator quorumwatch" depends="$dep_aggregator" recommends=""
    desc="etcd quorum monitor: aggregator, API and CLI
 quorumwatch gives early warning for etcd on small clusters (Raspberry Pi
 k3s or kubeadm, or plain etcd, 3 to 7 nodes). The aggregator receives the
 agents' samples, stores them in SQLite and answers whether the cluster
 can lose another member, and if not why, over HTTP JSON, Prometheus
 /metrics and a small web page. The quorumwatch command prints that view."
    mkdir -p "$d/usr/share/man/man1"
  fi
  unit=$pkg.service
  for b in $bins; do
    install -m 0755 "${bindir[$arch]}/$b" "$d/usr/bin/$b"
    "${strip[$arch]}" --strip-unneeded --remove-section=.comment --remove-section=.note \
      "$d/usr/bin/$b"
    if ! file -b "$d/usr/bin/$b" | grep -q "${elf[$arch]}"; then
      echo "package.sh: $b for $arch is $(file -b "$d/usr/bin/$b")" >&2
      exit 1
    fi
    local n
    n=$(needed "$d/usr/bin/$b")
    if [ "$n" != "$(needed "$native/$b")" ]; then
      echo "package.sh: $b for $arch needs '$n', amd64 needs '$(needed "$native/$b")'" >&2
      exit 1
    fi
    sizes+="$(printf '  %-24s %-6s %9d bytes stripped; needs %s' "$b" "$arch" \
      "$(stat -c %s "$d/usr/bin/$b")" "$n")"$'\n'
  done
  install -m 0644 "build-pkg/systemd/$unit" "$d/lib/systemd/system/$unit"
  install -m 0644 "$stage/gen/$comp.conf" "$d/etc/quorumwatch/$comp.conf"
  gzip -9n -c "$stage/gen/$pkg.8" >"$d/usr/share/man/man8/$pkg.8.gz"
  [ "$pkg" = quorumwatch-aggregator ] && gzip -9n -c "$stage/gen/quorumwatch.1" \
    >"$d/usr/share/man/man1/quorumwatch.1.gz"
  gzip -9n -c "$stage/gen/changelog" >"$d/usr/share/doc/$pkg/changelog.gz"
  install -m 0644 packaging/copyright "$d/usr/share/doc/$pkg/copyright"
  if [ "$pkg" = quorumwatch-agent ]; then
    mkdir -p "$d/usr/share/doc/$pkg/examples"
    install -m 0644 packaging/examples/k3s.conf packaging/examples/kubeadm.conf \
      "$d/usr/share/doc/$pkg/examples/"
  fi
  for s in postinst prerm postrm; do
    sed -e "s/@PKG@/$pkg/g" -e "s/@UNIT@/$unit/g" "packaging/maint/$s.in" >"$d/DEBIAN/$s"
    chmod 0755 "$d/DEBIAN/$s"
  done
  echo "/etc/quorumwatch/$comp.conf" >"$d/DEBIAN/conffiles"
  (cd "$d" && find usr lib -type f | sort | xargs md5sum) >"$d/DEBIAN/md5sums"
  cat >"$d/DEBIAN/control" <<EOF
Package: $pkg
Version: $version
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $(du -sk --exclude=DEBIAN "$d" | cut -f1)
Depends: $depends, adduser
${recommends:+Recommends: $recommends
}Section: admin
Priority: optional
Description: $desc
EOF
  find "$d" -type d -exec chmod 0755 {} +
  touch -h -d "@$SOURCE_DATE_EPOCH" $(find "$d")
  dpkg-deb --root-owner-group -Zxz --build "$d" "$dist/${pkg}_${version}_$arch.deb" >/dev/null
}
for arch in $ARCHES; do
  build_deb quorumwatch-agent "$arch"
  build_deb quorumwatch-aggregator "$arch"
done

# ---- checks -------------------------------------------------------------------------------------
for arch in $ARCHES; do
  for pkg in quorumwatch-agent quorumwatch-aggregator; do
    deb=$dist/${pkg}_${version}_$arch.deb
    c=$(dpkg-deb --contents "$deb")
    if [ "$pkg" = quorumwatch-agent ]; then
      want="./usr/bin/quorumwatch-agent ./lib/systemd/system/quorumwatch-agent.service
            ./etc/quorumwatch/agent.conf ./usr/share/man/man8/quorumwatch-agent.8.gz
            ./usr/share/doc/quorumwatch-agent/copyright
            ./usr/share/doc/quorumwatch-agent/examples/k3s.conf"
    else
      want="./usr/bin/quorumwatch-aggregator ./usr/bin/quorumwatch
            ./lib/systemd/system/quorumwatch-aggregator.service ./etc/quorumwatch/aggregator.conf
            ./usr/share/man/man8/quorumwatch-aggregator.8.gz ./usr/share/man/man1/quorumwatch.1.gz
            ./usr/share/doc/quorumwatch-aggregator/copyright"
    fi
    for f in $want; do
      if ! grep -q " $f\$" <<<"$c"; then echo "package.sh: $deb lacks $f" >&2; exit 1; fi
    done
    if grep -q -- '-rwxr-xr-x root/root .* ./usr/bin/' <<<"$c"; then :; else
      echo "package.sh: $deb: binaries not root-owned 0755" >&2; exit 1
    fi
    [ "$(dpkg-deb -f "$deb" Architecture)" = "$arch" ] || { echo "bad arch in $deb" >&2; exit 1; }
  done
done
echo "package.sh: dpkg-deb --contents checks passed"

echo "package.sh: lintian"
lintian --no-tag-display-limit "$dist"/*.deb >"$dist/lintian.txt" 2>&1 || true
cat "$dist/lintian.txt"
if grep -q '^E: ' "$dist/lintian.txt"; then
  echo "package.sh: lintian reports errors" >&2
  exit 1
fi

if [[ " $ARCHES " == *" amd64 "* ]] && [ "$(id -u)" -eq 0 ] && [ "${QW_INSTALL_TEST:-1}" = 1 ]; then
  echo "package.sh: dpkg -i / dpkg --purge of the amd64 packages"
  a=$dist/quorumwatch-agent_${version}_amd64.deb g=$dist/quorumwatch-aggregator_${version}_amd64.deb
  dpkg -i "$g" "$a" >/dev/null
  fail() { echo "package.sh: install check: $*" >&2; dpkg --purge quorumwatch-agent \
    quorumwatch-aggregator >/dev/null 2>&1 || true; exit 1; }
  getent passwd quorumwatch >/dev/null || fail "no quorumwatch user"
  [ "$(stat -c %a /etc/quorumwatch/credentials)" = 700 ] || fail "credentials dir not 0700"
  [ "$(stat -c %a /etc/quorumwatch/credentials/aggregator.token)" = 600 ] || fail "token mode"
  cmp -s /etc/quorumwatch/credentials/aggregator.token /etc/quorumwatch/credentials/agent.token ||
    fail "agent.token is not the aggregator's token"
  for u in quorumwatch-agent quorumwatch-aggregator; do
    [ -L /etc/systemd/system/multi-user.target.wants/$u.service ] || fail "$u not enabled"
    systemd-analyze verify --man=no /lib/systemd/system/$u.service || fail "verify $u"
  done
  /usr/bin/quorumwatch-agent --config /etc/quorumwatch/agent.conf --help >/dev/null ||
    fail "agent.conf does not parse"
  /usr/bin/quorumwatch-aggregator --config /etc/quorumwatch/aggregator.conf --help >/dev/null ||
    fail "aggregator.conf does not parse"
  /usr/bin/quorumwatch --help >/dev/null || fail "quorumwatch --help"
  dpkg --purge quorumwatch-agent quorumwatch-aggregator >/dev/null
  for f in /usr/bin/quorumwatch-agent /etc/quorumwatch /lib/systemd/system/quorumwatch-agent.service \
    /etc/systemd/system/multi-user.target.wants/quorumwatch-agent.service; do
    [ ! -e "$f" ] && [ ! -L "$f" ] || fail "$f left after purge"
  done
  echo "package.sh: installed, enabled (no running systemd: not started), purged: OK"
fi

echo
echo "package.sh: packages in dist/ (build times:$timing total $(($(date +%s) - t0)) s)"
for f in "$dist"/*.deb; do printf '  %-48s %8d bytes\n' "$(basename "$f")" "$(stat -c %s "$f")"; done
echo "package.sh: binaries"
printf '%s' "$sizes"
