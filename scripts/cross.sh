#!/usr/bin/env bash
# Cross builds for Debian 12 / Raspberry Pi OS bookworm: arm64 (aarch64) and armhf (ARMv7).
#   ./scripts/cross.sh ARCH [--bins] [--tests]     ARCH: arm64 | armhf
#   --bins   build quorumwatch-agent, quorumwatch-aggregator, quorumwatch (Release)
#   --tests  build qw_unit_tests and run them under qemu-user (fails if they fail)
#   (neither: both)
# Installs what it needs itself (apt: the cross g++, qemu-user-static, protoc of the build machine)
# and builds a sysroot of the target's -dev packages in $QW_CACHE_DIR/sysroot-bookworm-ARCH
# (default ~/.cache/quorumwatch) with apt-get download + dpkg-deb -x, through a private apt state:
# the machine's dpkg architectures and apt lists stay untouched. A second run with the sysroot
# present needs no network. Build directory: build-cross-ARCH (BUILD_DIR overrides).
# Compiler flags: dpkg-buildflags for the target (-O2, hardening), as the packages use them.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

arch=${1:-}
shift || true
want_bins=0 want_tests=0
for a in "$@"; do
  case "$a" in
    --bins) want_bins=1 ;;
    --tests) want_tests=1 ;;
    *) echo "cross.sh: unknown argument $a" >&2; exit 2 ;;
  esac
done
[ $want_bins = 0 ] && [ $want_tests = 0 ] && want_bins=1 want_tests=1

case "$arch" in
  arm64) triplet=aarch64-linux-gnu qemu=qemu-aarch64-static elf='ARM aarch64' ;;
  armhf) triplet=arm-linux-gnueabihf qemu=qemu-arm-static elf='ARM, EABI5' ;;
  *) echo "usage: cross.sh arm64|armhf [--bins] [--tests]" >&2; exit 2 ;;
esac

t0=$(date +%s)
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; fi
./scripts/deps.sh >/dev/null
need=()
for p in "g++-$triplet" qemu-user-static protobuf-compiler file dpkg-dev; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "cross.sh: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# Target packages whose headers, static archives, shared libraries (to link against) and CMake or
# pkg-config files the build uses; the second line is what libsystemd.so and libssl.so need at
# link time. mbedTLS is linked from libmbedtls-dev's static archives (cmake/QwDependencies.cmake),
# so its shared-library packages are not needed. Catch2 comes from the build machine (Debian's
# catch2 is amd64-only; only its header and Catch.cmake are used). $sysroot/.qw-debs lists the
# unpacked packages as "package version source-version" (package.sh reads mbedTLS's for
# Built-Using).
PKGS=(libssl-dev libssl3 libmbedtls-dev libsqlite3-dev
      libsqlite3-0 libsystemd-dev libsystemd0 libprotobuf-dev libprotobuf32 libprotobuf-lite32 zlib1g-dev zlib1g libboost1.74-dev libspdlog-dev
      libspdlog1.10 libfmt-dev libfmt9 nlohmann-json3-dev
      libcap2 libgcrypt20 libgpg-error0 liblz4-1 liblzma5 libzstd1)
cache=${QW_CACHE_DIR:-$HOME/.cache/quorumwatch}
sysroot=$cache/sysroot-bookworm-$arch
# One cross.sh per architecture at a time (test.sh and package.sh both run it): they share the
# sysroot and build-cross-ARCH.
mkdir -p "$cache"
exec 9>"$cache/.cross-$arch.lock"
if ! flock -n 9; then
  echo "cross.sh: another cross.sh $arch is running; waiting for it"
  flock 9
fi
stamp="${PKGS[*]} catch2 .qw-debs"
if [ "$(cat "$sysroot/.qw-stamp" 2>/dev/null)" != "$stamp" ]; then
  echo "cross.sh: building the $arch sysroot in $sysroot"
  tmp=$sysroot.tmp
  rm -rf "$tmp"
  mkdir -p "$tmp/apt/lists/partial" "$tmp/apt/cache/archives/partial" "$tmp/debs" "$tmp/root"
  : >"$tmp/apt/status"
  # The machine's sources (same mirror and keyring), but a private state for the target arch.
  o=(-o "APT::Architecture=$arch" -o "APT::Architectures=$arch"
     -o "Dir::State::Lists=$tmp/apt/lists" -o "Dir::State::status=$tmp/apt/status"
     -o "Dir::Cache=$tmp/apt/cache" -o Acquire::Languages=none -o Debug::NoLocking=1)
  [ "$(id -u)" -eq 0 ] && o+=(-o APT::Sandbox::User=root)
  # A mirror may serve an index that does not match its Release file for a while (seen for
  # bookworm-security armhf): go on with the indexes that did arrive; a package missing from them
  # fails the download below.
  apt-get "${o[@]}" update -qq || echo "cross.sh: some $arch indexes failed; using the others"
  (cd "$tmp/debs" && apt-get "${o[@]}" download "${PKGS[@]}" >/dev/null)
  for f in "$tmp"/debs/*.deb; do
    dpkg-deb -x "$f" "$tmp/root"
    # shellcheck disable=SC2016 # dpkg's own format fields
    dpkg-deb --show --showformat='${Package} ${Version} ${source:Version}\n' "$f" >>"$tmp/debs.txt"
  done
  # Absolute symlinks (e.g. libfoo.so -> /lib/TRIPLET/libfoo.so.N): relative, into the sysroot.
  find "$tmp/root" -type l -lname '/*' | while read -r l; do
    ln -sfnr "$tmp/root$(readlink "$l")" "$l"
  done
  mkdir -p "$tmp/root/usr/lib/cmake"
  cp -r /usr/include/catch2 "$tmp/root/usr/include/"
  mkdir -p "$tmp/root/usr/lib/cmake/Catch2"
  cp /usr/lib/cmake/Catch2/Catch.cmake /usr/lib/cmake/Catch2/CatchAddTests.cmake \
    "$tmp/root/usr/lib/cmake/Catch2/"
  sort "$tmp/debs.txt" >"$tmp/root/.qw-debs"
  rm -rf "$sysroot"
  mv "$tmp/root" "$sysroot"
  rm -rf "$tmp"
  echo "$stamp" >"$sysroot/.qw-stamp"
fi
t1=$(date +%s)

BUILD_DIR=${BUILD_DIR:-build-cross-$arch}
export QW_SYSROOT=$sysroot
flags() { DEB_HOST_ARCH=$arch DEB_BUILD_MAINT_OPTIONS=hardening=+all dpkg-buildflags --get "$1"; }
cmake -S . -B "$BUILD_DIR" -G Ninja \
  -DCMAKE_TOOLCHAIN_FILE="$root/cmake/toolchains/$triplet.cmake" -DQW_SYSROOT="$sysroot" \
  -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE=-DNDEBUG -DCMAKE_INSTALL_PREFIX=/usr \
  -DCMAKE_CXX_FLAGS="$(flags CPPFLAGS) $(flags CXXFLAGS)" \
  -DCMAKE_EXE_LINKER_FLAGS="$(flags LDFLAGS)" \
  -DQW_BUILD_TESTS=ON -DQW_BUILD_INTEGRATION_TESTS=OFF >/dev/null
targets=()
[ $want_bins = 1 ] && targets+=(quorumwatch-agent quorumwatch-aggregator quorumwatch)
[ $want_tests = 1 ] && targets+=(qw_unit_tests)
cmake --build "$BUILD_DIR" -j "$(nproc)" --target "${targets[@]}"
t2=$(date +%s)

for b in "${targets[@]}"; do
  f=$BUILD_DIR/bin/$b
  if ! file -b "$f" | grep -q "$elf"; then
    echo "cross.sh: $f is not ELF for $arch: $(file -b "$f")" >&2
    exit 1
  fi
  echo "cross.sh: $b: $(file -b "$f" | cut -d, -f1-3)"
done

if [ $want_tests = 1 ]; then
  # Through the target's loader with an explicit library path, no -L (see the toolchain file).
  libpath=/usr/$triplet/lib:$sysroot/lib/$triplet:$sysroot/usr/lib/$triplet
  loader=$(ls /usr/"$triplet"/lib/ld-linux*.so.*)
  echo "cross.sh: unit tests under $qemu"
  log=$BUILD_DIR/qemu-unit-tests.log
  if ! "$qemu" "$loader" --library-path "$libpath" "$BUILD_DIR/bin/qw_unit_tests" >"$log" 2>&1
  then
    cat "$log"
    echo "cross.sh: $arch unit tests FAILED under $qemu" >&2
    exit 1
  fi
  echo "cross.sh: $arch: $(tail -n 2 "$log" | tr -s '\n' ' ')"
fi
t3=$(date +%s)
echo "cross.sh: $arch done in $((t3 - t0)) s (sysroot $((t1 - t0)) s, build $((t2 - t1)) s," \
  "qemu tests $((t3 - t2)) s)"
