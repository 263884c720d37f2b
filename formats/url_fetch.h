// SPDX-License-Identifier: Apache-2.0
// Downloads a video URL (POST /api/v1/video/sessions/start's video_url) to a
// local file with FFmpeg's own I/O (libavformat avio), so the project needs
// no separate HTTP client. The caller applies the URL policy (allowed schemes
// and hosts) first; this only fetches, within limits:
//   - only the URL's own protocol stack may be opened (protocol_whitelist
//     "http,tcp" or "https,tls,tcp"), so a URL cannot reach file:, pipe:, ...;
//   - redirects are not followed (max_redirects=0): the host was checked
//     before the request, and a redirect could lead anywhere;
//   - a wall-clock deadline covers connecting and the whole body;
//   - the body may not exceed max_bytes.
// No torch here. Thread-safe: every call is independent.
#pragma once

#include <cstdint>
#include <string>

#include "core/errors.h"

namespace sam3::formats {

struct UrlFetchLimits {
  int64_t max_bytes = int64_t{200} << 20;  // MAX_UPLOAD_SIZE_MB in bytes
  double timeout_seconds = 60.0;           // wall clock, connect + download
};

// The remote side failed: unreachable host, refused connection, an HTTP
// error status or a redirect, a timeout, a broken transfer. The daemon
// answers 502 for it.
class UrlFetchError : public sam3::Error {
public:
  using sam3::Error::Error;
  const char* type() const noexcept override { return "fetch_failed"; }
};

// Downloads `url` (http:// or https://) into a new file `path` (created
// exclusively with mode 0600; removed again on any failure).
// \throws InvalidInput for another scheme, TooLarge when the body exceeds
// limits.max_bytes, UrlFetchError when the fetch fails or times out, and
// sam3::Error when `path` cannot be created or written.
void fetch_url_to_file(const std::string& url, const std::string& path, const UrlFetchLimits& limits = {});

}  // namespace sam3::formats
