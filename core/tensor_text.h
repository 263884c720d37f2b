// SPDX-License-Identifier: Apache-2.0
// How error messages show tensor shapes, the same everywhere: "[2, 3, 4]".
#pragma once

#include <string>

#include "core/torch.h"

namespace sam3::core {

std::string shape_text(c10::IntArrayRef sizes);
// "undefined" for an undefined tensor.
std::string shape_text(const torch::Tensor& t);

}  // namespace sam3::core
