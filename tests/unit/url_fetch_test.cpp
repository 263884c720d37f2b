// SPDX-License-Identifier: Apache-2.0
// formats::fetch_url_to_file against a loopback HTTP server: a video that
// downloads and decodes, a 404, a redirect (refused), a body over the limit (announced and not),
// a server that never answers, and schemes outside http/https.
#include "formats/url_fetch.h"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>

#include "formats/video_decode.h"
#include "formats/video_encode.h"
#include "test_util.h"
#include "tiny_http_server.h"

namespace fs = std::filesystem;
using namespace sam3;

namespace {

struct Served {
  test::TempDir dir;
  std::string mp4_bytes;
  std::unique_ptr<test::TinyHttpServer> server;
  Served() {
    const std::string mp4 = dir.file("v.mp4");
    formats::write_video(mp4, test::moving_squares(8));
    mp4_bytes = test::read_file(mp4);
    server = std::make_unique<test::TinyHttpServer>(std::map<std::string, std::string>{
        {"/v.mp4", mp4_bytes}, {"/nolen/v.mp4", mp4_bytes}});
  }
};

Served& served() {
  static Served s;
  return s;
}

}  // namespace

TEST(UrlFetch, DownloadsAVideoThatDecodes) {
  ASSERT_NE(served().server->port(), 0);
  test::TempDir out;
  const std::string path = out.file("got.mp4");
  formats::fetch_url_to_file(served().server->url("/v.mp4"), path);
  EXPECT_EQ(test::read_file(path), served().mp4_bytes);
  EXPECT_EQ(formats::probe_video(path).total_frames, 8);
  EXPECT_EQ((fs::status(path).permissions() & fs::perms::all), fs::perms::owner_read | fs::perms::owner_write);
  // The file must be new: an existing one is never overwritten.
  EXPECT_THROW(formats::fetch_url_to_file(served().server->url("/v.mp4"), path), Error);
  EXPECT_EQ(test::read_file(path), served().mp4_bytes);
}

TEST(UrlFetch, NotFoundIsAFetchErrorAndLeavesNoFile) {
  test::TempDir out;
  const std::string path = out.file("missing.mp4");
  try {
    formats::fetch_url_to_file(served().server->url("/nope.mp4"), path);
    FAIL() << "a 404 must throw";
  } catch (const formats::UrlFetchError& e) {
    std::cout << "404 message: " << e.what() << "\n";
    EXPECT_NE(std::string(e.what()).find("cannot fetch"), std::string::npos);
  }
  EXPECT_FALSE(fs::exists(path));
}

TEST(UrlFetch, RedirectsAreNotFollowed) {
  // The host was checked before the request; a redirect could point anywhere.
  test::TempDir out;
  EXPECT_THROW(formats::fetch_url_to_file(served().server->url("/redirect"), out.file("r.mp4")), formats::UrlFetchError);
  EXPECT_FALSE(fs::exists(out.file("r.mp4")));
}

TEST(UrlFetch, BodiesOverTheLimitAreTooLarge) {
  test::TempDir out;
  formats::UrlFetchLimits small;
  small.max_bytes = static_cast<int64_t>(served().mp4_bytes.size()) - 1;
  for (const char* p : {"/v.mp4", "/nolen/v.mp4"}) {  // announced by Content-Length, then counted while reading
    const std::string path = out.file("big.mp4");
    EXPECT_THROW(formats::fetch_url_to_file(served().server->url(p), path, small), TooLarge) << p;
    EXPECT_FALSE(fs::exists(path)) << p;
  }
  // Exactly at the limit is fine.
  small.max_bytes = static_cast<int64_t>(served().mp4_bytes.size());
  formats::fetch_url_to_file(served().server->url("/nolen/v.mp4"), out.file("exact.mp4"), small);
  EXPECT_EQ(test::read_file(out.file("exact.mp4")), served().mp4_bytes);
}

TEST(UrlFetch, ASilentServerTimesOut) {
  test::TempDir out;
  formats::UrlFetchLimits quick;
  quick.timeout_seconds = 1.0;
  const auto t0 = std::chrono::steady_clock::now();
  try {
    formats::fetch_url_to_file(served().server->url("/hang"), out.file("slow.mp4"), quick);
    FAIL() << "a silent server must time out";
  } catch (const formats::UrlFetchError& e) {
    EXPECT_NE(std::string(e.what()).find("timed out"), std::string::npos) << e.what();
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::cout << "timed out after " << s << " s\n";
  EXPECT_GE(s, 0.9);
  EXPECT_LT(s, 5.0);
  EXPECT_FALSE(fs::exists(out.file("slow.mp4")));
}

TEST(UrlFetch, OnlyHttpAndHttpsAreFetched) {
  test::TempDir out;
  const std::string local = out.file("local.mp4");
  test::write_file(local, "secret");
  for (const std::string& u : {"file://" + local, local, std::string("ftp://127.0.0.1/v.mp4"),
                              std::string("data:application/octet-stream;base64,AAAA")})
    EXPECT_THROW(formats::fetch_url_to_file(u, out.file("x.mp4")), InvalidInput) << u;
  EXPECT_FALSE(fs::exists(out.file("x.mp4")));
}

TEST(UrlFetch, NothingListeningIsAFetchError) {
  int port = 0;
  {
    test::TinyHttpServer gone({});  // a port that was just free again
    port = gone.port();
  }
  ASSERT_NE(port, 0);
  test::TempDir out;
  EXPECT_THROW(formats::fetch_url_to_file("http://127.0.0.1:" + std::to_string(port) + "/v.mp4", out.file("x.mp4")),
               formats::UrlFetchError);
}
