// SPDX-License-Identifier: Apache-2.0
// API keys: "X-API-Key: KEY" or "Authorization: Bearer KEY". Keys are
// compared in constant time so response timing reveals nothing about them.
// Thread-safety: immutable after construction.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "daemon/http.h"

namespace sam3::daemon {

// True when a == b, in time that depends only on the lengths.
bool constant_time_equal(std::string_view a, std::string_view b) noexcept;

class ApiKeyAuth {
public:
  // `required` without keys refuses every request (a misconfiguration made
  // safe, logged by the server at start-up).
  ApiKeyAuth(bool required, std::vector<std::string> keys);

  bool required() const { return required_; }

  // The key the request presents ("" when none).
  static std::string presented_key(const Request& req);

  // Checks the request and returns the key it presented.
  // \throws HttpError 401 "unauthorized" when keys are required and the key
  //         is absent or not one of the configured keys.
  std::string check(const Request& req) const;

private:
  bool required_;
  std::vector<std::string> keys_;
};

}  // namespace sam3::daemon
