# Debian 12 armhf (ARMv7 hard-float: Raspberry Pi OS 32-bit on a Pi 2 or newer; Debian's armhf
# baseline, so not the ARMv6 Pi 1 / Zero): scripts/cross.sh armhf.
set(CMAKE_SYSTEM_PROCESSOR armv7l)
set(QW_CROSS_TRIPLET arm-linux-gnueabihf)
set(QW_QEMU qemu-arm-static)
set(QW_CROSS_LOADER /usr/arm-linux-gnueabihf/lib/ld-linux-armhf.so.3)
include(${CMAKE_CURRENT_LIST_DIR}/QwCrossCommon.cmake)
# g++ notes every std::map/vector instantiation whose argument passing changed in GCC 7.1 (-Wpsabi);
# nothing here mixes objects from GCC < 7, so the notes are noise.
string(APPEND CMAKE_CXX_FLAGS_INIT " -Wno-psabi")
