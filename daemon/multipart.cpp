// SPDX-License-Identifier: Apache-2.0
#include "daemon/multipart.h"

#include <algorithm>
#include <cctype>

#include "core/errors.h"

namespace sam3::daemon {
namespace {

std::string lower(std::string_view s) {
  std::string o(s);
  for (auto& c : o) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return o;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The value of `param` in a header value like `form-data; name="x"; filename="y"`.
std::string header_param(std::string_view value, std::string_view param) {
  size_t pos = 0;
  while ((pos = value.find(';', pos)) != std::string_view::npos) {
    ++pos;
    std::string_view rest = trim(value.substr(pos));
    const size_t eq = rest.find('=');
    if (eq == std::string_view::npos) continue;
    if (lower(trim(rest.substr(0, eq))) != param) continue;
    std::string_view v = trim(rest.substr(eq + 1));
    if (!v.empty() && v.front() == '"') {
      const size_t close = v.find('"', 1);
      if (close == std::string_view::npos) throw InvalidInput("multipart: unterminated quoted " + std::string(param));
      return std::string(v.substr(1, close - 1));
    }
    return std::string(v.substr(0, v.find(';')));
  }
  return {};
}

}  // namespace

std::string multipart_boundary(std::string_view content_type) {
  if (lower(trim(content_type.substr(0, content_type.find(';')))) != "multipart/form-data")
    throw InvalidInput("expected Content-Type multipart/form-data, got '" + std::string(content_type) + "'");
  std::string b = header_param(content_type, "boundary");
  if (b.empty() || b.size() > 70)
    throw InvalidInput("multipart/form-data needs a boundary of 1 to 70 characters, got '" + b + "'");
  return b;
}

std::vector<FormPart> parse_multipart(std::string_view body, std::string_view content_type) {
  const std::string delim = "--" + multipart_boundary(content_type);
  if (body.substr(0, delim.size()) != delim)
    throw InvalidInput("multipart body does not start with its boundary delimiter");
  std::vector<FormPart> parts;
  size_t pos = delim.size();
  for (;;) {
    if (body.substr(pos, 2) == "--") return parts;  // closing delimiter
    if (body.substr(pos, 2) != "\r\n") throw InvalidInput("multipart: expected CRLF after a boundary delimiter");
    pos += 2;
    const size_t head_end = body.find("\r\n\r\n", pos);
    if (head_end == std::string_view::npos) throw InvalidInput("multipart: part headers are not terminated");
    FormPart part;
    bool disposition = false;
    for (size_t line = pos; line < head_end;) {
      size_t eol = body.find("\r\n", line);
      if (eol == std::string_view::npos || eol > head_end) eol = head_end;
      const std::string_view h = body.substr(line, eol - line);
      const size_t colon = h.find(':');
      if (colon == std::string_view::npos) throw InvalidInput("multipart: malformed part header '" + std::string(h) + "'");
      const std::string key = lower(trim(h.substr(0, colon)));
      const std::string_view value = trim(h.substr(colon + 1));
      if (key == "content-disposition") {
        if (lower(value.substr(0, value.find(';'))) != "form-data")
          throw InvalidInput("multipart: expected Content-Disposition form-data");
        disposition = true;
        part.name = header_param(value, "name");
        part.filename = header_param(value, "filename");
      } else if (key == "content-type") {
        part.content_type = std::string(value);
      }
      line = eol + 2;
    }
    if (!disposition || part.name.empty())
      throw InvalidInput("multipart: every part needs Content-Disposition: form-data with a name");
    const size_t data_begin = head_end + 4;
    const size_t next = body.find("\r\n" + delim, data_begin);
    if (next == std::string_view::npos)
      throw InvalidInput("multipart: part '" + part.name + "' is not followed by a boundary (truncated body?)");
    part.data = std::string(body.substr(data_begin, next - data_begin));
    parts.push_back(std::move(part));
    if (parts.size() > 64) throw InvalidInput("multipart: more than 64 parts");
    pos = next + 2 + delim.size();
  }
}

}  // namespace sam3::daemon
