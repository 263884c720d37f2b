// SPDX-License-Identifier: Apache-2.0
#include "core/log.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>

#include <nlohmann/json.hpp>

#include "core/errors.h"

namespace sam3::log {
namespace {
std::atomic<int> g_level{static_cast<int>(Level::info)};
std::mutex g_mu;
Sink& sink_ref() {
  static Sink s = plain_sink();
  return s;
}
}  // namespace

Level parse_level(std::string_view s) {
  std::string l(s);
  for (auto& c : l) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (l == "debug") return Level::debug;
  if (l == "info") return Level::info;
  if (l == "warn" || l == "warning") return Level::warn;
  if (l == "error") return Level::error;
  if (l == "off" || l == "none") return Level::off;
  throw InvalidInput("unknown log level '" + std::string(s) + "' (expected debug, info, warn, error or off)");
}

const char* level_name(Level l) noexcept {
  switch (l) {
    case Level::debug: return "debug";
    case Level::info: return "info";
    case Level::warn: return "warn";
    case Level::error: return "error";
    default: return "off";
  }
}

void set_level(Level l) noexcept { g_level.store(static_cast<int>(l)); }
Level level() noexcept { return static_cast<Level>(g_level.load()); }

void set_sink(Sink sink) {
  std::lock_guard<std::mutex> lk(g_mu);
  sink_ref() = std::move(sink);
}

Sink plain_sink() {
  return [](Level l, std::string_view where, std::string_view msg) {
    std::fprintf(stderr, "sam3: %s: %.*s: %.*s\n", level_name(l), static_cast<int>(where.size()),
                 where.data(), static_cast<int>(msg.size()), msg.data());
  };
}

Sink json_sink() {
  return [](Level l, std::string_view where, std::string_view msg) {
    using namespace std::chrono;
    const double ts = duration<double>(system_clock::now().time_since_epoch()).count();
    nlohmann::json j = {{"ts", ts}, {"level", level_name(l)}, {"where", where}, {"msg", msg}};
    const std::string line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    std::fprintf(stderr, "%s\n", line.c_str());
  };
}

void write(Level l, std::string_view where, std::string_view msg) {
  std::lock_guard<std::mutex> lk(g_mu);
  sink_ref()(l, where, msg);
}

}  // namespace sam3::log
