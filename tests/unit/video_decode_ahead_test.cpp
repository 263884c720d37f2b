// SPDX-License-Identifier: Apache-2.0
// Decode ahead: VideoSession::open returns once frame 0 is stored while a
// background pipeline (decode -> parallel preprocess -> ordered store) fills
// the rest; tracking reads frames as they arrive. Checks that results equal
// a fully decoded session, that truncated / corrupt videos give typed errors
// instead of hangs, that closing a session mid-load is prompt, and the
// frames_loaded counter. Also prints open / first-frame timings.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <iostream>
#include <map>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>

#include "core/errors.h"
#include "core/image_state.h"
#include "core/model_init.h"
#include "core/video/orchestrator.h"
#include "core/video/session_manager.h"
#include "core/video/video_session.h"
#include "formats/image_io.h"
#include "formats/video_decode.h"
#include "formats/video_encode.h"
#include "tests/model_util.h"
#include "tests/test_util.h"

namespace sam3::core {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Biases shifted so that random weights give objects (clicks visible,
// detections above threshold): the compared outputs are not trivially empty.
std::shared_ptr<const Sam3Model> tiny_model() { return test::tiny_tracking_model(); }

// Holds the loader (through its should_stop hook) at a chosen frame until
// released, so "open returned before the last frame" is a certainty.
class Gate {
 public:
  explicit Gate(int64_t hold_at) : hold_at_(hold_at) {}
  // As should_stop: blocks on the hold_at-th poll (0-based) until release().
  bool poll() {
    std::unique_lock<std::mutex> lk(mu_);
    if (polls_++ == hold_at_) {
      held_ = true;
      cv_.notify_all();
      cv_.wait(lk, [&] { return released_; });
    }
    return false;
  }
  void wait_held() {
    std::unique_lock<std::mutex> lk(mu_);
    cv_.wait(lk, [&] { return held_; });
  }
  void release() {
    std::lock_guard<std::mutex> lk(mu_);
    released_ = true;
    cv_.notify_all();
  }

 private:
  int64_t hold_at_;
  int64_t polls_ = 0;
  bool held_ = false, released_ = false;
  std::mutex mu_;
  std::condition_variable cv_;
};

using Collected = test::CollectedFrames;

std::vector<formats::Image> decode_all(const std::string& path) {
  formats::VideoReader r(path);
  std::vector<formats::Image> out;
  formats::VideoFrame f;
  while (r.next(f)) out.push_back(f.image);
  return out;
}

void expect_same_outputs(const Collected& a, const Collected& b) {
  EXPECT_EQ(a.order, b.order);
  for (const auto& [t, fa] : a.frames) {
    auto it = b.frames.find(t);
    ASSERT_NE(it, b.frames.end()) << "frame " << t;
    const auto& fb = it->second;
    ASSERT_EQ(fa.instances.size(), fb.instances.size()) << "frame " << t;
    for (size_t i = 0; i < fa.instances.size(); ++i) {
      EXPECT_EQ(fa.instances[i].obj_id, fb.instances[i].obj_id) << "frame " << t;
      EXPECT_EQ(fa.instances[i].score, fb.instances[i].score) << "frame " << t;
      EXPECT_EQ(fa.instances[i].box_xyxy, fb.instances[i].box_xyxy) << "frame " << t;
      EXPECT_TRUE(fa.instances[i].mask.data == fb.instances[i].mask.data) << "frame " << t;
    }
  }
}

template <class E, class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "unexpected exception type: " << e.what();
    return "";
  }
  ADD_FAILURE() << "no exception";
  return "";
}

VideoPrompt click(float x, float y) {
  VideoPrompt p;
  p.points.push_back({x, y, true});
  return p;
}

class VideoDecodeAheadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (test::golden_bpe_path().empty()) GTEST_SKIP() << "CLIP BPE vocabulary (shared/golden) absent";
  }
};

// Time of open() and of the first propagated frame on a 60-frame 640x480 MP4.
TEST_F(VideoDecodeAheadTest, OpenAndFirstFrameTimings) {
  test::TempDir dir;
  const std::string mp4 = dir.file("v60.mp4");
  formats::write_video(mp4, test::moving_squares(60, 640, 480));
  auto model = tiny_model();
  for (int rep = 0; rep < 1; ++rep) {
    const auto t0 = Clock::now();
    auto s = VideoSession::open(model, mp4);
    const double open_s = seconds_since(t0);
    s->add_prompt(0, click(0.1f, 0.2f), 1);
    double first_s = -1;
    s->propagate(PropagateDirection::forward, std::nullopt, std::nullopt, [&](int64_t, const formats::SegmentResult&) {
      if (first_s < 0) first_s = seconds_since(t0);
    });
    const double all_s = seconds_since(t0);
    std::cout << "[ measured ] open " << open_s << " s, first propagated frame " << first_s << " s, all 60 frames "
              << all_s << " s\n";
    EXPECT_EQ(s->info().total_frames, 60);
  }
}


TEST_F(VideoDecodeAheadTest, OpenReturnsEarlyAndTracksAsAFullyDecodedSession) {
  test::TempDir dir;
  const std::string mp4 = dir.file("v.mp4");
  formats::VideoEncodeOptions eo;
  eo.fps = 10;
  formats::write_video(mp4, test::moving_squares(12), eo);
  const auto decoded = decode_all(mp4);
  ASSERT_EQ(decoded.size(), 12u);

  Gate gate(3);  // the loader waits before decoding frame 3
  std::vector<int64_t> progress;
  std::mutex progress_mu;
  auto s = VideoSession::open(
      tiny_model(), mp4, {}, [&] { return gate.poll(); },
      [&](int64_t done, int64_t total) {
        std::lock_guard<std::mutex> lk(progress_mu);
        EXPECT_EQ(total, 12);
        progress.push_back(done);
      });
  gate.wait_held();
  EXPECT_EQ(s->info().total_frames, 12);  // the container's count, known before decoding
  EXPECT_EQ(s->status().total_frames, 12);
  EXPECT_EQ(s->info().width, 96);
  EXPECT_DOUBLE_EQ(s->info().duration_seconds, 1.2);
  // The gate holds the loader before frame 3: frames 0..2 arrive, no more.
  for (const auto t0 = Clock::now(); s->status().frames_loaded < 3 && seconds_since(t0) < 10;)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(s->status().frames_loaded, 3) << "open returned before the last frame was decoded";

  // Propagation catches up with the loader and waits for frames 3.. to arrive.
  s->add_prompt(0, click(0.2f, 0.25f), 1);
  s->add_prompt(0, click(0.8f, 0.65f), 2);
  std::thread releaser([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    gate.release();
  });
  Collected ahead;
  EXPECT_EQ(s->propagate(PropagateDirection::forward, std::nullopt, std::nullopt, ahead.callback()), 12);
  releaser.join();
  EXPECT_EQ(s->status().frames_loaded, 12);
  {
    std::lock_guard<std::mutex> lk(progress_mu);
    ASSERT_EQ(progress.size(), 12u);
    for (size_t i = 0; i < progress.size(); ++i) EXPECT_EQ(progress[i], static_cast<int64_t>(i) + 1);
  }

  // The same frames decoded up front give the very same outputs.
  auto full = VideoSession::from_frames(tiny_model(), decoded, 10.0);
  full->add_prompt(0, click(0.2f, 0.25f), 1);
  full->add_prompt(0, click(0.8f, 0.65f), 2);
  Collected ref;
  full->propagate(PropagateDirection::forward, std::nullopt, std::nullopt, ref.callback());
  size_t objects = 0;
  for (const auto& [t, f] : ref.frames) objects += f.instances.size();
  std::cout << "[ measured ] " << objects << " object-frames compared\n";
  EXPECT_GT(objects, 0u);
  expect_same_outputs(ahead, ref);

  // Text prompts (detector + tracker loop) too.
  VideoSessionOptions so;
  so.track.hotstart_delay = 2;
  auto s2 = VideoSession::open(tiny_model(), mp4, so);
  auto f2 = VideoSession::from_frames(tiny_model(), decoded, 10.0, so);
  VideoPrompt text;
  text.text = "square";
  s2->add_prompt(0, text);
  f2->add_prompt(0, text);
  Collected a2, r2;
  s2->propagate(PropagateDirection::both, 4, std::nullopt, a2.callback());
  f2->propagate(PropagateDirection::both, 4, std::nullopt, r2.callback());
  expect_same_outputs(a2, r2);
}

TEST_F(VideoDecodeAheadTest, FramesLoadedGrowsToTotalWithoutTracking) {
  test::TempDir dir;
  const std::string mp4 = dir.file("v.mp4");
  formats::write_video(mp4, test::moving_squares(20));
  auto s = VideoSession::open(tiny_model(), mp4);
  EXPECT_GE(s->status().frames_loaded, 1);
  const auto t0 = Clock::now();
  int64_t last = 0;
  while (s->status().frames_loaded < 20 && seconds_since(t0) < 30) {
    const int64_t now = s->status().frames_loaded;
    EXPECT_GE(now, last);  // never shrinks
    last = now;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(s->status().frames_loaded, 20);
  EXPECT_EQ(s->status().total_frames, 20);
  EXPECT_GT(s->status().memory_bytes, 20 * 3 * 252 * 252 - 1);  // the frames' bytes are counted as they arrive
}

TEST_F(VideoDecodeAheadTest, TruncatedVideoFailsAtPropagateWithATypedError) {
  test::TempDir dir;
  const std::string mp4 = dir.file("full.mp4");
  formats::write_video(mp4, test::moving_squares(40));
  const std::string bytes = test::read_file(mp4);
  const std::string cut = dir.file("cut.mp4");
  // The first frames are the big ones: keep most of the file so that frame 0
  // (and the decoder's look-ahead) is intact.
  test::write_file(cut, bytes.substr(0, bytes.size() * 4 / 5));
  std::unique_ptr<VideoSession> s;
  ASSERT_NO_THROW(s = VideoSession::open(tiny_model(), cut)) << "frame 0 is intact";
  EXPECT_EQ(s->info().total_frames, 40);  // as announced by the (intact) index
  s->add_prompt(0, click(0.2f, 0.25f), 1);
  const auto t0 = Clock::now();
  Collected c;
  const std::string err = error_of<InvalidInput>(
      [&] { s->propagate(PropagateDirection::forward, std::nullopt, std::nullopt, c.callback()); });
  std::cout << "[ measured ] truncated: " << err << " (after " << c.order.size() << " frames, "
            << s->status().frames_loaded << " loaded)\n";
  EXPECT_LT(seconds_since(t0), 30.0);
  EXPECT_NE(err.find("cut.mp4"), std::string::npos) << err;
  EXPECT_LT(s->status().frames_loaded, 40);
  EXPECT_EQ(static_cast<int64_t>(c.order.size()), s->status().frames_loaded);  // every decoded frame was tracked
  EXPECT_FALSE(s->status().busy);
  // The session stays usable on the frames it has; the error repeats past them.
  EXPECT_NO_THROW(s->add_prompt(1, click(0.5f, 0.5f), 2));
  EXPECT_THROW(s->add_prompt(39, click(0.5f, 0.5f), 3), InvalidInput);
}

TEST_F(VideoDecodeAheadTest, CorruptOrMismatchedFrameInAFolderSurfacesTyped) {
  test::TempDir dir;
  const auto frames = test::moving_squares(8);
  const auto bad_dir = dir.path() / "corrupt";
  const auto size_dir = dir.path() / "sizes";
  std::filesystem::create_directories(bad_dir);
  std::filesystem::create_directories(size_dir);
  for (int i = 0; i < 8; ++i) {
    test::write_file((bad_dir / (std::to_string(i) + ".png")).string(),
                     i == 5 ? std::string("not a png") : formats::encode_png(frames[i]));
    test::write_file((size_dir / (std::to_string(i) + ".png")).string(),
                     formats::encode_png(i == 6 ? test::moving_squares(1, 64, 48)[0] : frames[i]));
  }
  auto s = VideoSession::open(tiny_model(), bad_dir.string());
  s->add_prompt(0, click(0.2f, 0.25f), 1);
  Collected c;
  const std::string err = error_of<InvalidInput>(
      [&] { s->propagate(PropagateDirection::forward, std::nullopt, std::nullopt, c.callback()); });
  EXPECT_NE(err.find("5.png"), std::string::npos) << err;
  EXPECT_EQ(c.order, (std::vector<int64_t>{0, 1, 2, 3, 4}));  // the frames before it are all there

  auto s2 = VideoSession::open(tiny_model(), size_dir.string());
  s2->add_prompt(0, click(0.2f, 0.25f), 1);
  Collected c2;
  const std::string err2 = error_of<InvalidInput>(
      [&] { s2->propagate(PropagateDirection::forward, std::nullopt, std::nullopt, c2.callback()); });
  std::cout << "[ measured ] size mismatch: " << err2 << "\n";
  EXPECT_EQ(c2.order.size(), 6u);
  EXPECT_NE(err2.find("64x48"), std::string::npos) << err2;

  // Errors on frame 0 (or before) still fail open itself, typed as before.
  EXPECT_THROW(VideoSession::open(tiny_model(), dir.file("missing.mp4")), NotFound);
  test::write_file(dir.file("junk.mp4"), std::string(4096, 'x'));
  EXPECT_THROW(VideoSession::open(tiny_model(), dir.file("junk.mp4")), InvalidInput);
  int polls = 0;
  EXPECT_THROW(VideoSession::open(tiny_model(), size_dir.string(), {}, [&] { return ++polls > 0; }), Cancelled);
}

TEST_F(VideoDecodeAheadTest, ShouldStopAfterOpenSurfacesAsCancelled) {
  test::TempDir dir;
  const std::string mp4 = dir.file("v.mp4");
  formats::write_video(mp4, test::moving_squares(10));
  std::atomic<int> polls{0};
  auto s = VideoSession::open(tiny_model(), mp4, {}, [&] { return ++polls > 4; });
  s->add_prompt(0, click(0.2f, 0.25f), 1);
  Collected c;
  EXPECT_THROW(s->propagate(PropagateDirection::forward, std::nullopt, std::nullopt, c.callback()), Cancelled);
  EXPECT_EQ(c.order.size(), 4u);
  EXPECT_EQ(s->status().frames_loaded, 4);
}

TEST_F(VideoDecodeAheadTest, DestroyingASessionMidLoadStopsTheLoaderPromptly) {
  test::TempDir dir;
  const std::string mp4 = dir.file("v.mp4");
  formats::write_video(mp4, test::moving_squares(100));
  auto model = tiny_model();
  const long uses = model.use_count();
  // 100 frames at >= 20 ms each: a full load takes over 2 s.
  std::atomic<int> polls{0};
  std::atomic<int64_t> stored{0};
  auto s = VideoSession::open(
      model, mp4, {},
      [&] {
        ++polls;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        return false;
      },
      [&](int64_t done, int64_t) { stored = done; });
  EXPECT_EQ(model.use_count(), uses + 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const auto t0 = Clock::now();
  s.reset();
  const double close_s = seconds_since(t0);
  std::cout << "[ measured ] destroyed mid-load in " << close_s << " s after " << stored.load() << " of 100 frames\n";
  EXPECT_LT(close_s, 1.0);
  EXPECT_LT(stored.load(), 100);
  EXPECT_EQ(model.use_count(), uses) << "the session let go of the model";
  // The loader is gone: no callback runs after destruction.
  const int after = polls.load();
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(polls.load(), after);

  // A session closed through the manager while loading is stopped as well,
  // and open through the manager returns at once and counts against the cap.
  SessionOptions limits;
  limits.max_concurrent_sessions = 1;
  SessionManager m({model}, limits);
  const auto t1 = Clock::now();
  const std::string id = m.open(mp4);
  EXPECT_EQ(m.get(id)->info().total_frames, 100);
  EXPECT_THROW(m.open(mp4), Overloaded);
  EXPECT_GT(m.close(id), 0);
  EXPECT_LT(seconds_since(t1), 20.0);
  EXPECT_EQ(m.size(), 0u);
  EXPECT_NO_THROW(m.close(m.open(mp4)));  // the slot is free again
}

}  // namespace
}  // namespace sam3::core
