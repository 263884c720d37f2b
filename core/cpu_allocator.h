// SPDX-License-Identifier: Apache-2.0
// A caching CPU allocator for LibTorch. At full size every forward allocates
// tens of GB of large activations (21-85 MB each, attention blocks of up to
// the attention budget); glibc serves blocks over 32 MB with fresh mmaps, so
// each one is page-faulted and zeroed again: 19.6 million minor faults and
// ~30% of the CPU time of a full-size run went to the kernel. Freed blocks of
// at least 4 MiB are kept (up to a cap) and handed out again for requests of
// up to the same size; smaller ones go to malloc as before.
//
// Thread-safety: all functions may be called from any thread.
#pragma once

#include <cstdint>

namespace sam3::core {

// Makes LibTorch allocate CPU tensors through the cache, keeping at most
// `cap_bytes` of freed blocks (0 leaves LibTorch's allocator alone). The
// first call with a non-zero cap installs it; later calls only change the cap.
void install_caching_cpu_allocator(int64_t cap_bytes);

struct CpuAllocatorStats {
  int64_t cached_bytes = 0;  // freed blocks held for reuse
  int64_t hits = 0;          // large requests served from the cache
  int64_t misses = 0;        // large requests that needed a new block
};
CpuAllocatorStats cpu_allocator_stats();

}  // namespace sam3::core
