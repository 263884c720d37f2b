// SPDX-License-Identifier: Apache-2.0
// Video input: MP4s made here (our encoder; the ffmpeg CLI for rotation,
// variable frame rate and other containers, skipped when it is missing),
// JPEG folders in numeric order, and clear errors for missing, empty,
// truncated, non-video and image-less inputs. Every frame carries its index
// as the colour of a moving square, so order is checked, not assumed.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "core/errors.h"
#include "formats/image_io.h"
#include "formats/video_decode.h"
#include "formats/video_encode.h"
#include "test_util.h"

namespace sam3::formats {
namespace {

namespace fs = std::filesystem;

constexpr int kW = 96, kH = 64, kSq = 24;

int code_of(int i) {
  return 24 + 9 * i;
}  // R of frame i's square, i < 24
int square_x(int i, int w) {
  return (4 * i) % (w - kSq);
}

// Black frame, a red marker in the top-left corner (for rotation), and a
// square whose red channel encodes the frame index, moving right.
Image make_frame(int i, int w = kW, int h = kH) {
  Image im;
  im.width = w;
  im.height = h;
  im.rgb.assign(static_cast<size_t>(w) * h * 3, 0);
  auto fill = [&](int x0, int y0, int s, int r, int g, int b) {
    for (int y = y0; y < y0 + s; ++y)
      for (int x = x0; x < x0 + s; ++x) {
        uint8_t* p = &im.rgb[(static_cast<size_t>(y) * w + x) * 3];
        p[0] = static_cast<uint8_t>(r);
        p[1] = static_cast<uint8_t>(g);
        p[2] = static_cast<uint8_t>(b);
      }
  };
  fill(0, 0, 16, 230, 20, 20);
  fill(square_x(i, w), h - kSq - 4, kSq, code_of(i), 255 - code_of(i), 100);
  return im;
}

// Mean of one channel over an 8x8 patch centred at (cx, cy).
double patch_mean(const Image& im, int cx, int cy, int c) {
  double sum = 0;
  for (int y = cy - 4; y < cy + 4; ++y)
    for (int x = cx - 4; x < cx + 4; ++x) sum += im.rgb[(static_cast<size_t>(y) * im.width + x) * 3 + c];
  return sum / 64.0;
}

// The index frame `expected` shows, read where that frame's square should be
// (a frame out of order reads a wrong code or the black background).
int decoded_index(const Image& im, int expected) {
  const double r = patch_mean(im, square_x(expected, im.width) + kSq / 2, im.height - kSq / 2 - 4, 0);
  return static_cast<int>(std::lround((r - 24.0) / 9.0));
}

std::string make_mp4(const test::TempDir& dir, const std::string& name, int n, double fps,
                     const std::string& codec = "auto") {
  std::vector<Image> frames;
  for (int i = 0; i < n; ++i) frames.push_back(make_frame(i));
  VideoEncodeOptions opt;
  opt.fps = fps;
  opt.codec = codec;
  opt.quality = 12;
  const std::string path = dir.file(name);
  write_video(path, frames, opt);
  return path;
}

std::vector<VideoFrame> read_all(VideoSource& src) {
  std::vector<VideoFrame> out;
  VideoFrame f;
  while (src.next(f)) out.push_back(f);
  return out;
}

bool have_ffmpeg() {
  static const bool ok = std::system("ffmpeg -version >/dev/null 2>&1") == 0;
  return ok;
}

// The CLI only prepares inputs; the code under test never runs it.
void run_ffmpeg(const std::string& args) {
  const std::string cmd = "ffmpeg -hide_banner -loglevel error -nostdin -y " + args;
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
}

#define SAM3_REQUIRE_FFMPEG() \
  if (!have_ffmpeg()) GTEST_SKIP() << "the ffmpeg CLI is not installed: cannot prepare this input"

template <class E>
std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("WRONG TYPE: ") + e.what();
  }
  return "NO ERROR";
}

TEST(VideoDecode, Mp4FramesInOrderWithTimestamps) {
  test::TempDir dir;
  const std::string path = make_mp4(dir, "v.mp4", 20, 10.0);
  const VideoInfo info = probe_video(path);
  EXPECT_EQ(info.total_frames, 20);
  EXPECT_NEAR(info.fps, 10.0, 1e-9);
  EXPECT_NEAR(info.duration_seconds, 2.0, 0.01);
  EXPECT_EQ(info.width, kW);
  EXPECT_EQ(info.height, kH);
  EXPECT_EQ(info.rotation, 0);
  EXPECT_FALSE(info.variable_frame_rate);

  VideoReader reader(path);
  EXPECT_EQ(reader.info().total_frames, 20);
  const auto frames = read_all(reader);
  ASSERT_EQ(frames.size(), 20u);
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(frames[i].index, i);
    EXPECT_EQ(frames[i].image.width, kW);
    EXPECT_EQ(frames[i].image.height, kH);
    EXPECT_EQ(decoded_index(frames[i].image, i), i) << "frame " << i;
    EXPECT_NEAR(frames[i].timestamp_seconds, i / 10.0, 1e-6);
  }
  VideoFrame extra;
  EXPECT_FALSE(reader.next(extra));  // stays at the end
}

TEST(VideoDecode, Mpeg4CodecThroughOpenVideoSource) {
  test::TempDir dir;
  const std::string path = make_mp4(dir, "m.mp4", 12, 25.0, "mpeg4");
  auto src = open_video_source(path);
  EXPECT_EQ(src->info().codec, "mpeg4");
  EXPECT_EQ(src->info().total_frames, 12);
  const auto frames = read_all(*src);
  ASSERT_EQ(frames.size(), 12u);
  for (int i = 0; i < 12; ++i) EXPECT_EQ(decoded_index(frames[i].image, i), i);
}

TEST(VideoDecode, OtherContainersAndCodecs) {
  SAM3_REQUIRE_FFMPEG();
  test::TempDir dir;
  const std::string src = make_mp4(dir, "v.mp4", 10, 10.0);
  run_ffmpeg("-i '" + src + "' -c:v mjpeg -q:v 3 '" + dir.file("v.avi") + "'");
  run_ffmpeg("-i '" + src + "' -c copy '" + dir.file("v.mkv") + "'");
  for (const char* name : {"v.avi", "v.mkv"}) {
    auto reader = open_video_source(dir.file(name));
    const auto frames = read_all(*reader);
    ASSERT_EQ(frames.size(), 10u) << name;
    EXPECT_EQ(reader->info().total_frames, 10) << name << " (mkv has no count: packets are counted)";
    EXPECT_NEAR(reader->info().fps, 10.0, 0.01) << name;
    for (int i = 0; i < 10; ++i) EXPECT_EQ(decoded_index(frames[i].image, i), i) << name;
  }
}

// The rotation tag becomes a display matrix; FFmpeg releases have differed on
// the sign the CLI writes for "rotate", so the truth here is the matrix as the
// ffmpeg tool itself applies it (its autorotated frame), plus the marker
// landing where the reported clockwise rotation puts it.
TEST(VideoDecode, DisplayMatrixRotationIsApplied) {
  SAM3_REQUIRE_FFMPEG();
  test::TempDir dir;
  const std::string src = make_mp4(dir, "v.mp4", 6, 10.0);
  struct Placement {
    int width, height;       // displayed size
    int marker_x, marker_y;  // centre of the coded top-left marker after turning clockwise
  };
  const auto placement = [](int rotation) {
    switch (rotation) {
      case 90:
        return Placement{kH, kW, kH - 8, 8};
      case 180:
        return Placement{kW, kH, kW - 8, kH - 8};
      default:
        return Placement{kH, kW, 8, kW - 8};  // 270
    }
  };
  for (const int tag : {90, 180, 270}) {
    const std::string out = dir.file("r" + std::to_string(tag) + ".mp4");
    run_ffmpeg("-i '" + src + "' -c copy -metadata:s:v rotate=" + std::to_string(tag) + " '" + out + "'");
    const VideoInfo info = probe_video(out);
    EXPECT_TRUE(info.rotation == tag || info.rotation == (360 - tag) % 360) << "tag " << tag << " -> " << info.rotation;
    const Placement p = placement(info.rotation);
    EXPECT_EQ(info.width, p.width);
    EXPECT_EQ(info.height, p.height);
    VideoReader reader(out);
    VideoFrame f;
    ASSERT_TRUE(reader.next(f));
    ASSERT_EQ(f.image.width, p.width);
    ASSERT_EQ(f.image.height, p.height);
    EXPECT_GT(patch_mean(f.image, p.marker_x, p.marker_y, 0), 180) << "rotation " << info.rotation;
    EXPECT_LT(patch_mean(f.image, 8, 8, 0), 60) << "rotation " << info.rotation << ": marker still top-left";
    const std::string raw = dir.file("r.rgb");
    run_ffmpeg("-i '" + out + "' -frames:v 1 -f rawvideo -pix_fmt rgb24 '" + raw + "'");
    const std::string ref = test::read_file(raw);
    ASSERT_EQ(ref.size(), f.image.rgb.size());
    double diff = 0;
    for (size_t k = 0; k < ref.size(); ++k) diff += std::abs(int(uint8_t(ref[k])) - int(f.image.rgb[k]));
    std::cout << "rotation " << info.rotation << ": mean abs diff to the ffmpeg tool's frame " << diff / ref.size()
              << "\n";
    EXPECT_LT(diff / ref.size(), 2.0) << "rotation " << info.rotation << " differs from the ffmpeg tool's frame";
  }
}

TEST(VideoDecode, VariableFrameRateKeepsTimestamps) {
  SAM3_REQUIRE_FFMPEG();
  test::TempDir dir;
  const std::string src = make_mp4(dir, "v.mp4", 12, 10.0);
  const std::string vfr = dir.file("vfr.mp4");
  // Frames 6.. are shown 1 s later than at 10 fps: a gap in the middle.
  run_ffmpeg("-i '" + src + "' -vf \"setpts='if(gte(N,6),N+10,N)/(10*TB)'\" -fps_mode vfr -c:v libx264 -crf 12 '" +
             vfr + "'");
  const VideoInfo info = probe_video(vfr);
  EXPECT_EQ(info.total_frames, 12);
  EXPECT_TRUE(info.variable_frame_rate);
  EXPECT_NEAR(info.duration_seconds, 2.2, 0.05);
  EXPECT_NEAR(info.fps, 12 / 2.2, 0.1);  // the average rate
  VideoReader reader(vfr);
  const auto frames = read_all(reader);
  ASSERT_EQ(frames.size(), 12u);
  for (int i = 0; i < 12; ++i) {
    EXPECT_EQ(decoded_index(frames[i].image, i), i);
    EXPECT_NEAR(frames[i].timestamp_seconds, (i >= 6 ? i + 10 : i) / 10.0, 1e-3) << "frame " << i;
  }
}

TEST(VideoDecode, JpegFolderInNumericOrder) {
  test::TempDir dir;
  const fs::path folder = dir.path() / "frames";
  fs::create_directories(folder);
  for (int i = 1; i <= 12; ++i)
    test::write_file((folder / (std::to_string(i) + ".jpg")).string(), encode_jpeg(make_frame(i), 95));
  test::write_file((folder / "notes.txt").string(), "not a frame");
  test::write_file((folder / ".hidden.jpg").string(), "macOS resource fork");
  fs::create_directories(folder / "sub.jpg");  // a folder, not a frame

  auto src = open_video_source(folder.string());
  const VideoInfo& info = src->info();
  EXPECT_EQ(info.total_frames, 12);
  EXPECT_EQ(info.width, kW);
  EXPECT_EQ(info.height, kH);
  EXPECT_NEAR(info.fps, 30.0, 1e-9);
  EXPECT_NEAR(info.duration_seconds, 12 / 30.0, 1e-9);
  const auto frames = read_all(*src);
  ASSERT_EQ(frames.size(), 12u);
  for (int i = 0; i < 12; ++i) {
    EXPECT_EQ(frames[i].index, i);
    EXPECT_EQ(decoded_index(frames[i].image, i + 1), i + 1) << "position " << i << " must hold " << i + 1 << ".jpg";
    EXPECT_NEAR(frames[i].timestamp_seconds, i / 30.0, 1e-9);
  }
}

TEST(VideoDecode, ZeroPaddedNamesAndFolderOptions) {
  test::TempDir dir;
  for (int i : {0, 2, 10, 1})
    test::write_file(dir.file(std::string(i < 10 ? "0000" : "000") + std::to_string(i) + ".png"),
                     encode_png(make_frame(i)));
  const auto files = list_frame_files(dir.path().string());
  ASSERT_EQ(files.size(), 4u);
  EXPECT_EQ(fs::path(files[3]).filename(), "00010.png");
  VideoOpenOptions opt;
  opt.folder_fps = 5.0;
  ImageSequenceReader reader(dir.path().string(), opt);
  EXPECT_NEAR(reader.info().duration_seconds, 0.8, 1e-9);
  const auto frames = read_all(reader);
  ASSERT_EQ(frames.size(), 4u);
  const int want[] = {0, 1, 2, 10};
  for (int k = 0; k < 4; ++k) EXPECT_EQ(decoded_index(frames[k].image, want[k]), want[k]);
}

TEST(VideoDecode, NaturalOrder) {
  EXPECT_TRUE(natural_less("2.jpg", "10.jpg"));
  EXPECT_FALSE(natural_less("10.jpg", "2.jpg"));
  EXPECT_TRUE(natural_less("00001.jpg", "2.jpg"));
  EXPECT_TRUE(natural_less("frame_9.jpg", "frame_10.jpg"));
  EXPECT_TRUE(natural_less("a1b2", "a1b10"));
  EXPECT_TRUE(natural_less("1.jpg", "1.png"));
  // Equal values: a strict, total order all the same.
  EXPECT_NE(natural_less("01.jpg", "1.jpg"), natural_less("1.jpg", "01.jpg"));
  EXPECT_FALSE(natural_less("5.jpg", "5.jpg"));
}

TEST(VideoDecode, SingleImageIsAOneFrameVideo) {
  test::TempDir dir;
  const std::string path = dir.file("still.jpeg");
  test::write_file(path, encode_jpeg(make_frame(3), 95));
  auto src = open_video_source(path);
  EXPECT_EQ(src->info().total_frames, 1);
  const auto frames = read_all(*src);
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(decoded_index(frames[0].image, 3), 3);
}

TEST(VideoDecode, ClearErrorsForBadInputs) {
  test::TempDir dir;
  // Missing file / folder.
  EXPECT_NE(error_of<NotFound>([&] { probe_video(dir.file("nope.mp4")); }).find("nope.mp4"), std::string::npos);
  EXPECT_NE(error_of<NotFound>([&] { open_video_source(dir.file("nope")); }).find("nope"), std::string::npos);
  // Empty file.
  test::write_file(dir.file("empty.mp4"), "");
  EXPECT_NE(error_of<InvalidInput>([&] { VideoReader r(dir.file("empty.mp4")); }).find("empty"), std::string::npos);
  // Text named .mp4.
  test::write_file(dir.file("text.mp4"), "hello, this is not a video at all\n");
  const std::string text_err = error_of<InvalidInput>([&] { open_video_source(dir.file("text.mp4")); });
  std::cout << "text file: " << text_err << "\n";
  EXPECT_NE(text_err.find("text.mp4"), std::string::npos) << text_err;
  EXPECT_NE(text_err.find("Invalid data"), std::string::npos) << "quotes FFmpeg: " << text_err;
  // A folder without images.
  fs::create_directories(dir.path() / "no_images");
  test::write_file((dir.path() / "no_images" / "readme.txt").string(), "x");
  EXPECT_NE(
      error_of<InvalidInput>([&] { open_video_source((dir.path() / "no_images").string()); }).find("no frame images"),
      std::string::npos);
  // Frames of different sizes.
  fs::create_directories(dir.path() / "mixed");
  test::write_file((dir.path() / "mixed" / "0.png").string(), encode_png(make_frame(0)));
  test::write_file((dir.path() / "mixed" / "1.png").string(), encode_png(make_frame(1, 64, 64)));
  auto mixed = open_video_source((dir.path() / "mixed").string());
  EXPECT_NE(error_of<InvalidInput>([&] { read_all(*mixed); }).find("same size"), std::string::npos);
  // A corrupt image inside a folder names the file.
  fs::create_directories(dir.path() / "corrupt");
  test::write_file((dir.path() / "corrupt" / "0.jpg").string(), encode_jpeg(make_frame(0)));
  test::write_file((dir.path() / "corrupt" / "1.jpg").string(), "garbage");
  auto corrupt = open_video_source((dir.path() / "corrupt").string());
  EXPECT_NE(error_of<InvalidInput>([&] { read_all(*corrupt); }).find("1.jpg"), std::string::npos);
}

// Cut at half: the index may survive (ours are written with +faststart), the
// frame data does not; either way reading must fail, never yield a silently
// short video. With the index at the end (the ffmpeg tool's default), the
// file cannot even be opened.
TEST(VideoDecode, TruncatedMp4IsAnError) {
  test::TempDir dir;
  const std::string path = make_mp4(dir, "full.mp4", 20, 10.0);
  const std::string bytes = test::read_file(path);
  for (double keep : {0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 0.97}) {
    const std::string cut = dir.file("cut.mp4");
    test::write_file(cut, bytes.substr(0, static_cast<size_t>(bytes.size() * keep)));
    const std::string err = error_of<InvalidInput>([&] {
      VideoReader r(cut);
      read_all(r);
    });
    std::cout << "kept " << keep << ": " << err << "\n";
    EXPECT_NE(err.find("cut.mp4"), std::string::npos) << "keep " << keep << ": " << err;
  }
  if (have_ffmpeg()) {
    const std::string tail = dir.file("tail.mp4");
    run_ffmpeg("-i '" + path + "' -c copy '" + tail + "'");  // moov at the end
    const std::string b2 = test::read_file(tail);
    test::write_file(dir.file("cut2.mp4"), b2.substr(0, b2.size() / 2));
    const std::string err = error_of<InvalidInput>([&] { probe_video(dir.file("cut2.mp4")); });
    EXPECT_NE(err.find("cut2.mp4"), std::string::npos) << err;
    std::cout << "index at the end, cut: " << err << "\n";
    EXPECT_NE(err.find("moov"), std::string::npos) << "FFmpeg's reason is quoted: " << err;
  }
}

TEST(VideoDecode, LimitsAreEnforced) {
  test::TempDir dir;
  const std::string path = make_mp4(dir, "v.mp4", 12, 10.0);
  VideoOpenOptions few;
  few.max_frames = 5;
  EXPECT_THROW(probe_video(path, few), TooLarge);
  EXPECT_THROW(VideoReader(path, few), TooLarge);
  VideoOpenOptions small;
  small.max_pixels = kW * kH - 1;
  EXPECT_THROW(open_video_source(path, small), TooLarge);
  for (int i = 0; i < 6; ++i) test::write_file(dir.file(std::to_string(i) + ".png"), encode_png(make_frame(i)));
  EXPECT_THROW(open_video_source(dir.path().string(), few), TooLarge);
  EXPECT_THROW(open_video_source(dir.path().string(), small), TooLarge);
}

}  // namespace
}  // namespace sam3::formats
