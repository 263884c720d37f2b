// SPDX-License-Identifier: Apache-2.0
// Torch-free entry points of model_files.h for the front-ends.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace sam3::core {

// inspect_checkpoint() of a checkpoint file or model folder, with the manifest's
// key set compared when manifest_path is not empty.
nlohmann::json inspect_model_json(const std::string& path, const std::string& manifest_path);

// convert_checkpoint() of a checkpoint file or model folder.
void convert_model_checkpoint(const std::string& in_path, const std::string& out_path);

}  // namespace sam3::core
