// SPDX-License-Identifier: Apache-2.0
// What the front-ends report about accelerators (/health, /metrics) without
// including LibTorch. Thread-safe.
#pragma once

#include <cstdint>

namespace sam3::core {

// CUDA devices visible to LibTorch (0 on CPU-only builds). Never throws.
int cuda_device_count() noexcept;

}  // namespace sam3::core
