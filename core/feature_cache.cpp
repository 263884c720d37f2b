// SPDX-License-Identifier: Apache-2.0
#include "core/feature_cache.h"

#include <array>
#include <cstring>

namespace sam3::core {
namespace {

// FIPS 180-4 SHA-256. A cryptographic hash, so that two different images can
// never be made to share cached features by a client crafting a collision.
class Sha256 {
public:
  void update(std::string_view data) {
    for (unsigned char c : data) {
      block_[fill_++] = c;
      if (fill_ == 64) {
        compress();
        fill_ = 0;
      }
    }
    length_ += data.size();
  }

  std::array<uint8_t, 32> finish() {
    const uint64_t bits = length_ * 8;
    block_[fill_++] = 0x80;
    if (fill_ > 56) {
      while (fill_ < 64) block_[fill_++] = 0;
      compress();
      fill_ = 0;
    }
    while (fill_ < 56) block_[fill_++] = 0;
    for (int i = 7; i >= 0; --i) block_[fill_++] = static_cast<uint8_t>(bits >> (8 * i));
    compress();
    std::array<uint8_t, 32> out{};
    for (int i = 0; i < 8; ++i)
      for (int b = 0; b < 4; ++b) out[4 * i + b] = static_cast<uint8_t>(h_[i] >> (24 - 8 * b));
    return out;
  }

private:
  static uint32_t rotr(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

  void compress() {
    static constexpr uint32_t k[64] = {
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
        0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
        0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
        0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};
    uint32_t w[64];
    for (int i = 0; i < 16; ++i)
      w[i] = (uint32_t{block_[4 * i]} << 24) | (uint32_t{block_[4 * i + 1]} << 16) |
             (uint32_t{block_[4 * i + 2]} << 8) | uint32_t{block_[4 * i + 3]};
    for (int i = 16; i < 64; ++i) {
      const uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
      const uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
      w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = h_[0], b = h_[1], c = h_[2], d = h_[3], e = h_[4], f = h_[5], g = h_[6], h = h_[7];
    for (int i = 0; i < 64; ++i) {
      const uint32_t t1 = h + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + k[i] + w[i];
      const uint32_t t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
      h = g;
      g = f;
      f = e;
      e = d + t1;
      d = c;
      c = b;
      b = a;
      a = t1 + t2;
    }
    h_[0] += a, h_[1] += b, h_[2] += c, h_[3] += d, h_[4] += e, h_[5] += f, h_[6] += g, h_[7] += h;
  }

  uint32_t h_[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  uint8_t block_[64] = {};
  size_t fill_ = 0;
  uint64_t length_ = 0;
};

std::string to_hex(const std::array<uint8_t, 32>& digest) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s;
  s.reserve(64);
  for (uint8_t b : digest) {
    s.push_back(kHex[b >> 4]);
    s.push_back(kHex[b & 15]);
  }
  return s;
}

}  // namespace

std::string sha256_hex(std::string_view bytes) {
  Sha256 h;
  h.update(bytes);
  return to_hex(h.finish());
}

std::string feature_cache_device_key(std::string_view key, std::string_view device) {
  return std::string(key) + "@" + std::string(device);
}

std::string feature_cache_key(std::string_view image_bytes, std::string_view model_id) {
  Sha256 h;
  h.update(model_id);
  h.update(std::string_view("\0", 1));  // keeps ("ab","c") and ("a","bc") apart
  h.update(image_bytes);
  return to_hex(h.finish());
}

FeatureCache::FeatureCache(const CacheOptions& options, std::function<Clock::time_point()> now)
    : options_(options), budget_bytes_(options.max_size_mb * (int64_t{1} << 20)), now_(std::move(now)) {}

std::shared_ptr<const ImageState> FeatureCache::get(const std::string& key) {
  std::lock_guard<std::mutex> lk(mu_);
  auto it = index_.find(key);
  if (it == index_.end()) {
    ++stats_.misses;
    return nullptr;
  }
  if (it->second->expires <= now_()) {
    erase_locked(it->second);
    ++stats_.evictions;
    ++stats_.misses;
    return nullptr;
  }
  lru_.splice(lru_.begin(), lru_, it->second);
  ++stats_.hits;
  return it->second->state;
}

void FeatureCache::put(const std::string& key, std::shared_ptr<const ImageState> state, int64_t bytes) {
  if (!options_.enabled || !state || bytes > budget_bytes_) return;
  std::lock_guard<std::mutex> lk(mu_);
  const auto now = now_();
  if (auto it = index_.find(key); it != index_.end()) erase_locked(it->second);
  lru_.push_front(Entry{key, std::move(state), bytes, now + std::chrono::seconds(options_.ttl_seconds)});
  index_[key] = lru_.begin();
  stats_.bytes += bytes;
  stats_.entries = static_cast<int64_t>(lru_.size());
  evict_expired_locked(now);
  while (stats_.bytes > budget_bytes_ && !lru_.empty()) {
    erase_locked(std::prev(lru_.end()));
    ++stats_.evictions;
  }
}

void FeatureCache::evict_expired() {
  std::lock_guard<std::mutex> lk(mu_);
  evict_expired_locked(now_());
}

void FeatureCache::evict_expired_locked(Clock::time_point now) {
  for (auto it = lru_.begin(); it != lru_.end();) {
    auto next = std::next(it);
    if (it->expires <= now) {
      erase_locked(it);
      ++stats_.evictions;
    }
    it = next;
  }
}

void FeatureCache::erase_locked(std::list<Entry>::iterator it) {
  stats_.bytes -= it->bytes;
  index_.erase(it->key);
  lru_.erase(it);
  stats_.entries = static_cast<int64_t>(lru_.size());
}

void FeatureCache::clear() {
  std::lock_guard<std::mutex> lk(mu_);
  lru_.clear();
  index_.clear();
  stats_.bytes = 0;
  stats_.entries = 0;
}

FeatureCache::Stats FeatureCache::stats() const {
  std::lock_guard<std::mutex> lk(mu_);
  return stats_;
}

}  // namespace sam3::core
