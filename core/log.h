// SPDX-License-Identifier: Apache-2.0
// One logging facility. The level is checked before the message is formatted;
// the sink is set once at start-up: plain text in the CLI, JSON lines in the
// daemon. Logs always go to stderr (stdout is for results).
#pragma once

#include <functional>
#include <sstream>
#include <string>
#include <string_view>

namespace sam3::log {

enum class Level : int { debug = 0, info = 1, warn = 2, error = 3, off = 4 };

// Parses "debug|info|warn|warning|error|off" (case-insensitive); throws InvalidInput.
Level parse_level(std::string_view s);
const char* level_name(Level l) noexcept;

void set_level(Level l) noexcept;
Level level() noexcept;
inline bool enabled(Level l) noexcept { return l >= level(); }

// A sink receives a finished record. Thread-safe: calls are serialised.
using Sink = std::function<void(Level, std::string_view where, std::string_view msg)>;
void set_sink(Sink sink);
Sink plain_sink();  // "sam3: warn: where: message"
Sink json_sink();   // {"ts":...,"level":...,"where":...,"msg":...}

void write(Level l, std::string_view where, std::string_view msg);

}  // namespace sam3::log

#define SAM3_LOG_AT(lvl, ...)                                   \
  do {                                                          \
    if (::sam3::log::enabled(lvl)) {                            \
      std::ostringstream sam3_log_os_;                          \
      sam3_log_os_ << __VA_ARGS__;                              \
      ::sam3::log::write(lvl, __func__, sam3_log_os_.str());    \
    }                                                           \
  } while (0)

#define SAM3_LOG_DBG(...) SAM3_LOG_AT(::sam3::log::Level::debug, __VA_ARGS__)
#define SAM3_LOG_INF(...) SAM3_LOG_AT(::sam3::log::Level::info, __VA_ARGS__)
#define SAM3_LOG_WRN(...) SAM3_LOG_AT(::sam3::log::Level::warn, __VA_ARGS__)
#define SAM3_LOG_ERR(...) SAM3_LOG_AT(::sam3::log::Level::error, __VA_ARGS__)
