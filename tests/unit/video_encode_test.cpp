// SPDX-License-Identifier: Apache-2.0
// Video output: MP4s written in-process and read back with the decoder
// (frame count, rate, size, pixels), the atomic temp-file + rename, and
// errors for bad options, sizes and folders.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "core/errors.h"
#include "formats/video_decode.h"
#include "formats/video_encode.h"
#include "test_util.h"

namespace sam3::formats {
namespace {

namespace fs = std::filesystem;

// A smooth moving gradient with a bright square: compressible, but every
// frame differs.
Image make_frame(int i, int w, int h) {
  Image im;
  im.width = w;
  im.height = h;
  im.rgb.resize(static_cast<size_t>(w) * h * 3);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      uint8_t* p = &im.rgb[(static_cast<size_t>(y) * w + x) * 3];
      p[0] = static_cast<uint8_t>(x * 255 / w);
      p[1] = static_cast<uint8_t>(y * 255 / h);
      p[2] = 90;
      const int x0 = (3 * i) % (w - 16);
      if (x >= x0 && x < x0 + 16 && y >= 8 && y < 24) p[0] = p[1] = p[2] = 230;
    }
  }
  return im;
}

std::vector<Image> make_frames(int n, int w, int h) {
  std::vector<Image> frames;
  for (int i = 0; i < n; ++i) frames.push_back(make_frame(i, w, h));
  return frames;
}

double mean_abs_diff(const Image& a, const Image& b) {
  double sum = 0;
  for (size_t k = 0; k < a.rgb.size(); ++k) sum += std::abs(int(a.rgb[k]) - int(b.rgb[k]));
  return sum / static_cast<double>(a.rgb.size());
}

std::vector<Image> read_all(const std::string& path) {
  VideoReader reader(path);
  std::vector<Image> out;
  VideoFrame f;
  while (reader.next(f)) out.push_back(f.image);
  return out;
}

// Files in `dir` other than `keep` (the temp files must be gone).
std::vector<std::string> other_files(const fs::path& dir, const std::string& keep) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename() != keep) out.push_back(e.path().filename().string());
  return out;
}

TEST(VideoEncode, WritesMp4ThatDecodesToTheSameFrames) {
  test::TempDir dir;
  const std::string path = dir.file("out.mp4");
  const auto frames = make_frames(15, 96, 64);
  VideoEncodeOptions opt;
  opt.fps = 12.0;
  write_video(path, frames, opt);

  const VideoInfo info = probe_video(path);
  EXPECT_EQ(info.total_frames, 15);
  EXPECT_NEAR(info.fps, 12.0, 1e-6);
  EXPECT_NEAR(info.duration_seconds, 15.0 / 12.0, 0.01);
  EXPECT_EQ(info.width, 96);
  EXPECT_EQ(info.height, 64);
  EXPECT_EQ(info.codec, default_video_encoder() == "libx264" ? "h264" : "mpeg4");
  EXPECT_NE(info.container.find("mp4"), std::string::npos) << info.container;

  const auto back = read_all(path);
  ASSERT_EQ(back.size(), frames.size());
  double worst = 0;
  for (size_t i = 0; i < back.size(); ++i) worst = std::max(worst, mean_abs_diff(back[i], frames[i]));
  std::cout << "encoder " << default_video_encoder() << ": worst per-frame mean abs error " << worst << "\n";
  EXPECT_LT(worst, 4.0);
  EXPECT_TRUE(other_files(dir.path(), "out.mp4").empty());
}

TEST(VideoEncode, Mpeg4EncoderAndFractionalRate) {
  test::TempDir dir;
  const std::string path = dir.file("m.mp4");
  VideoEncodeOptions opt;
  opt.codec = "mpeg4";
  opt.fps = 30000.0 / 1001.0;
  VideoWriter w(path, opt);
  EXPECT_EQ(w.encoder_name(), "mpeg4");
  for (const auto& f : make_frames(10, 80, 48)) w.write(f);
  EXPECT_EQ(w.frames_written(), 10);
  EXPECT_FALSE(fs::exists(path)) << "the target appears only at finish()";
  w.finish();
  const VideoInfo info = probe_video(path);
  EXPECT_EQ(info.codec, "mpeg4");
  EXPECT_EQ(info.total_frames, 10);
  EXPECT_NEAR(info.fps, 29.97, 0.01);
  const auto back = read_all(path);
  ASSERT_EQ(back.size(), 10u);
  EXPECT_LT(mean_abs_diff(back[5], make_frame(5, 80, 48)), 6.0);
}

TEST(VideoEncode, OddSizesArePaddedToEven) {
  test::TempDir dir;
  const std::string path = dir.file("odd.mp4");
  write_video(path, make_frames(3, 65, 47));
  const VideoInfo info = probe_video(path);
  EXPECT_EQ(info.width, 66);
  EXPECT_EQ(info.height, 48);
  const auto back = read_all(path);
  ASSERT_EQ(back.size(), 3u);
  // The padded column repeats the last one.
  const auto px = [](const Image& im, int x, int y, int c) { return int(im.rgb[(size_t(y) * im.width + x) * 3 + c]); };
  EXPECT_NEAR(px(back[0], 65, 30, 0), px(back[0], 64, 30, 0), 6);
}

TEST(VideoEncode, AbandonedWriterLeavesNothingAndKeepsTheOldFile) {
  test::TempDir dir;
  const std::string path = dir.file("keep.mp4");
  test::write_file(path, "old contents");
  {
    VideoWriter w(path);
    w.write(make_frame(0, 64, 64));
    // no finish(): e.g. an exception while rendering the overlay
  }
  EXPECT_EQ(test::read_file(path), "old contents");
  EXPECT_TRUE(other_files(dir.path(), "keep.mp4").empty());

  write_video(path, make_frames(2, 64, 64));  // replaces it atomically
  EXPECT_EQ(probe_video(path).total_frames, 2);
  EXPECT_TRUE(other_files(dir.path(), "keep.mp4").empty());
}

TEST(VideoEncode, RejectsBadOptionsAndFrames) {
  test::TempDir dir;
  VideoEncodeOptions bad_fps;
  bad_fps.fps = 0;
  EXPECT_THROW(VideoWriter(dir.file("a.mp4"), bad_fps), InvalidInput);
  VideoEncodeOptions bad_codec;
  bad_codec.codec = "vp9000";
  EXPECT_THROW(VideoWriter(dir.file("a.mp4"), bad_codec), InvalidInput);
  EXPECT_THROW(VideoWriter(dir.file("a.notacontainer")), InvalidInput);
  EXPECT_THROW(VideoWriter(dir.file("missing/folder/a.mp4")), Error);

  VideoWriter w(dir.file("b.mp4"));
  EXPECT_THROW(w.finish(), InvalidInput);  // no frames
  Image broken = make_frame(0, 32, 32);
  broken.rgb.pop_back();
  EXPECT_THROW(w.write(broken), InvalidInput);
  w.write(make_frame(0, 32, 32));
  try {
    w.write(make_frame(1, 48, 32));
    FAIL() << "a frame of another size must be refused";
  } catch (const InvalidInput& e) {
    EXPECT_NE(std::string(e.what()).find("48x32"), std::string::npos) << e.what();
  }
  w.finish();
  EXPECT_EQ(probe_video(dir.file("b.mp4")).total_frames, 1);
  EXPECT_THROW(w.write(make_frame(2, 32, 32)), InvalidInput);
}

}  // namespace
}  // namespace sam3::formats
