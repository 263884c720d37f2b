// SPDX-License-Identifier: Apache-2.0
// A cache of image features (ImageState) keyed by the content hash of the
// encoded image bytes and the model's identity, so that one image prompted
// many times runs the backbone once. Bounded by a TTL and a byte budget;
// least recently used entries are evicted first.
//
// Thread-safety: every member function may be called from any thread. Cached
// states are immutable and shared: an evicted state lives on while a request
// still holds it.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/options.h"

namespace sam3::core {

class ImageState;

// SHA-256 of `bytes` as 64 lower-case hex digits.
std::string sha256_hex(std::string_view bytes);

// The cache key of an encoded image under a model: sha256(model_id || 0 || bytes).
std::string feature_cache_key(std::string_view image_bytes, std::string_view model_id);
// The key of that image's features on one device of a DevicePool: a state
// holds tensors of one device, so each replica caches its own.
std::string feature_cache_device_key(std::string_view key, std::string_view device);

class FeatureCache {
public:
  using Clock = std::chrono::steady_clock;

  struct Stats {
    int64_t hits = 0;
    int64_t misses = 0;
    int64_t evictions = 0;
    int64_t entries = 0;
    int64_t bytes = 0;
  };

  // `now` is injectable so tests can age entries without sleeping.
  explicit FeatureCache(const CacheOptions& options, std::function<Clock::time_point()> now = Clock::now);

  // The state cached under `key`, or nullptr (counted as a miss). A hit
  // refreshes the entry's LRU position but not its TTL.
  std::shared_ptr<const ImageState> get(const std::string& key);

  // Stores `state` (of `bytes` bytes) under `key`, then evicts expired and
  // least recently used entries until the budget holds. A state larger than
  // the whole budget is not stored. No-op when the cache is disabled.
  void put(const std::string& key, std::shared_ptr<const ImageState> state, int64_t bytes);

  // Drops expired entries (also done on every put).
  void evict_expired();
  void clear();

  Stats stats() const;
  bool enabled() const { return options_.enabled; }

private:
  struct Entry {
    std::string key;
    std::shared_ptr<const ImageState> state;
    int64_t bytes = 0;
    Clock::time_point expires;
  };
  void evict_expired_locked(Clock::time_point now);
  void erase_locked(std::list<Entry>::iterator it);

  CacheOptions options_;
  int64_t budget_bytes_;
  std::function<Clock::time_point()> now_;
  mutable std::mutex mu_;
  std::list<Entry> lru_;  // front = most recently used
  std::unordered_map<std::string, std::list<Entry>::iterator> index_;
  Stats stats_;
};

}  // namespace sam3::core
