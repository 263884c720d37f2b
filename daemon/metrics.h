// SPDX-License-Identifier: Apache-2.0
// Prometheus metrics in the text exposition format (version 0.0.4):
//   sam3_requests_total{endpoint,status}        counter
//   sam3_errors_total{type}                      counter
//   sam3_inference_duration_seconds{endpoint}    histogram
//   sam3_feature_cache_{hits,misses,evictions}_total, sam3_feature_cache_bytes
//   sam3_active_sessions, sam3_queue_depth, sam3_gpu_memory_used_bytes gauges
// `endpoint` is the route pattern, never the raw path, so label cardinality
// stays bounded whatever clients send.
// Thread-safety: every member function may be called from any thread.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace sam3::daemon {

class Metrics {
public:
  void count_request(const std::string& endpoint, int status);
  void count_error(const std::string& type);
  void observe_inference(const std::string& endpoint, double seconds);

  // Values read at scrape time from their owners.
  struct Gauges {
    int64_t cache_hits = 0, cache_misses = 0, cache_evictions = 0, cache_bytes = 0, cache_entries = 0;
    int64_t active_sessions = 0;
    int64_t queue_depth = 0;
    std::vector<std::pair<std::string, uint64_t>> device_jobs;  // per model replica ("cpu#0", "cuda:1#1")
    int64_t gpu_memory_used_bytes = 0;
    int64_t in_flight = 0;
    double uptime_seconds = 0;
  };
  std::string render(const Gauges& g) const;

  // Upper bounds of the histogram buckets, seconds.
  static constexpr std::array<double, 12> kBuckets = {0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};

private:
  struct Histogram {
    std::array<uint64_t, kBuckets.size()> counts{};  // non-cumulative
    uint64_t count = 0;
    double sum = 0;
  };
  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, uint64_t> requests_;
  std::map<std::string, uint64_t> errors_;
  std::map<std::string, Histogram> inference_;
};

}  // namespace sam3::daemon
