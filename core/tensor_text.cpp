// SPDX-License-Identifier: Apache-2.0
#include "core/tensor_text.h"

#include <sstream>

namespace sam3::core {

std::string shape_text(c10::IntArrayRef sizes) {
  std::ostringstream os;
  os << sizes;
  return os.str();
}

std::string shape_text(const torch::Tensor& t) { return t.defined() ? shape_text(t.sizes()) : "undefined"; }

}  // namespace sam3::core
