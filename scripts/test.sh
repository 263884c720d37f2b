#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Runs the whole default test suite (unit, parity, e2e; slow and bench labels
# excluded). Parity tests skip with a message when ../shared is absent.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake --build build -j "$(nproc)"
ctest --test-dir build --output-on-failure -j "$(nproc)" -LE "slow|bench" "$@"
