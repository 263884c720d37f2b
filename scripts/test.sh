#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Runs the benchmarks on the tiny model (figures only), then the whole default
# test suite (unit, parity, e2e; slow and bench labels excluded). Parity tests
# skip with a message when ../shared is absent.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake --build build -j "$(nproc)"
# The benchmarks first (figures printed in the log, never asserted; they fail
# only if a benchmark crashes), then the test suite, whose summary ends the log.
ctest --test-dir build --output-on-failure -V -L bench
ctest --test-dir build --output-on-failure -j "$(nproc)" -LE "slow|bench" "$@"
