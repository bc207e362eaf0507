# Third-party dependencies as Debian 12 ships them (see README "Building").
find_package(Threads REQUIRED)
find_package(Boost 1.74 REQUIRED)
find_package(OpenSSL REQUIRED)
# mbedTLS 2.28 (libmbedtls-dev, no CMake or pkg-config files on Debian 12): the TLS client of the
# agent and the CLI (common/include/qw/tls_client.h says why not OpenSSL there). Linked from the
# static archives that libmbedtls-dev ships, in every build (tests and benchmarks too), so the
# packages do not depend on libmbedtls14/libmbedx509-1/libmbedcrypto7: Debian 13 has only mbedTLS
# 3.6 (other ABI, other package names). The packages record the version in Built-Using
# (scripts/package.sh). Order matters for static archives: tls needs x509, x509 needs crypto.
# (Cache names of their own: a build dir configured before keeps no cached libmbed*.so path.)
find_path(QW_MBEDTLS_INCLUDE mbedtls/ssl.h REQUIRED)
find_library(QW_MBEDTLS_A NAMES libmbedtls.a REQUIRED)
find_library(QW_MBEDX509_A NAMES libmbedx509.a REQUIRED)
find_library(QW_MBEDCRYPTO_A NAMES libmbedcrypto.a REQUIRED)
add_library(qw_mbedtls INTERFACE)
target_include_directories(qw_mbedtls SYSTEM INTERFACE ${QW_MBEDTLS_INCLUDE})
target_link_libraries(qw_mbedtls INTERFACE ${QW_MBEDTLS_A} ${QW_MBEDX509_A} ${QW_MBEDCRYPTO_A})
find_package(SQLite3 REQUIRED)
find_package(nlohmann_json 3.10 REQUIRED)
find_package(fmt REQUIRED)
find_package(spdlog REQUIRED)
find_package(PkgConfig REQUIRED)
pkg_check_modules(SYSTEMD REQUIRED IMPORTED_TARGET libsystemd)

# Protobuf 3.21 on Debian has no CMake config: FindProtobuf + protobuf_generate. We link the static
# archives so packages only depend on libc/libssl/libsqlite3/libsystemd (DESIGN.md section 2).
set(Protobuf_USE_STATIC_LIBS ON)
find_package(Protobuf REQUIRED)
find_library(QW_PROTOBUF_LITE_A NAMES libprotobuf-lite.a protobuf-lite REQUIRED)
find_library(QW_PROTOBUF_A NAMES libprotobuf.a protobuf REQUIRED)

# spdlog 1.10/fmt 9 ship only shared libraries: use both header-only with external fmt.
add_library(qw_logging_deps INTERFACE)
target_compile_definitions(qw_logging_deps INTERFACE SPDLOG_HEADER_ONLY SPDLOG_FMT_EXTERNAL
                                                     FMT_HEADER_ONLY)
get_target_property(_spdlog_inc spdlog::spdlog INTERFACE_INCLUDE_DIRECTORIES)
get_target_property(_fmt_inc fmt::fmt INTERFACE_INCLUDE_DIRECTORIES)
target_include_directories(qw_logging_deps SYSTEM INTERFACE ${_spdlog_inc} ${_fmt_inc})

# Boost 1.74's asio/awaitable.hpp uses std::exchange without <utility> (fails with g++ 12, C++20).
add_library(qw_asio INTERFACE)
target_link_libraries(qw_asio INTERFACE Boost::headers Threads::Threads)
target_compile_options(qw_asio INTERFACE -include utility)
target_compile_definitions(qw_asio INTERFACE BOOST_ASIO_NO_DEPRECATED BOOST_BEAST_USE_STD_STRING_VIEW)
# Boost 1.74 detects coroutine support only for g++ (and MSVC): clang 14 with libstdc++'s
# <coroutine> has it, but Asio needs to be told.
if(CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  target_compile_definitions(qw_asio INTERFACE BOOST_ASIO_HAS_CO_AWAIT BOOST_ASIO_HAS_STD_COROUTINE)
endif()
