// SPDX-License-Identifier: Apache-2.0
#include "core/cpu_allocator.h"

#include <c10/core/CPUAllocator.h>
#include <c10/core/impl/alloc_cpu.h>

#include <algorithm>
#include <map>
#include <vector>
#include <mutex>

#include "core/log.h"
#include "core/torch.h"

namespace sam3::core {
namespace {

constexpr size_t kMinCached = size_t{4} << 20;  // smaller blocks: malloc reuses its heap anyway
constexpr size_t kGranule = size_t{1} << 20;    // sizes rounded up to whole MiB

// Every block carries its size in a header of kHeader bytes before the data
// (which keeps LibTorch's 64-byte alignment), so that the data pointer is its
// own context: LibTorch's raw_allocate/raw_deallocate need that.
constexpr size_t kHeader = 64;

class CachingCpuAllocator;
CachingCpuAllocator* g_allocator = nullptr;  // never deleted: tensors may outlive main()

class CachingCpuAllocator final : public c10::Allocator {
public:
  c10::DataPtr allocate(size_t n) const override {
    size_t size = n < kMinCached ? n : (n + kGranule - 1) / kGranule * kGranule;
    char* base = n < kMinCached ? nullptr : take_cached(size);
    if (!base) {
      try {
        base = static_cast<char*>(c10::alloc_cpu(size + kHeader));
      } catch (const c10::Error&) {
        trim(0);  // out of memory: give the cache back and try once more
        base = static_cast<char*>(c10::alloc_cpu(size + kHeader));
      }
      *reinterpret_cast<size_t*>(base) = size;
    }
    char* p = base + kHeader;
    return {p, p, &CachingCpuAllocator::release, c10::Device(c10::DeviceType::CPU)};
  }

  c10::DeleterFnPtr raw_deleter() const override { return &CachingCpuAllocator::release; }

  void set_cap(size_t cap) {
    {
      std::lock_guard<std::mutex> lk(mu_);
      cap_ = cap;
    }
    trim(cap);
  }

  CpuAllocatorStats stats() const {
    std::lock_guard<std::mutex> lk(mu_);
    return {static_cast<int64_t>(cached_), hits_, misses_};
  }

private:
  struct Free {
    char* base;
    uint64_t seq;  // when it was freed (oldest goes first)
  };

  // Best fit among the cached blocks, wasting at most a quarter of the block.
  char* take_cached(size_t& size) const {
    std::lock_guard<std::mutex> lk(mu_);
    auto it = free_.lower_bound(size);
    if (it == free_.end() || it->first > size + size / 4) {
      ++misses_;
      return nullptr;
    }
    ++hits_;
    size = it->first;
    char* base = it->second.base;
    cached_ -= size;
    free_.erase(it);
    return base;
  }

  static void release(void* p) {
    if (!p) return;
    char* base = static_cast<char*>(p) - kHeader;
    const size_t size = *reinterpret_cast<const size_t*>(base);
    if (size < kMinCached) c10::free_cpu(base);
    else g_allocator->give_back(base, size);
  }

  void give_back(char* base, size_t size) const {
    size_t cap = 0;
    {
      std::lock_guard<std::mutex> lk(mu_);
      cap = cap_;
      if (size <= cap) {
        free_.emplace(size, Free{base, seq_++});
        cached_ += size;
        base = nullptr;
      }
    }
    if (base) c10::free_cpu(base);
    trim(cap);
  }

  // Frees the oldest cached blocks until at most `limit` bytes stay.
  void trim(size_t limit) const {
    std::vector<char*> victims;
    {
      std::lock_guard<std::mutex> lk(mu_);
      while (cached_ > limit && !free_.empty()) {
        auto oldest = free_.begin();
        for (auto it = free_.begin(); it != free_.end(); ++it)
          if (it->second.seq < oldest->second.seq) oldest = it;
        cached_ -= oldest->first;
        victims.push_back(oldest->second.base);
        free_.erase(oldest);
      }
    }
    for (char* b : victims) c10::free_cpu(b);
  }

  mutable std::mutex mu_;
  mutable std::multimap<size_t, Free> free_;
  mutable size_t cached_ = 0;
  mutable uint64_t seq_ = 0;
  mutable int64_t hits_ = 0, misses_ = 0;
  size_t cap_ = 0;
};

std::mutex g_install_mu;

}  // namespace

void install_caching_cpu_allocator(int64_t cap_bytes) {
  std::lock_guard<std::mutex> lk(g_install_mu);
  if (!g_allocator) {
    if (cap_bytes <= 0) return;
    g_allocator = new CachingCpuAllocator();
    g_allocator->set_cap(static_cast<size_t>(cap_bytes));
    // Priority above LibTorch's default allocator (0).
    c10::SetCPUAllocator(g_allocator, 1);
    SAM3_LOG_DBG("caching CPU allocator installed, cap " << (cap_bytes >> 20) << " MiB");
    return;
  }
  g_allocator->set_cap(static_cast<size_t>(std::max<int64_t>(cap_bytes, 0)));
}

CpuAllocatorStats cpu_allocator_stats() {
  std::lock_guard<std::mutex> lk(g_install_mu);
  return g_allocator ? g_allocator->stats() : CpuAllocatorStats{};
}

}  // namespace sam3::core
