#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# One command for a fresh Debian 12 machine: install every dependency from
# Debian's packages, then configure and build sam3 (Release) into build/.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

PKGS=(
  build-essential cmake ninja-build pkg-config git
  libtorch-dev            # LibTorch 1.13 (C++ API)
  libopenblas0-openmp     # without it LibTorch falls back to netlib BLAS (~15x slower GEMM)
  libcli11-dev libtbb-dev nlohmann-json3-dev libtomlplusplus-dev
  libcivetweb-dev civetweb  # civetweb's CMake config references /usr/bin/civetweb
  libavformat-dev libavcodec-dev libavutil-dev libswscale-dev
  libopencv-dev
  libgtest-dev libgmock-dev googletest
  zlib1g-dev man-db ffmpeg wrk
)

if [ "${SAM3_SKIP_APT:-0}" != 1 ]; then
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${PKGS[@]}"
fi

cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DSAM3_BUILD_TESTS=ON
cmake --build build -j "$(nproc)"
