// SPDX-License-Identifier: Apache-2.0
#include "daemon/metrics.h"

#include <sstream>

namespace sam3::daemon {
namespace {
// Label values are route patterns and type names, but escape anyway: the
// exposition format breaks on a raw quote, backslash or newline.
std::string esc(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '\\' || c == '"') o.push_back('\\');
    if (c == '\n') {
      o += "\\n";
      continue;
    }
    o.push_back(c);
  }
  return o;
}

void gauge(std::ostringstream& os, const char* name, const char* help, double v, const char* type = "gauge") {
  os << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n' << name << ' ' << v << '\n';
}
}  // namespace

void Metrics::count_request(const std::string& endpoint, int status) {
  std::lock_guard<std::mutex> lk(mu_);
  ++requests_[{endpoint, status}];
}

void Metrics::count_error(const std::string& type) {
  std::lock_guard<std::mutex> lk(mu_);
  ++errors_[type];
}

void Metrics::observe_inference(const std::string& endpoint, double seconds) {
  std::lock_guard<std::mutex> lk(mu_);
  Histogram& h = inference_[endpoint];
  size_t i = 0;
  while (i < kBuckets.size() && seconds > kBuckets[i]) ++i;
  if (i < kBuckets.size()) ++h.counts[i];
  ++h.count;
  h.sum += seconds;
}

std::string Metrics::render(const Gauges& g) const {
  std::ostringstream os;
  os.precision(10);
  std::lock_guard<std::mutex> lk(mu_);
  os << "# HELP sam3_requests_total HTTP requests by route and status.\n# TYPE sam3_requests_total counter\n";
  for (const auto& [k, v] : requests_)
    os << "sam3_requests_total{endpoint=\"" << esc(k.first) << "\",status=\"" << k.second << "\"} " << v << '\n';
  os << "# HELP sam3_errors_total Error responses by error type.\n# TYPE sam3_errors_total counter\n";
  for (const auto& [k, v] : errors_) os << "sam3_errors_total{type=\"" << esc(k) << "\"} " << v << '\n';
  os << "# HELP sam3_inference_duration_seconds Time spent in the model per request (queue wait excluded).\n"
        "# TYPE sam3_inference_duration_seconds histogram\n";
  for (const auto& [ep, h] : inference_) {
    uint64_t cum = 0;
    for (size_t i = 0; i < kBuckets.size(); ++i) {
      cum += h.counts[i];
      os << "sam3_inference_duration_seconds_bucket{endpoint=\"" << esc(ep) << "\",le=\"" << kBuckets[i] << "\"} "
         << cum << '\n';
    }
    os << "sam3_inference_duration_seconds_bucket{endpoint=\"" << esc(ep) << "\",le=\"+Inf\"} " << h.count << '\n';
    os << "sam3_inference_duration_seconds_sum{endpoint=\"" << esc(ep) << "\"} " << h.sum << '\n';
    os << "sam3_inference_duration_seconds_count{endpoint=\"" << esc(ep) << "\"} " << h.count << '\n';
  }
  gauge(os, "sam3_feature_cache_hits_total", "Feature cache hits.", double(g.cache_hits), "counter");
  gauge(os, "sam3_feature_cache_misses_total", "Feature cache misses.", double(g.cache_misses), "counter");
  gauge(os, "sam3_feature_cache_evictions_total", "Feature cache evictions (TTL or budget).", double(g.cache_evictions),
        "counter");
  gauge(os, "sam3_feature_cache_bytes", "Bytes held by cached image features.", double(g.cache_bytes));
  gauge(os, "sam3_feature_cache_entries", "Images with cached features.", double(g.cache_entries));
  gauge(os, "sam3_active_sessions", "Open video sessions.", double(g.active_sessions));
  gauge(os, "sam3_queue_depth", "Inference requests waiting for the device.", double(g.queue_depth));
  if (!g.device_jobs.empty()) {
    os << "# HELP sam3_device_jobs_total Inference jobs run by each model replica.\n"
       << "# TYPE sam3_device_jobs_total counter\n";
    for (const auto& [device, n] : g.device_jobs) os << "sam3_device_jobs_total{device=\"" << esc(device) << "\"} " << n << '\n';
  }
  gauge(os, "sam3_gpu_memory_used_bytes", "GPU memory held by the model and caches (0 on CPU).",
        double(g.gpu_memory_used_bytes));
  gauge(os, "sam3_requests_in_flight", "Requests being handled.", double(g.in_flight));
  gauge(os, "sam3_uptime_seconds", "Seconds since the daemon started.", g.uptime_seconds);
  return os.str();
}

}  // namespace sam3::daemon
