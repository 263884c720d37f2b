// SPDX-License-Identifier: Apache-2.0
// Per-client token buckets: each key may burst up to its per-minute quota and
// refills continuously at quota/60 per second. Refused requests get 429 with
// Retry-After saying when the next token arrives.
// Thread-safety: every member function may be called from any thread.
#pragma once

#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>

namespace sam3::daemon {

class RateLimiter {
public:
  using Clock = std::chrono::steady_clock;

  RateLimiter(bool enabled, int requests_per_minute, std::function<Clock::time_point()> now = Clock::now);

  // Takes one token for `key`. Returns 0 when allowed, otherwise the whole
  // seconds (>= 1) until a token is available.
  int acquire(const std::string& key);

  // Throws HttpError 429 "rate_limited" with Retry-After when acquire refuses.
  void check(const std::string& key);

  bool enabled() const { return enabled_; }

private:
  struct Bucket {
    double tokens;
    Clock::time_point last;
  };
  bool enabled_;
  double capacity_;
  double per_second_;
  std::function<Clock::time_point()> now_;
  std::mutex mu_;
  std::unordered_map<std::string, Bucket> buckets_;
};

}  // namespace sam3::daemon
