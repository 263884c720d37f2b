// SPDX-License-Identifier: Apache-2.0
#include "core/checkpoint/model_files_api.h"

#include "core/checkpoint/model_files.h"

namespace sam3::core {

nlohmann::json inspect_model_json(const std::string& path, const std::string& manifest_path) {
  const std::string file = locate_model(path).checkpoint;
  if (manifest_path.empty()) return inspect_checkpoint(file);
  const auto keys = manifest_keys(manifest_path);
  return inspect_checkpoint(file, &keys);
}

void convert_model_checkpoint(const std::string& in_path, const std::string& out_path) {
  convert_checkpoint(locate_model(in_path).checkpoint, out_path);
}

}  // namespace sam3::core
