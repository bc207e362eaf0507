#!/usr/bin/env bash
# Builds the Debian packages quorumwatch-agent and quorumwatch-aggregator (with the CLI) for
# amd64, arm64 and armhf into dist/, and checks them: dpkg-deb --contents, ELF machine of every
# binary, runtime libraries (no libmbed*: mbedTLS is linked statically and recorded in
# Built-Using), lintian (fails on errors), the cross unit tests under qemu-user, dpkg -i +
# dpkg --purge of the amd64 packages on this machine, apt-get install + the binaries + apt-get
# purge in fresh Debian 12 and Debian 13 amd64 roots (debootstrap, chroot), and whether apt
# resolves every package's dependencies on Debian 12 and 13 (apt-get install --simulate with a
# private apt state per release and architecture; armhf on Debian 13 is only reported).
#   ./scripts/package.sh            QW_ARCHES="amd64 arm64" limits the architectures
#   QW_INSTALL_TEST=0   skips the install checks (this machine and the debootstrap roots)
#   QW_RESOLVE_TEST=0   skips the apt-get --simulate checks
#   QW_DEBIAN_MIRROR    Debian mirror of the roots and the simulations (http://deb.debian.org/debian)
# Installs what it needs itself (apt). Build directories: build-pkg (amd64), build-cross-ARCH;
# staging in build-pkg-stage/. The packages are assembled with dpkg-deb from the CMake builds
# (compiler flags from dpkg-buildflags with hardening=+all, binaries stripped). Cached in
# $QW_CACHE_DIR (default ~/.cache/quorumwatch): roots/RELEASE-amd64 (pristine debootstrap roots,
# made once; each run works on a copy), apt/RELEASE-ARCH (private apt states), the sysroots.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
ARCHES=${QW_ARCHES:-amd64 arm64 armhf}
cache=${QW_CACHE_DIR:-$HOME/.cache/quorumwatch}
mirror=${QW_DEBIAN_MIRROR:-http://deb.debian.org/debian}
security_mirror=${mirror%/debian}/debian-security
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
t0=$(date +%s)

./scripts/deps.sh
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
need=()
for p in lintian dpkg-dev file adduser init-system-helpers binutils systemd debootstrap \
  debian-archive-keyring util-linux; do
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

# ---- mbedTLS: linked statically (cmake/QwDependencies.cmake) -------------------------------------
# Debian 13 has no libmbedtls14/libmbedx509-1/libmbedcrypto7 (only mbedTLS 3.6), so no binary may
# need a libmbed*.so. The packages say which mbedTLS they carry: Built-Using with the source
# version of the libmbedtls-dev whose archives were linked (this machine's for amd64, the
# sysroot's for the cross architectures, as scripts/cross.sh recorded it).
declare -A built_using
for arch in $ARCHES; do
  for b in quorumwatch-agent quorumwatch-aggregator quorumwatch; do
    f=${bindir[$arch]}/$b
    m=$(readelf -d "$f" | sed -n 's/.*(NEEDED).*\[\(libmbed[^]]*\)\].*/\1/p' | tr '\n' ' ')
    if [ -n "$m" ]; then
      echo "package.sh: FAILED: $f ($arch) needs $m- mbedTLS must be linked statically" \
        "(cmake/QwDependencies.cmake); Debian 13 has no such libraries" >&2
      exit 1
    fi
  done
  bdir=${bindir[$arch]%/bin}
  for v in QW_MBEDTLS_A QW_MBEDX509_A QW_MBEDCRYPTO_A; do
    a=$(sed -n "s/^$v:FILEPATH=//p" "$bdir/CMakeCache.txt")
    case "$a" in
      *.a) ;;
      *) echo "package.sh: FAILED: $bdir links '$a' as $v, not a static archive" >&2; exit 1 ;;
    esac
    if [ "$arch" = amd64 ]; then
      ours=0
      [ "$(dpkg -S "$(realpath "$a")" 2>/dev/null | cut -d: -f1)" = libmbedtls-dev ] && ours=1
    else
      ours=0
      [[ "$a" == "$cache/sysroot-bookworm-$arch/"* ]] && ours=1
    fi
    if [ $ours != 1 ]; then
      echo "package.sh: FAILED: $bdir links $a, not libmbedtls-dev's archive for $arch" >&2
      exit 1
    fi
  done
  if [ "$arch" = amd64 ]; then
    mbed_ver=$(dpkg-query -W -f='${source:Version}' libmbedtls-dev)
  else
    mbed_ver=$(awk '$1 == "libmbedtls-dev" { print $3 }' \
      "$cache/sysroot-bookworm-$arch/.qw-debs" 2>/dev/null || true)
  fi
  if [ -z "$mbed_ver" ]; then
    echo "package.sh: FAILED: no libmbedtls-dev version for $arch (sysroot's .qw-debs)" >&2
    exit 1
  fi
  built_using[$arch]="mbedtls (= $mbed_ver)"
done
echo "package.sh: no binary needs libmbed*; Built-Using:$(for a in $ARCHES; do
  printf ' %s %s;' "$a" "${built_using[$a]}"; done)"

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
  local pkg=$1 arch=$2 d=$stage/$1_$2 comp unit bins desc depends recommends suggests=""
  rm -rf "$d"
  mkdir -p "$d/DEBIAN" "$d/usr/bin" "$d/lib/systemd/system" "$d/etc/quorumwatch" \
    "$d/usr/share/doc/$pkg" "$d/usr/share/man/man8"
  if [ "$pkg" = quorumwatch-agent ]; then
    # libsystemd is dlopen()ed for the etcd unit's restart count (agent/src/sys/unit_watch.cpp).
    comp=agent bins="quorumwatch-agent" depends="$dep_agent" recommends="libsystemd0"
    desc="etcd quorum monitor: node agent
 quorumwatch gives early warning for etcd on small clusters (Raspberry Pi
 k3s or kubeadm, or plain etcd, 3 to 7 nodes). This agent runs on every
 etcd node: it samples the local member (status, health, members, alarms,
 /metrics) and the node (disk, thermal, pressure) and streams the samples
 to quorumwatch-aggregator, at idle I/O priority and low CPU weight."
  else
    comp=aggregator bins="quorumwatch-aggregator quorumwatch" depends="$dep_aggregator" recommends=""
    # Restore drills run etcd's own tools. Only suggested: etcd-server starts a service on
    # 127.0.0.1:2379, which on a k3s or kubeadm node would take the real etcd's port (README
    # "Restore drills" says how to get the binaries without a service).
    suggests="etcd-server, etcd-client"
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
  else
    # Prometheus alerting rules (with their promtool tests) and the Grafana dashboard for /metrics.
    install -D -m 0644 -t "$d/usr/share/quorumwatch/prometheus" \
      packaging/prometheus/quorumwatch.rules.yml packaging/prometheus/quorumwatch.rules.test.yml
    install -D -m 0644 -t "$d/usr/share/quorumwatch/grafana" packaging/grafana/quorumwatch.json
  fi
  # mbedTLS is linked statically on purpose (see the Built-Using field): tell lintian, whose
  # embedded-library tag is an error but one it allows to be overridden.
  mkdir -p "$d/usr/share/lintian/overrides"
  {
    echo "# mbedTLS 2.28 is linked statically on purpose: Debian 13 ships only mbedTLS 3.6 (another"
    echo "# ABI, other package names). Built-Using records the version; README \"Packaging\"."
    for b in $bins; do echo "$pkg: embedded-library mbedtls [usr/bin/$b]"; done
  } >"$d/usr/share/lintian/overrides/$pkg"
  chmod 0644 "$d/usr/share/lintian/overrides/$pkg"
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
}${suggests:+Suggests: $suggests
}Built-Using: ${built_using[$arch]}
Section: admin
Priority: optional
Description: $desc
EOF
  find "$d" -type d -exec chmod 0755 {} +
  find "$d" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
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
            ./usr/share/doc/quorumwatch-aggregator/copyright
            ./usr/share/quorumwatch/prometheus/quorumwatch.rules.yml
            ./usr/share/quorumwatch/prometheus/quorumwatch.rules.test.yml
            ./usr/share/quorumwatch/grafana/quorumwatch.json"
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
    if [ -e "$f" ] || [ -L "$f" ]; then fail "$f left after purge"; fi
  done
  echo "package.sh: installed, enabled (no running systemd: not started), purged: OK"
fi

# ---- install checks in fresh Debian 12 and Debian 13 roots (amd64) ------------------------------
# A pristine minbase root per release, made once with debootstrap in $cache/roots/RELEASE-amd64
# (apt lists updated); each run copies it to a scratch root, chroots in with /proc and a minimal
# /dev of its own (unmounted by the EXIT trap), and there: apt-get update, apt-get install of
# both packages, the binaries, apt-get purge, nothing left. No systemd runs in the chroot: the
# maintainer scripts enable the units and start nothing.
release_sources() {  # $1 release [$2 signed-by option] -> sources.list lines
  local so=${2:+[$2] }
  printf 'deb %s%s %s main\ndeb %s%s %s-updates main\ndeb %s%s %s-security main\n' \
    "$so" "$mirror" "$1" "$so" "$mirror" "$1" "$so" "$security_mirror" "$1"
}
chroot_mounts=()
umount_chroots() {
  local i
  for ((i = ${#chroot_mounts[@]} - 1; i >= 0; i--)); do
    umount "${chroot_mounts[i]}" 2>/dev/null || umount -l "${chroot_mounts[i]}" 2>/dev/null || true
  done
  chroot_mounts=()
}
trap umount_chroots EXIT
trap 'exit 130' INT TERM
mount_in() {  # $@ mount arguments, the mount point last
  mount "$@"
  chroot_mounts+=("${!#}")
}
# Removes a root that may have been left mounted by an interrupted run (never crosses into a mount).
remove_root() {  # $1 dir
  [ -e "$1" ] || return 0
  local m
  for m in $(findmnt -rn -o TARGET | grep -F "$1/" | sort -r); do umount -l "$m"; done
  if findmnt -rn -o TARGET | grep -qF "$1/"; then
    echo "package.sh: FAILED: $1 still has mounts; not removing it" >&2
    exit 1
  fi
  rm -rf --one-file-system "$1"
}
enter_root() {  # $1 root: mounts /proc and a tmpfs /dev with the usual nodes
  local r=$1
  mount_in -t proc proc "$r/proc"
  mount_in -t tmpfs -o mode=0755,nosuid,size=1m tmpfs "$r/dev"
  mknod -m 0666 "$r/dev/null" c 1 3
  mknod -m 0666 "$r/dev/zero" c 1 5
  mknod -m 0666 "$r/dev/full" c 1 7
  mknod -m 0666 "$r/dev/random" c 1 8
  mknod -m 0666 "$r/dev/urandom" c 1 9
  mknod -m 0666 "$r/dev/tty" c 5 0
  ln -s /proc/self/fd "$r/dev/fd"
  ln -s /proc/self/fd/0 "$r/dev/stdin"
  ln -s /proc/self/fd/1 "$r/dev/stdout"
  ln -s /proc/self/fd/2 "$r/dev/stderr"
  mkdir "$r/dev/pts" "$r/dev/shm"
  mount_in -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts "$r/dev/pts"
  ln -s pts/ptmx "$r/dev/ptmx"
  cp /etc/resolv.conf "$r/etc/resolv.conf"
}
in_root() {  # $1 root, then the command
  local r=$1
  shift
  chroot "$r" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    HOME=/root LC_ALL=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"
}
make_root() {  # $1 release: the pristine root, made once
  local rel=$1 r=$cache/roots/$1-amd64 log=$cache/roots/$1-amd64.log
  [ -f "$r/.qw-pristine" ] && return 0
  echo "package.sh: debootstrap --variant=minbase $rel into $r (once; later runs reuse it)"
  mkdir -p "$cache/roots"
  remove_root "$r.tmp"
  if ! debootstrap --variant=minbase --arch=amd64 --keyring="$keyring" "$rel" "$r.tmp" \
    "$mirror" >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    echo "package.sh: FAILED: install check Debian $rel: debootstrap (log: $log)" >&2
    exit 1
  fi
  release_sources "$rel" >"$r.tmp/etc/apt/sources.list"
  enter_root "$r.tmp"
  if ! in_root "$r.tmp" apt-get update >>"$log" 2>&1; then
    tail -n 30 "$log" >&2
    echo "package.sh: FAILED: install check Debian $rel: apt-get update in the new root" >&2
    exit 1
  fi
  in_root "$r.tmp" apt-get clean
  umount_chroots
  touch "$r.tmp/.qw-pristine"
  mv "$r.tmp" "$r"
}
root_check() {  # $1 release
  local rel=$1 s=$cache/roots/scratch-$1-amd64 d log n=0
  d=$stage/install-$rel
  make_root "$rel"
  remove_root "$s"
  rm -rf "$d"
  mkdir -p "$d"
  cp -a "$cache/roots/$rel-amd64" "$s"
  enter_root "$s"
  mkdir -m 0755 "$s/tmp/qw"
  install -m 0644 "$dist/quorumwatch-agent_${version}_amd64.deb" \
    "$dist/quorumwatch-aggregator_${version}_amd64.deb" "$s/tmp/qw/"
  step() {  # $1 step name, then the command in the root; its output in $d/N-step.log
    n=$((n + 1))
    log=$d/$n-${1//[^a-z0-9-]/_}.log
    local name=$1
    shift
    if ! in_root "$s" "$@" >"$log" 2>&1; then
      echo "---- output of '$name' on Debian $rel:" >&2
      cat "$log" >&2
      echo "package.sh: FAILED: install check Debian $rel (amd64 root $s): $name" >&2
      exit 1
    fi
  }
  step "apt-get update" apt-get update
  step "apt-get install" sh -c "cd /tmp/qw && apt-get install -y --no-install-recommends \
    ./quorumwatch-agent_${version}_amd64.deb ./quorumwatch-aggregator_${version}_amd64.deb"
  local newpkgs
  newpkgs=$(awk '/^The following NEW packages will be installed:/ { on = 1; next }
                 on && /^  / { printf "%s", $0; next } { on = 0 }' "$log" | tr -s ' ')
  # shellcheck disable=SC2016 # expanded by the root's sh
  step "installed" sh -c 'for p in quorumwatch-agent quorumwatch-aggregator; do
      [ "$(dpkg-query -W -f="\${db:Status-Abbrev}" $p)" = "ii " ] || { echo "$p not installed"; exit 1; }
    done
    if dpkg-query -W -f="\${Package} \${db:Status-Abbrev}\n" "libmbed*" 2>/dev/null | grep " ii"; then
      echo "a libmbed* package was installed"; exit 1
    fi
    getent passwd quorumwatch >/dev/null || { echo "no quorumwatch user"; exit 1; }
    [ -s /etc/quorumwatch/credentials/aggregator.token ] || { echo "no aggregator.token"; exit 1; }'
  step "quorumwatch-agent --help" quorumwatch-agent --help
  step "quorumwatch-agent --print-config" quorumwatch-agent --print-config
  step "quorumwatch-agent --config /etc/quorumwatch/agent.conf --help" \
    quorumwatch-agent --config /etc/quorumwatch/agent.conf --help
  step "quorumwatch-aggregator --help" quorumwatch-aggregator --help
  step "quorumwatch-aggregator --config /etc/quorumwatch/aggregator.conf --help" \
    quorumwatch-aggregator --config /etc/quorumwatch/aggregator.conf --help
  step "quorumwatch --help" quorumwatch --help
  step "apt-get purge" apt-get purge -y quorumwatch-agent quorumwatch-aggregator
  # shellcheck disable=SC2016 # expanded by the root's sh
  step "purged" sh -c 'for p in quorumwatch-agent quorumwatch-aggregator; do
      st=$(dpkg-query -W -f="\${db:Status-Status}" $p 2>/dev/null || true)
      case "$st" in "" | not-installed) ;; *) echo "$p is $st after purge"; exit 1 ;; esac
    done
    for f in /usr/bin/quorumwatch-agent /usr/bin/quorumwatch-aggregator /usr/bin/quorumwatch \
      /etc/quorumwatch /var/lib/quorumwatch /lib/systemd/system/quorumwatch-agent.service \
      /lib/systemd/system/quorumwatch-aggregator.service \
      /etc/systemd/system/multi-user.target.wants/quorumwatch-agent.service \
      /etc/systemd/system/multi-user.target.wants/quorumwatch-aggregator.service; do
      if [ -e "$f" ] || [ -L "$f" ]; then echo "$f left after purge"; exit 1; fi
    done'
  umount_chroots
  remove_root "$s"
  install_summary+="  Debian $rel amd64 root: apt-get install, --help/--print-config of the three"
  install_summary+=" binaries, apt-get purge: OK; apt added:$newpkgs"$'\n'
}
install_summary=""
t_install=$(date +%s)
if [[ " $ARCHES " == *" amd64 "* ]] && [ "${QW_INSTALL_TEST:-1}" = 1 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "package.sh: install checks in Debian 12/13 roots SKIPPED (debootstrap and chroot need root)"
  else
    for rel in bookworm trixie; do
      echo "package.sh: install check in a fresh Debian $rel amd64 root"
      root_check "$rel"
    done
    printf 'package.sh: install checks:\n%s' "$install_summary"
  fi
fi

# ---- dependency resolution on Debian 12 and 13 for every architecture --------------------------
# No foreign root can run here (no binfmt_misc), so apt resolves each package against the
# release's indexes: apt-get install --simulate with a private state (empty dpkg status, own
# lists and cache in $cache/apt/RELEASE-ARCH, the Debian archive keyring). Must pass everywhere
# except armhf on Debian 13, which is reported: trixie's armhf libssl3t64 has 64-bit time_t, a new
# ABI, and does not provide libssl3.
apt_state() {  # $1 release $2 arch -> sets apt_o
  local d=$cache/apt/$1-$2
  mkdir -p "$d/lists/partial" "$d/cache/archives/partial" "$d/etc/sources.list.d" \
    "$d/etc/preferences.d"
  : >"$d/status"
  release_sources "$1" "signed-by=$keyring" >"$d/etc/sources.list"
  apt_o=(-o "APT::Architecture=$2" -o "APT::Architectures=$2" -o "Dir::State=$d"
         -o "Dir::State::Lists=$d/lists" -o "Dir::State::status=$d/status" -o "Dir::Cache=$d/cache"
         -o "Dir::Etc::SourceList=$d/etc/sources.list" -o "Dir::Etc::SourceParts=$d/etc/sources.list.d"
         -o "Dir::Etc::Preferences=$d/etc/preferences"
         -o "Dir::Etc::PreferencesParts=$d/etc/preferences.d"
         -o Acquire::Languages=none -o Acquire::GzipIndexes=true -o APT::Install-Recommends=false
         -o Debug::NoLocking=1)
  [ "$(id -u)" -eq 0 ] && apt_o+=(-o APT::Sandbox::User=root)
  if ! apt-get "${apt_o[@]}" update -qq >"$d/update.log" 2>&1; then
    if ls "$d"/lists/*_Packages* >/dev/null 2>&1; then
      echo "package.sh: apt-get update for $1 $2 failed in part; using the indexes there are:"
      sed 's/^/  /' "$d/update.log"
    else
      cat "$d/update.log" >&2
      echo "package.sh: FAILED: dependency check Debian $1 $2: apt-get update" >&2
      exit 1
    fi
  fi
}
resolve_summary=""
t_resolve=$(date +%s)
timing+=" Debian 12/13 install checks $((t_resolve - t_install)) s;"
if [ "${QW_RESOLVE_TEST:-1}" = 1 ]; then
  for rel in bookworm trixie; do
    for arch in $ARCHES; do
      apt_state "$rel" "$arch"
      for pkg in quorumwatch-agent quorumwatch-aggregator; do
        deb=$dist/${pkg}_${version}_$arch.deb
        out=$stage/simulate-$rel-$arch-$pkg.log
        if apt-get "${apt_o[@]}" install --simulate "$deb" >"$out" 2>&1; then
          libs=$(sed -n 's/^Inst \(libc6\|libssl[^ ]*\|libsqlite3[^ ]*\|adduser\) (\([^ ]*\).*/\1 \2/p' \
            "$out" | paste -sd, - | sed 's/,/, /g')
          resolve_summary+="  Debian $rel $arch $pkg: resolves ($libs)"$'\n'
        else
          why=$(sed -n 's/^ *\(.*Depends: .*\)$/\1/p' "$out" | sed 's/  */ /g' | paste -sd';' -)
          if [ "$rel" = trixie ] && [ "$arch" = armhf ]; then
            resolve_summary+="  Debian $rel $arch $pkg: DOES NOT RESOLVE (reported, not fatal): $why"$'\n'
          else
            cat "$out" >&2
            echo "package.sh: FAILED: dependency check Debian $rel $arch: $pkg does not" \
              "resolve: $why" >&2
            exit 1
          fi
        fi
      done
      if [ "$rel" = bookworm ]; then
        # The release process rebuilds when Debian 12 updates mbedtls (README "Packaging").
        have=${built_using[$arch]#mbedtls (= }
        have=${have%)}
        cand=$(apt-cache "${apt_o[@]}" policy libmbedtls-dev | awk '/Candidate:/ { print $2 }')
        if [ -n "$cand" ] && dpkg --compare-versions "$cand" gt "$have"; then
          resolve_summary+="  WARNING: Debian 12 $arch has libmbedtls-dev $cand, the packages carry"
          resolve_summary+=" mbedtls $have: upgrade libmbedtls-dev, remove the sysroots, rebuild"$'\n'
        else
          resolve_summary+="  Debian bookworm $arch libmbedtls-dev candidate ${cand:-none}: the"
          resolve_summary+=" packages' Built-Using mbedtls (= $have) is current"$'\n'
        fi
      fi
      if [ "$rel" = trixie ]; then
        # How Debian 13 satisfies libssl3 (the t64 rename): what libssl3t64 provides here.
        prov=$(apt-cache "${apt_o[@]}" show --no-all-versions libssl3t64 2>/dev/null |
          awk '/^Version:/ { v = $2 } /^Provides:/ { p = substr($0, 11) } /^$/ { if (v != "") { print v ": provides " (p == "" ? "nothing" : p); exit } }')
        resolve_summary+="  Debian trixie $arch libssl3t64 ${prov:-not found}"$'\n'
      fi
    done
  done
  printf 'package.sh: dependency resolution (apt-get install --simulate, private apt state):\n%s' \
    "$resolve_summary"
fi

timing+=" dependency resolution $(($(date +%s) - t_resolve)) s;"
echo
echo "package.sh: packages in dist/ (times:$timing total $(($(date +%s) - t0)) s)"
for f in "$dist"/*.deb; do printf '  %-48s %8d bytes\n' "$(basename "$f")" "$(stat -c %s "$f")"; done
echo "package.sh: control fields"
for f in "$dist"/*.deb; do
  printf '  %s\n    Depends: %s\n    Built-Using: %s\n' "$(basename "$f")" \
    "$(dpkg-deb -f "$f" Depends)" "$(dpkg-deb -f "$f" Built-Using)"
done
echo "package.sh: binaries"
printf '%s' "$sizes"
