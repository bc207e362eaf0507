# Debian 12 arm64 (Raspberry Pi OS 64-bit, Pi 3/4/5, Zero 2 W): scripts/cross.sh arm64.
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(QW_CROSS_TRIPLET aarch64-linux-gnu)
set(QW_QEMU qemu-aarch64-static)
set(QW_CROSS_LOADER /usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1)
include(${CMAKE_CURRENT_LIST_DIR}/QwCrossCommon.cmake)
