// SPDX-License-Identifier: Apache-2.0
#include "formats/url_fetch.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <vector>

extern "C" {
#include <libavformat/avio.h>
#include <libavutil/dict.h>
#include <libavutil/error.h>
}

namespace sam3::formats {
namespace {

using Clock = std::chrono::steady_clock;

std::string av_error_text(int err) {
  char buf[AV_ERROR_MAX_STRING_SIZE] = {0};
  av_strerror(err, buf, sizeof(buf));
  return buf;
}

// FFmpeg polls this while connecting and reading; a non-zero answer aborts
// the blocking call with AVERROR_EXIT.
struct Deadline {
  Clock::time_point at;
  bool expired = false;
  static int check(void* opaque) {
    auto* d = static_cast<Deadline*>(opaque);
    if (Clock::now() >= d->at) d->expired = true;
    return d->expired ? 1 : 0;
  }
};

// Closes the file and removes it unless the download completed.
struct OutFile {
  std::string path;
  int fd = -1;
  bool keep = false;
  ~OutFile() {
    if (fd >= 0) ::close(fd);
    if (!keep) std::remove(path.c_str());
  }
};

struct AvioCloser {
  AVIOContext* ctx = nullptr;
  ~AvioCloser() { avio_closep(&ctx); }
};

}  // namespace

void fetch_url_to_file(const std::string& url, const std::string& path, const UrlFetchLimits& limits) {
  const size_t sep = url.find("://");
  std::string scheme = sep == std::string::npos ? std::string() : url.substr(0, sep);
  for (auto& c : scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  // Exactly the stack this scheme needs, nothing else (no file:, pipe:, data:, crypto:, ...).
  const char* whitelist = scheme == "http" ? "http,tcp" : scheme == "https" ? "https,tls,tcp" : nullptr;
  if (!whitelist)
    throw InvalidInput("video URL: expected an http:// or https:// URL, got scheme \"" + scheme.substr(0, 20) + "\"");
  if (limits.max_bytes <= 0 || !(limits.timeout_seconds > 0))
    throw InvalidInput("URL fetch limits: expected max_bytes > 0 and timeout_seconds > 0");

  Deadline deadline{Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                       std::chrono::duration<double>(limits.timeout_seconds))};
  const AVIOInterruptCB interrupt{&Deadline::check, &deadline};
  auto timed_out = [&] {
    return UrlFetchError("fetching the video URL timed out after " + std::to_string(limits.timeout_seconds) + " s");
  };

  AVDictionary* opts = nullptr;
  av_dict_set(&opts, "protocol_whitelist", whitelist, 0);
  av_dict_set(&opts, "max_redirects", "0", 0);  // the checked host is the only one contacted
  av_dict_set(&opts, "reconnect", "0", 0);
  av_dict_set(&opts, "seekable", "0", 0);       // one plain GET, no range requests
  av_dict_set(&opts, "user_agent", "sam3", 0);
  // Socket-level timeout as a second guard (microseconds); the deadline is the real limit.
  av_dict_set_int(&opts, "rw_timeout", static_cast<int64_t>(limits.timeout_seconds * 1e6), 0);
  AvioCloser in;
  const int rc = avio_open2(&in.ctx, url.c_str(), AVIO_FLAG_READ, &interrupt, &opts);
  av_dict_free(&opts);
  if (rc < 0) {
    if (deadline.expired || rc == AVERROR_EXIT) throw timed_out();
    std::string why = av_error_text(rc);
    if (rc == AVERROR(EIO)) why += " (unreachable, refused, or a redirect, which is not followed)";
    throw UrlFetchError("cannot fetch the video URL: " + why);
  }
  // An announced length over the limit fails before any byte is stored.
  const int64_t announced = avio_size(in.ctx);  // < 0: no Content-Length
  if (announced > limits.max_bytes)
    throw TooLarge("the video URL's body of " + std::to_string(announced) + " bytes exceeds the upload limit of " +
                   std::to_string(limits.max_bytes) + " bytes");

  OutFile out{path};
  out.fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (out.fd < 0) {
    out.keep = true;  // not ours: it existed already or was never created
    throw sam3::Error("cannot create the download file '" + path + "'");
  }
  std::vector<unsigned char> buf(1 << 16);
  int64_t total = 0;
  for (;;) {
    const int n = avio_read(in.ctx, buf.data(), static_cast<int>(buf.size()));
    if (n == AVERROR_EOF || n == 0) break;
    if (n < 0) {
      if (deadline.expired || n == AVERROR_EXIT) throw timed_out();
      // FFmpeg 5.x reports the end of a body without Content-Length (ended by
      // closing the connection) as EIO, "Stream ends prematurely". Such a body
      // has no length to check against, so its end is the end; a truncated
      // video then fails to decode.
      if (announced < 0 && n == AVERROR(EIO) && total > 0) break;
      throw UrlFetchError("reading the video URL failed after " + std::to_string(total) +
                          " bytes: " + av_error_text(n));
    }
    total += n;
    if (total > limits.max_bytes)
      throw TooLarge("the video URL's body exceeds the upload limit of " + std::to_string(limits.max_bytes) + " bytes");
    for (int done = 0; done < n;) {
      const ssize_t w = ::write(out.fd, buf.data() + done, static_cast<size_t>(n - done));
      if (w <= 0) throw sam3::Error("cannot write the downloaded video to '" + path + "' (disk full?)");
      done += static_cast<int>(w);
    }
  }
  if (total == 0) throw UrlFetchError("the video URL returned an empty body");
  if (::close(out.fd) != 0) {
    out.fd = -1;
    throw sam3::Error("cannot write the downloaded video to '" + path + "'");
  }
  out.fd = -1;
  out.keep = true;
}

}  // namespace sam3::formats
