// SPDX-License-Identifier: Apache-2.0
#include "core/feature_cache.h"

#include <gtest/gtest.h>

#include <thread>

#include "core/image_state.h"

namespace sam3::core {
namespace {

std::shared_ptr<const ImageState> state(int w) {
  auto s = std::make_shared<ImageState>();
  s->width = w;
  return s;
}

TEST(FeatureCache, Sha256KnownVectors) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(sha256_hex(std::string(1000000, 'a')), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(FeatureCache, KeyDependsOnModelAndBytes) {
  EXPECT_NE(feature_cache_key("img", "model-a"), feature_cache_key("img", "model-b"));
  EXPECT_NE(feature_cache_key("img1", "m"), feature_cache_key("img2", "m"));
  EXPECT_NE(feature_cache_key("bc", "a"), feature_cache_key("c", "ab"));  // no concatenation ambiguity
  EXPECT_EQ(feature_cache_key("img", "m"), feature_cache_key("img", "m"));
}

TEST(FeatureCache, HitMissAndLruEvictionUnderTheByteBudget) {
  CacheOptions o;
  o.max_size_mb = 3;
  FeatureCache c(o);
  const int64_t mb = 1 << 20;
  c.put("a", state(1), mb);
  c.put("b", state(2), mb);
  c.put("c", state(3), mb);
  ASSERT_NE(c.get("a"), nullptr);  // a is now most recent; b is the oldest
  c.put("d", state(4), mb);
  EXPECT_EQ(c.get("b"), nullptr);
  EXPECT_EQ(c.get("a")->width, 1);
  EXPECT_EQ(c.get("d")->width, 4);
  const auto s = c.stats();
  EXPECT_EQ(s.entries, 3);
  EXPECT_EQ(s.bytes, 3 * mb);
  EXPECT_EQ(s.evictions, 1);
  EXPECT_EQ(s.hits, 3);
  EXPECT_EQ(s.misses, 1);
  c.put("huge", state(5), 4 * mb);  // larger than the whole budget: not stored
  EXPECT_EQ(c.get("huge"), nullptr);
  EXPECT_EQ(c.stats().entries, 3);
}

TEST(FeatureCache, EntriesExpireAfterTheTtl) {
  CacheOptions o;
  o.ttl_seconds = 10;
  auto now = FeatureCache::Clock::now();
  FeatureCache c(o, [&] { return now; });
  c.put("a", state(1), 100);
  now += std::chrono::seconds(9);
  EXPECT_NE(c.get("a"), nullptr);
  now += std::chrono::seconds(2);
  EXPECT_EQ(c.get("a"), nullptr);
  EXPECT_EQ(c.stats().bytes, 0);
}

TEST(FeatureCache, DisabledCacheStoresNothing) {
  CacheOptions o;
  o.enabled = false;
  FeatureCache c(o);
  c.put("a", state(1), 10);
  EXPECT_EQ(c.get("a"), nullptr);
}

TEST(FeatureCache, EvictedStateLivesWhileHeld) {
  CacheOptions o;
  o.max_size_mb = 1;
  FeatureCache c(o);
  c.put("a", state(7), 1 << 20);
  auto held = c.get("a");
  c.put("b", state(8), 1 << 20);  // evicts a
  EXPECT_EQ(c.get("a"), nullptr);
  EXPECT_EQ(held->width, 7);
}

TEST(FeatureCache, ConcurrentPutAndGet) {
  CacheOptions o;
  o.max_size_mb = 1;
  FeatureCache c(o);
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t)
    ts.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) {
        const std::string k = std::to_string((i * 7 + t) % 50);
        if (auto s = c.get(k)) EXPECT_EQ(std::to_string(s->width), k);
        else c.put(k, state(std::stoi(k)), 40 * 1024);
      }
    });
  for (auto& t : ts) t.join();
  const auto s = c.stats();
  EXPECT_LE(s.bytes, 1 << 20);
  EXPECT_EQ(s.hits + s.misses, 8000);
}

}  // namespace
}  // namespace sam3::core
