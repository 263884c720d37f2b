// SPDX-License-Identifier: Apache-2.0
// multipart/form-data (RFC 7578) for image uploads. The body is already in
// memory (bounded by the upload limit), so parts are parsed in place; nothing
// is written to disk. Pure functions, thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace sam3::daemon {

struct FormPart {
  std::string name;
  std::string filename;      // "" for plain fields
  std::string content_type;  // "" when not given
  std::string data;
};

// The boundary parameter of a multipart/form-data Content-Type.
// \throws InvalidInput when the type is not multipart/form-data or the
//         boundary is missing, empty or longer than 70 characters.
std::string multipart_boundary(std::string_view content_type);

// Splits a multipart body into its parts (at most 64).
// \throws InvalidInput for a missing opening or closing delimiter, a part
//         without Content-Disposition or name, or too many parts.
std::vector<FormPart> parse_multipart(std::string_view body, std::string_view content_type);

}  // namespace sam3::daemon
