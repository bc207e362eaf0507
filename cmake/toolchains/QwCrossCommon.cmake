# Shared part of the cross toolchain files (aarch64-linux-gnu.cmake, arm-linux-gnueabihf.cmake):
# Debian 12's cross g++ (libc and libstdc++ come with it, in /usr/TRIPLET) plus a sysroot of the
# target's -dev packages (OpenSSL, SQLite, libsystemd, Protobuf, Boost, spdlog, fmt,
# nlohmann-json, Catch2's header) that scripts/cross.sh builds with apt-get download + dpkg-deb -x.
# The sysroot: -DQW_SYSROOT=DIR or the environment variable QW_SYSROOT.
# Protobuf: protoc runs on the build machine (Debian's amd64 protobuf-compiler, same 3.21 as the
# target's libprotobuf.a).
set(CMAKE_SYSTEM_NAME Linux)
if(NOT QW_SYSROOT)
  set(QW_SYSROOT "$ENV{QW_SYSROOT}")
endif()
if(NOT QW_SYSROOT OR NOT IS_DIRECTORY "${QW_SYSROOT}/usr/include")
  message(FATAL_ERROR "QW_SYSROOT ('${QW_SYSROOT}') is not a sysroot; scripts/cross.sh makes one")
endif()
# try_compile projects re-read this file: hand the sysroot on through the environment.
set(ENV{QW_SYSROOT} "${QW_SYSROOT}")

set(CMAKE_C_COMPILER ${QW_CROSS_TRIPLET}-gcc)
set(CMAKE_CXX_COMPILER ${QW_CROSS_TRIPLET}-g++)
set(CMAKE_LIBRARY_ARCHITECTURE ${QW_CROSS_TRIPLET})

# Libraries, headers and CMake packages only from the sysroot (and the cross libc); programs
# (protoc, pkg-config) from the build machine.
set(CMAKE_FIND_ROOT_PATH "${QW_SYSROOT}" /usr/${QW_CROSS_TRIPLET})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
# Debian's multiarch headers (openssl/opensslconf.h, ...) live in usr/include/TRIPLET.
set(CMAKE_CXX_STANDARD_INCLUDE_DIRECTORIES "${QW_SYSROOT}/usr/include/${QW_CROSS_TRIPLET}"
                                           "${QW_SYSROOT}/usr/include")
set(CMAKE_C_STANDARD_INCLUDE_DIRECTORIES ${CMAKE_CXX_STANDARD_INCLUDE_DIRECTORIES})
set(Protobuf_PROTOC_EXECUTABLE /usr/bin/protoc CACHE FILEPATH "protoc of the build machine")

set(_qw_libdirs "${QW_SYSROOT}/lib/${QW_CROSS_TRIPLET}" "${QW_SYSROOT}/usr/lib/${QW_CROSS_TRIPLET}")
string(JOIN ":" _qw_rpath_link ${_qw_libdirs})
# The shared libraries' own dependencies (libcrypto, libsystemd's libcap, liblz4, ...) are found
# at link time through -rpath-link (on every link line, also when CMAKE_EXE_LINKER_FLAGS is given);
# no RPATH into the sysroot ends up in the binaries.
set(CMAKE_CXX_STANDARD_LIBRARIES "-Wl,-rpath-link,${_qw_rpath_link}")
set(CMAKE_C_STANDARD_LIBRARIES "-Wl,-rpath-link,${_qw_rpath_link}")
set(CMAKE_SKIP_RPATH ON CACHE BOOL "no RPATH into the sysroot" FORCE)

# pkg-config (libsystemd) reads the target's .pc files only.
set(ENV{PKG_CONFIG_DIR} "")
set(ENV{PKG_CONFIG_PATH} "")
set(ENV{PKG_CONFIG_LIBDIR}
    "${QW_SYSROOT}/usr/lib/${QW_CROSS_TRIPLET}/pkgconfig:${QW_SYSROOT}/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_SYSROOT_DIR} "${QW_SYSROOT}")

# Target binaries run under qemu-user through the target's dynamic loader with an explicit
# library path (no -L/QEMU_LD_PREFIX: with it, threaded code hangs in pthread_create). Used by
# catch_discover_tests and ctest.
set(CMAKE_CROSSCOMPILING_EMULATOR
    ${QW_QEMU} ${QW_CROSS_LOADER} --library-path
    "/usr/${QW_CROSS_TRIPLET}/lib:${_qw_rpath_link}")
