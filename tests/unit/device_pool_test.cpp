// SPDX-License-Identifier: Apache-2.0
// The device pool's dispatch and back-pressure, the per-thread intra-op
// setting, and the batched backbone (set_images == set_image per image), on a
// random-weight tiny model (needs the CLIP BPE vocabulary of shared/golden).
#include <c10/core/CPUAllocator.h>

#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <future>
#include <mutex>
#include <thread>

#include "core/cpu_allocator.h"
#include "core/device_pool.h"
#include "core/errors.h"
#include "core/image_engine.h"
#include "core/image_state.h"
#include "core/model/sam3_image.h"
#include "model_util.h"
#include "test_util.h"

namespace sam3::core {
namespace {

std::shared_ptr<const Sam3Model> tiny_model() {
  static auto m = test::tiny_detector(11);
  return m;
}

formats::Image test_image(int w, int h, int salt) {
  formats::Image img{w, h, std::vector<uint8_t>(static_cast<size_t>(w) * static_cast<size_t>(h) * 3)};
  for (size_t i = 0; i < img.rgb.size(); ++i) img.rgb[i] = static_cast<uint8_t>((i * 37 + salt * 101) % 251);
  return img;
}

// A gate that blocks jobs until opened.
struct Gate {
  std::mutex mu;
  std::condition_variable cv;
  bool open = false;
  void wait() {
    std::unique_lock<std::mutex> lk(mu);
    cv.wait(lk, [&] { return open; });
  }
  void release() {
    {
      std::lock_guard<std::mutex> lk(mu);
      open = true;
    }
    cv.notify_all();
  }
};

TEST(DevicePool, SendsWorkToTheLeastLoadedDevice) {
  SAM3_REQUIRE_BPE();
  DevicePool pool({tiny_model(), tiny_model()}, 4);
  ASSERT_EQ(pool.size(), 2u);
  Gate gate;
  std::promise<void> started;
  auto first = pool.submit([&](const ImageEngine&, size_t d) {
    started.set_value();
    gate.wait();
    return d;
  });
  started.get_future().wait();
  EXPECT_EQ(pool.load(0), 1u);
  EXPECT_EQ(pool.least_loaded(), 1u);
  auto second = pool.submit([](const ImageEngine&, size_t d) { return d; });
  EXPECT_EQ(second.get(), 1u);  // device 0 was busy
  gate.release();
  EXPECT_EQ(first.get(), 0u);
  // Both idle again: ties go to the lowest index.
  EXPECT_EQ(pool.load(0), 0u);
  EXPECT_EQ(pool.load(1), 0u);
  EXPECT_EQ(pool.least_loaded(), 0u);
}

TEST(DevicePool, AFullPoolRefusesWorkAndDroppedTicketsFreeTheirSlot) {
  SAM3_REQUIRE_BPE();
  DevicePool pool({tiny_model()}, 1);
  Gate gate;
  std::promise<void> started;
  auto running = pool.submit([&](const ImageEngine&, size_t) {
    started.set_value();
    gate.wait();
    return 1;
  });
  started.get_future().wait();
  {
    auto waiting = pool.submit([](const ImageEngine&, size_t) { return 2; });
    EXPECT_EQ(pool.load(0), 2u);
    EXPECT_THROW(pool.submit([](const ImageEngine&, size_t) { return 3; }), Overloaded);
    EXPECT_EQ(pool.load(0), 2u);  // the refused job left no trace
  }  // the waiting ticket is dropped: its job is cancelled
  EXPECT_EQ(pool.load(0), 1u);
  gate.release();
  EXPECT_EQ(running.get(), 1);
  EXPECT_EQ(pool.load(0), 0u);
}

TEST(DevicePool, RejectsAnEmptyPool) {
  EXPECT_THROW(DevicePool(std::vector<std::shared_ptr<const Sam3Model>>{}, 4), InvalidInput);
  EXPECT_THROW(DevicePool(std::vector<std::shared_ptr<const Sam3Model>>{nullptr}, 4), ModelMissing);
}

TEST(IntraopThreads, OpenMpWaitsPassivelyUnlessTheUserChose) {
  // model_loader.cpp's start-up hook re-executed this test binary with
  // OMP_WAIT_POLICY=PASSIVE unless a policy was already set.
  const char* policy = std::getenv("OMP_WAIT_POLICY");
  const char* spin = std::getenv("GOMP_SPINCOUNT");
  ASSERT_TRUE(policy != nullptr || spin != nullptr) << "the OpenMP wait policy hook did not run";
  std::cout << "OMP_WAIT_POLICY=" << (policy ? policy : "(unset)") << "\n";
}

TEST(IntraopThreads, TheSettingIsPerThread) {
  const int before = at::get_num_threads();
  int inside = 0;
  std::thread t([&] {
    set_thread_intraop_threads(1);
    inside = at::get_num_threads();
  });
  t.join();
  EXPECT_EQ(inside, 1);
  EXPECT_EQ(at::get_num_threads(), before);
  EXPECT_GE(intraop_threads(), 1);
}

TEST(CachingCpuAllocator, ReusesLargeBlocksAndServesRawAllocations) {
  c10::InferenceMode guard;
  install_caching_cpu_allocator(int64_t{256} << 20);
  const CpuAllocatorStats before = cpu_allocator_stats();
  {
    torch::Tensor a = torch::full({3, 1024, 1024}, 2.f);  // 12 MiB: cached when freed
    EXPECT_EQ(a.sum().item<float>(), 2.f * 3 * 1024 * 1024);
  }
  const CpuAllocatorStats freed = cpu_allocator_stats();
  EXPECT_GE(freed.cached_bytes, int64_t{12} << 20);
  EXPECT_EQ(freed.misses, before.misses + 1);
  {
    torch::Tensor b = torch::empty({3, 1024, 1000});  // fits the cached block
    b.fill_(1.f);
    EXPECT_EQ(b.sum().item<float>(), 3.f * 1024 * 1000);
  }
  EXPECT_EQ(cpu_allocator_stats().hits, freed.hits + 1);
  // LibTorch's raw interface (used by some kernels) needs data == context.
  c10::Allocator* alloc = c10::GetCPUAllocator();
  for (size_t n : {size_t{100}, size_t{8} << 20}) {
    void* p = alloc->raw_allocate(n);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 64, 0u);
    std::memset(p, 1, n);
    alloc->raw_deallocate(p);
  }
  // A lower cap gives the cached bytes back.
  install_caching_cpu_allocator(int64_t{1} << 20);
  EXPECT_LE(cpu_allocator_stats().cached_bytes, int64_t{1} << 20);
  install_caching_cpu_allocator(int64_t{256} << 20);
}

TEST(BatchedBackbone, SetImagesMatchesSetImagePerImage) {
  SAM3_REQUIRE_BPE();
  c10::InferenceMode guard;
  const ImageEngine engine(tiny_model());
  const formats::Image a = test_image(64, 48, 1), b = test_image(30, 50, 2), c = test_image(80, 80, 3);
  const auto batched = engine.set_images({engine.prepare_image(a), engine.prepare_image(b), engine.prepare_image(c)});
  ASSERT_EQ(batched.size(), 3u);
  const formats::Image* images[] = {&a, &b, &c};
  double worst = 0;
  for (size_t i = 0; i < 3; ++i) {
    const auto single = engine.set_image(*images[i]);
    EXPECT_EQ(batched[i]->width, images[i]->width);
    EXPECT_EQ(batched[i]->height, images[i]->height);
    ASSERT_EQ(batched[i]->features.fpn.size(), single->features.fpn.size());
    for (size_t l = 0; l < single->features.fpn.size(); ++l) {
      const auto& x = batched[i]->features.fpn[l];
      ASSERT_EQ(x.sizes(), single->features.fpn[l].sizes());
      worst = std::max(worst, (x - single->features.fpn[l]).abs().max().item<double>());
    }
    // A batched state owns its bytes (a copy, not a view of the batch).
    EXPECT_EQ(ImageEngine::state_bytes(*batched[i]), ImageEngine::state_bytes(*single));
    Prompt p;
    p.text = "a thing";
    p.confidence_threshold = 0.f;
    const auto r1 = engine.segment(*batched[i], p);
    const auto r2 = engine.segment(*single, p);
    ASSERT_EQ(r1.instances.size(), r2.instances.size());
    for (size_t k = 0; k < r1.instances.size(); ++k) EXPECT_NEAR(r1.instances[k].score, r2.instances[k].score, 1e-4);
  }
  std::cout << "batched vs single backbone max abs err: " << worst << "\n";
  EXPECT_LE(worst, 1e-4);
  EXPECT_THROW(engine.set_images({nullptr}), InvalidInput);
  EXPECT_TRUE(engine.set_images({}).empty());
}

}  // namespace
}  // namespace sam3::core
