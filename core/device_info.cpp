// SPDX-License-Identifier: Apache-2.0
#include "core/device_info.h"

#include "core/log.h"
#include "core/torch.h"

namespace sam3::core {

int cuda_device_count() noexcept {
  try {
    return static_cast<int>(torch::cuda::device_count());
  } catch (const std::exception& e) {
    SAM3_LOG_WRN("cannot count CUDA devices: " << e.what());
    return 0;
  }
}

}  // namespace sam3::core
