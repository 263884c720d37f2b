// SPDX-License-Identifier: Apache-2.0
// Session frames at model resolution: every storage policy returns what
// preprocess_image returns (bit for bit for the 8-bit kinds), the RAM budget
// and the automatic spill to disk, blocking fetch while a loader fills the
// store, loader errors and cancellation, and loading from a video source
// through the decode -> parallel preprocess -> ordered commit pipeline.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <random>
#include <thread>
#include <vector>

#include "core/errors.h"
#include "core/model/preprocess.h"
#include "core/video/frame_store.h"
#include "formats/image_io.h"
#include "formats/video_decode.h"
#include "formats/video_encode.h"
#include "test_util.h"

namespace sam3::core {
namespace {

constexpr int kR = 32;  // model resolution for the tests

formats::Image random_image(int w, int h, uint32_t seed) {
  std::mt19937 rng(seed);
  formats::Image im;
  im.width = w;
  im.height = h;
  im.rgb.resize(static_cast<size_t>(w) * h * 3);
  for (auto& v : im.rgb) v = static_cast<uint8_t>(rng() & 0xff);
  return im;
}

torch::Tensor reference(const formats::Image& im) {
  return preprocess_image(im, kR)[0];
}

FrameStoreOptions options(FrameStorage storage) {
  FrameStoreOptions o;
  o.resolution = kR;
  o.storage = storage;
  return o;
}

TEST(FrameStore, Uint8StorageIsBitExactWithPreprocessImage) {
  torch::NoGradGuard no_grad;
  for (FrameStorage kind : {FrameStorage::ram_uint8, FrameStorage::disk_uint8}) {
    FrameStore store(options(kind), 5);
    std::vector<formats::Image> frames;
    for (int i = 0; i < 5; ++i) {
      frames.push_back(random_image(45, 29, 100 + i));
      EXPECT_EQ(store.add(frames.back(), 0.1 * i), i);
    }
    store.finish();
    EXPECT_EQ(store.size(), 5);
    EXPECT_EQ(store.orig_width(), 45);
    EXPECT_EQ(store.orig_height(), 29);
    EXPECT_DOUBLE_EQ(store.timestamp(3), 0.3);
    for (int i = 4; i >= 0; --i) {  // any order
      const torch::Tensor got = store.fetch(i);
      ASSERT_EQ(got.sizes(), (std::vector<int64_t>{3, kR, kR}));
      ASSERT_EQ(got.scalar_type(), torch::kFloat32);
      EXPECT_TRUE(torch::equal(got, reference(frames[i]))) << frame_storage_name(kind) << " frame " << i;
    }
    const int64_t bytes = int64_t{5} * 3 * kR * kR;
    if (kind == FrameStorage::ram_uint8) {
      EXPECT_EQ(store.ram_bytes(), bytes);
      EXPECT_EQ(store.disk_bytes(), 0);
      EXPECT_FALSE(store.frame_on_disk(0));
    } else {
      EXPECT_EQ(store.ram_bytes(), 0);
      EXPECT_EQ(store.disk_bytes(), bytes);
      EXPECT_TRUE(store.frame_on_disk(4));
    }
  }
}

TEST(FrameStore, FramesAlreadyAtResolutionAreExactToo) {
  torch::NoGradGuard no_grad;
  FrameStore store(options(FrameStorage::ram_uint8));
  const auto im = random_image(kR, kR, 7);
  store.add(im);
  EXPECT_TRUE(torch::equal(store.fetch(0), reference(im)));
}

TEST(FrameStore, HalfPrecisionKindsAreCloseAndSmaller) {
  torch::NoGradGuard no_grad;
  const auto im = random_image(50, 40, 3);
  for (auto [kind, tol] : {std::pair{FrameStorage::ram_float16, 1e-3}, std::pair{FrameStorage::ram_bfloat16, 8e-3}}) {
    FrameStore store(options(kind));
    store.add(im);
    const torch::Tensor got = store.fetch(0);
    EXPECT_EQ(got.scalar_type(), torch::kFloat32);
    const double err = (got - reference(im)).abs().max().item<double>();
    std::cout << frame_storage_name(kind) << ": max abs error " << err << "\n";
    EXPECT_LE(err, tol);
    EXPECT_EQ(store.ram_bytes(), int64_t{3} * kR * kR * 2);
  }
}

TEST(FrameStore, RamBudgetAndAutomaticSpill) {
  torch::NoGradGuard no_grad;
  const int64_t fb = int64_t{3} * kR * kR;
  auto o = options(FrameStorage::ram_uint8);
  o.max_ram_bytes = 2 * fb;
  FrameStore capped(o);
  capped.add(random_image(40, 40, 1));
  capped.add(random_image(40, 40, 2));
  EXPECT_THROW(capped.add(random_image(40, 40, 3)), TooLarge);
  EXPECT_EQ(capped.size(), 2);

  test::TempDir dir;
  o.storage = FrameStorage::automatic;
  o.offload_dir = dir.path().string();
  FrameStore spill(o);
  std::vector<formats::Image> frames;
  for (int i = 0; i < 5; ++i) {
    frames.push_back(random_image(40, 40, 10 + i));
    spill.add(frames.back());
  }
  spill.finish();
  EXPECT_EQ(spill.ram_bytes(), 2 * fb);
  EXPECT_EQ(spill.disk_bytes(), 3 * fb);
  EXPECT_FALSE(spill.frame_on_disk(1));
  EXPECT_TRUE(spill.frame_on_disk(2));
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(torch::equal(spill.fetch(i), reference(frames[i]))) << i;
  // The offload file is unlinked at creation: nothing is left in the folder.
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
}

TEST(FrameStore, DiskStoreGrowsPastItsFirstMapping) {
  torch::NoGradGuard no_grad;
  FrameStore store(options(FrameStorage::disk_uint8));  // unknown count: the file starts at 16 frames
  std::vector<formats::Image> frames;
  for (int i = 0; i < 40; ++i) {
    frames.push_back(random_image(20, 20, 500 + i));
    store.add(frames.back());
    if (i == 3) {
      EXPECT_TRUE(torch::equal(store.fetch(3), reference(frames[3])));  // maps 16 frames
    }
  }
  store.finish();
  EXPECT_TRUE(torch::equal(store.fetch(39), reference(frames[39])));  // remapped
  EXPECT_TRUE(torch::equal(store.fetch(17), reference(frames[17])));
}

TEST(FrameStore, FetchWaitsForTheLoaderAndSeesItsError) {
  torch::NoGradGuard no_grad;
  FrameStore store(options(FrameStorage::ram_uint8), 4);
  std::vector<formats::Image> frames;
  for (int i = 0; i < 3; ++i) frames.push_back(random_image(24, 24, 40 + i));
  std::thread loader([&] {
    for (const auto& f : frames) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      store.add(f);
    }
    store.finish(std::make_exception_ptr(InvalidInput("video 'x.mp4' is truncated")));
  });
  EXPECT_TRUE(torch::equal(store.fetch(2), reference(frames[2])));  // blocks until added
  try {
    store.fetch(3);
    ADD_FAILURE() << "frame 3 never came";
  } catch (const InvalidInput& e) {
    EXPECT_NE(std::string(e.what()).find("truncated"), std::string::npos);
  }
  loader.join();
  EXPECT_TRUE(store.finished());
}

TEST(FrameStore, IndexAndSizeErrors) {
  torch::NoGradGuard no_grad;
  FrameStore store(options(FrameStorage::ram_uint8));
  store.add(random_image(30, 20, 1));
  EXPECT_THROW(store.add(random_image(20, 30, 2)), InvalidInput);  // another size
  formats::Image broken = random_image(30, 20, 3);
  broken.rgb.resize(10);
  EXPECT_THROW(store.add(broken), InvalidInput);
  store.finish();
  EXPECT_THROW(store.fetch(-1), InvalidInput);
  EXPECT_THROW(store.fetch(1), NotFound);
  EXPECT_THROW(store.add(random_image(30, 20, 4)), InvalidInput);  // after finish
  FrameStoreOptions zero;
  zero.resolution = 0;
  EXPECT_THROW(FrameStore bad(zero), InvalidInput);
}

TEST(FrameStore, StorageNames) {
  EXPECT_EQ(frame_storage_from_string("ram"), FrameStorage::ram_uint8);
  EXPECT_EQ(frame_storage_from_string("ram_fp16"), FrameStorage::ram_float16);
  EXPECT_EQ(frame_storage_from_string("ram_bf16"), FrameStorage::ram_bfloat16);
  EXPECT_EQ(frame_storage_from_string("disk"), FrameStorage::disk_uint8);
  EXPECT_EQ(frame_storage_from_string("auto"), FrameStorage::automatic);
  for (auto k : {FrameStorage::ram_uint8, FrameStorage::ram_float16, FrameStorage::ram_bfloat16,
                 FrameStorage::disk_uint8, FrameStorage::automatic})
    EXPECT_EQ(frame_storage_from_string(frame_storage_name(k)), k);
  EXPECT_THROW(frame_storage_from_string("gpu"), InvalidInput);
}

TEST(FrameStore, LoadsAVideoSourceWithProgressAndCancellation) {
  torch::NoGradGuard no_grad;
  test::TempDir dir;
  std::vector<formats::Image> frames;
  for (int i = 0; i < 8; ++i) frames.push_back(random_image(48, 32, 900 + i));
  for (int i = 0; i < 8; ++i)
    test::write_file(dir.file(std::to_string(i + 1) + ".png"), formats::encode_png(frames[i]));

  auto src = formats::open_video_source(dir.path().string());
  FrameStore store(options(FrameStorage::ram_uint8), src->info().total_frames);
  std::vector<int64_t> progress;
  load_frames(*src, store, {}, [&](int64_t done, int64_t total) {
    EXPECT_EQ(total, 8);
    progress.push_back(done);
  });
  EXPECT_TRUE(store.finished());
  ASSERT_EQ(store.size(), 8);
  EXPECT_EQ(progress.back(), 8);
  for (int i = 0; i < 8; ++i) EXPECT_TRUE(torch::equal(store.fetch(i), reference(frames[i]))) << i;  // PNG: lossless
  EXPECT_NEAR(store.timestamp(7), 7 / 30.0, 1e-9);

  auto src2 = formats::open_video_source(dir.path().string());
  FrameStore cancelled(options(FrameStorage::ram_uint8));
  int calls = 0;
  EXPECT_THROW(load_frames(*src2, cancelled, [&] { return ++calls > 3; }), Cancelled);
  EXPECT_TRUE(cancelled.finished());
  EXPECT_EQ(cancelled.size(), 3);
  EXPECT_THROW(cancelled.fetch(3), Cancelled);  // the loader's error, not a bare NotFound
}

TEST(FrameStore, LoadsAnMp4) {
  torch::NoGradGuard no_grad;
  test::TempDir dir;
  std::vector<formats::Image> frames;
  for (int i = 0; i < 10; ++i) frames.push_back(random_image(64, 48, 70 + i));
  formats::write_video(dir.file("v.mp4"), frames);
  formats::VideoReader reader(dir.file("v.mp4"));
  FrameStore store(options(FrameStorage::disk_uint8), reader.info().total_frames);
  load_frames(reader, store);
  EXPECT_EQ(store.size(), 10);
  EXPECT_EQ(store.orig_width(), 64);
  EXPECT_NEAR(store.timestamp(9), 9 / 30.0, 1e-6);
  // Decoded frames go through the very same preprocessing as images.
  formats::VideoReader again(dir.file("v.mp4"));
  formats::VideoFrame f;
  for (int i = 0; i < 10 && again.next(f); ++i) EXPECT_TRUE(torch::equal(store.fetch(i), reference(f.image))) << i;
}

TEST(FrameStore, PreprocessThenCommitEqualsAddForEveryKind) {
  torch::NoGradGuard no_grad;
  test::TempDir dir;
  for (FrameStorage kind : {FrameStorage::ram_uint8, FrameStorage::ram_float16, FrameStorage::ram_bfloat16,
                            FrameStorage::disk_uint8, FrameStorage::automatic}) {
    auto o = options(kind);
    o.offload_dir = dir.path().string();
    FrameStore one(o), two(o);
    std::vector<PreparedFrame> prepared(4);
    std::vector<formats::Image> frames;
    for (int i = 0; i < 4; ++i) frames.push_back(random_image(37, 23, 300 + i));
    // preprocess() on several threads at once, commit() in order.
    std::vector<std::thread> workers;
    for (int i = 0; i < 4; ++i)
      workers.emplace_back([&, i] { prepared[static_cast<size_t>(i)] = two.preprocess(frames[static_cast<size_t>(i)], i); });
    for (auto& w : workers) w.join();
    for (int i = 0; i < 4; ++i) {
      EXPECT_EQ(one.add(frames[static_cast<size_t>(i)], i), i);
      EXPECT_EQ(two.commit(std::move(prepared[static_cast<size_t>(i)])), i);
    }
    for (int i = 0; i < 4; ++i) {
      EXPECT_TRUE(torch::equal(one.fetch(i), two.fetch(i))) << frame_storage_name(kind) << " frame " << i;
      EXPECT_DOUBLE_EQ(two.timestamp(i), i);
    }
    EXPECT_EQ(one.ram_bytes(), two.ram_bytes());
    // A frame prepared by a store of another kind or size is refused.
    auto other = options(kind == FrameStorage::ram_float16 ? FrameStorage::ram_uint8 : FrameStorage::ram_float16);
    EXPECT_THROW(two.commit(FrameStore(other).preprocess(frames[0])), InvalidInput);
    // The size check applies to commit() too.
    EXPECT_THROW(two.commit(two.preprocess(random_image(23, 37, 1))), InvalidInput);
  }
}

TEST(FrameStore, MissingAnnouncedFramesAreAClearInvalidInput) {
  torch::NoGradGuard no_grad;
  FrameStore store(options(FrameStorage::ram_uint8), 6);  // the container said 6
  store.add(random_image(30, 20, 1));
  store.add(random_image(30, 20, 2));
  EXPECT_EQ(store.wait_for(2), 2);
  std::thread loader([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    store.finish();  // ...but the decoder stopped after 2, without an error
  });
  EXPECT_EQ(store.wait_for(3), 2);  // returns once the store is finished
  loader.join();
  EXPECT_EQ(store.error(), nullptr);
  try {
    store.fetch(4);
    ADD_FAILURE() << "frame 4 was never decoded";
  } catch (const InvalidInput& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("frame 4"), std::string::npos) << what;
    EXPECT_NE(what.find("announced 6"), std::string::npos) << what;
    EXPECT_NE(what.find("only 2"), std::string::npos) << what;
  }
  EXPECT_THROW(store.fetch(6), NotFound);  // past the announced count: plain out of range
}

TEST(FrameStore, RamBudgetTooSmallForTheAnnouncedFramesIsRefusedUpFront) {
  auto o = options(FrameStorage::ram_uint8);
  o.max_ram_bytes = int64_t{10} * 3 * kR * kR;
  EXPECT_NO_THROW(FrameStore fits(o, 10));
  EXPECT_THROW(FrameStore over(o, 11), TooLarge);
  o.storage = FrameStorage::ram_float16;  // twice the bytes a frame
  EXPECT_THROW(FrameStore half(o, 6), TooLarge);
  o.storage = FrameStorage::automatic;  // spills instead
  EXPECT_NO_THROW(FrameStore spill(o, 100));
}

TEST(FrameStore, PipelineLoaderKeepsOrderBitExactnessAndAGaplessPrefix) {
  torch::NoGradGuard no_grad;
  test::TempDir dir;
  std::vector<formats::Image> frames;
  for (int i = 0; i < 12; ++i) frames.push_back(random_image(41, 27, 800 + i));
  const auto good = dir.path() / "good";
  const auto bad = dir.path() / "bad";
  std::filesystem::create_directories(good);
  std::filesystem::create_directories(bad);
  for (int i = 0; i < 12; ++i) {
    test::write_file((good / (std::to_string(i) + ".png")).string(), formats::encode_png(frames[i]));
    test::write_file((bad / (std::to_string(i) + ".png")).string(),
                     i == 7 ? std::string("broken") : formats::encode_png(frames[i]));
  }
  for (int threads : {1, 3}) {
    FrameLoadOptions lo;
    lo.threads = threads;
    lo.in_flight = 4;
    auto src = formats::open_video_source(good.string());
    FrameStore store(options(FrameStorage::ram_uint8), src->info().total_frames);
    std::atomic<int64_t> last{0};
    load_frames(
        *src, store, {},
        [&](int64_t done, int64_t total) {
          EXPECT_EQ(done, last.load() + 1);  // one call per stored frame, in order
          EXPECT_EQ(total, 12);
          last = done;
        },
        lo);
    ASSERT_EQ(store.size(), 12);
    for (int i = 0; i < 12; ++i) EXPECT_TRUE(torch::equal(store.fetch(i), reference(frames[i]))) << i;

    // A failure at frame 7: frames 0..6 are all stored, then the error.
    auto src2 = formats::open_video_source(bad.string());
    FrameStore broken(options(FrameStorage::ram_uint8), 12);
    EXPECT_THROW(load_frames(*src2, broken, {}, {}, lo), InvalidInput);
    EXPECT_TRUE(broken.finished());
    EXPECT_EQ(broken.size(), 7);
    EXPECT_TRUE(torch::equal(broken.fetch(6), reference(frames[6])));
    EXPECT_THROW(broken.fetch(7), InvalidInput);

    // max_frames stops the decoder early, without an error.
    auto src3 = formats::open_video_source(good.string());
    FrameStore capped(options(FrameStorage::ram_uint8));
    lo.max_frames = 5;
    load_frames(*src3, capped, {}, {}, lo);
    EXPECT_EQ(capped.size(), 5);
    EXPECT_EQ(capped.error(), nullptr);
  }
}

}  // namespace
}  // namespace sam3::core
