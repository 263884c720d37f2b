// SPDX-License-Identifier: Apache-2.0
// Output files are written atomically: into a temporary file in the same
// folder, flushed, then renamed over the target. A crash never leaves a
// half-written result behind.
#pragma once

#include <string>
#include <string_view>

namespace sam3::formats {

// \throws sam3::Error (runtime) when the folder is not writable or the disk is full.
void write_file_atomic(const std::string& path, std::string_view bytes);

// Reads a whole file. \throws NotFound when absent, InvalidInput when larger than max_bytes.
std::string read_file(const std::string& path, size_t max_bytes = static_cast<size_t>(-1));

}  // namespace sam3::formats
