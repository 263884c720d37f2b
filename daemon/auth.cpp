// SPDX-License-Identifier: Apache-2.0
#include "daemon/auth.h"

#include <algorithm>

namespace sam3::daemon {

bool constant_time_equal(std::string_view a, std::string_view b) noexcept {
  // Compare over the longer length so that a prefix match takes no less time.
  const size_t n = std::max(a.size(), b.size());
  unsigned diff = static_cast<unsigned>(a.size() ^ b.size());
  for (size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= static_cast<unsigned>(x ^ y);
  }
  return diff == 0;
}

ApiKeyAuth::ApiKeyAuth(bool required, std::vector<std::string> keys) : required_(required), keys_(std::move(keys)) {}

std::string ApiKeyAuth::presented_key(const Request& req) {
  std::string key = req.header("X-API-Key");
  if (!key.empty()) return key;
  const std::string auth = req.header("Authorization");
  constexpr std::string_view kBearer = "Bearer ";
  if (auth.size() > kBearer.size() && auth.compare(0, kBearer.size(), kBearer) == 0)
    return auth.substr(kBearer.size());
  return {};
}

std::string ApiKeyAuth::check(const Request& req) const {
  const std::string key = presented_key(req);
  if (!required_) return key;
  if (key.empty())
    throw HttpError(401, "unauthorized", "an API key is required: send 'X-API-Key: KEY' or 'Authorization: Bearer KEY'");
  bool ok = false;
  for (const auto& k : keys_) ok |= constant_time_equal(key, k);  // no early exit
  if (!ok) throw HttpError(401, "unauthorized", "the API key is not valid");
  return key;
}

}  // namespace sam3::daemon
