// SPDX-License-Identifier: Apache-2.0
#include "daemon/rate_limit.h"

#include <algorithm>
#include <cmath>

#include "daemon/http.h"

namespace sam3::daemon {

RateLimiter::RateLimiter(bool enabled, int requests_per_minute, std::function<Clock::time_point()> now)
    : enabled_(enabled),
      capacity_(std::max(1, requests_per_minute)),
      per_second_(std::max(1, requests_per_minute) / 60.0),
      now_(std::move(now)) {}

int RateLimiter::acquire(const std::string& key) {
  if (!enabled_) return 0;
  std::lock_guard<std::mutex> lk(mu_);
  const auto now = now_();
  // Full buckets carry no information: drop them so that many one-off
  // clients cannot grow the map without bound.
  if (buckets_.size() > 10000) {
    for (auto it = buckets_.begin(); it != buckets_.end();) {
      const double t = it->second.tokens + std::chrono::duration<double>(now - it->second.last).count() * per_second_;
      it = t >= capacity_ ? buckets_.erase(it) : std::next(it);
    }
  }
  auto [it, fresh] = buckets_.try_emplace(key, Bucket{capacity_, now});
  Bucket& b = it->second;
  if (!fresh) {
    b.tokens = std::min(capacity_, b.tokens + std::chrono::duration<double>(now - b.last).count() * per_second_);
    b.last = now;
  }
  if (b.tokens >= 1.0) {
    b.tokens -= 1.0;
    return 0;
  }
  return std::max(1, static_cast<int>(std::ceil((1.0 - b.tokens) / per_second_)));
}

void RateLimiter::check(const std::string& key) {
  if (const int wait = acquire(key); wait > 0)
    throw HttpError(429, "rate_limited", "rate limit exceeded: retry in " + std::to_string(wait) + " s", wait);
}

}  // namespace sam3::daemon
