// SPDX-License-Identifier: Apache-2.0
// The frames of one video session at model resolution. Each frame goes
// through the image path's preprocess_image (antialiased resize to RxR,
// rounded to 8 bits) once, when added; fetch() returns exactly what
// preprocess_image returns for that frame (bit for bit with uint8 storage),
// so video frames and images enter the model identically.
//
// Where the frames live is a policy (FrameStorage): 8-bit in memory (3*R*R
// bytes a frame, 2.9 MiB at 1008), float16 / bfloat16 in memory (twice that,
// already normalised, lossy), 8-bit in an unlinked temporary file read back
// through mmap (nothing in RAM but the page cache), or automatic: in memory
// up to a byte budget, on disk beyond it.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "core/torch.h"
#include "formats/types.h"

namespace sam3::formats {
class VideoSource;
}

namespace sam3::core {

enum class FrameStorage {
  ram_uint8,     // lossless, 3*R*R bytes a frame
  ram_float16,   // normalised values in fp16 (the reference's folder path stores these)
  ram_bfloat16,  // normalised values in bf16
  disk_uint8,    // lossless, in an unlinked temp file, memory-mapped for reading
  automatic,     // ram_uint8 while max_ram_bytes allows, then disk_uint8
};

// "ram" / "ram_uint8", "ram_fp16" / "ram_float16", "ram_bf16" / "ram_bfloat16",
// "disk" / "disk_uint8", "auto" / "automatic". \throws InvalidInput otherwise.
FrameStorage frame_storage_from_string(std::string_view name);
const char* frame_storage_name(FrameStorage storage);

struct FrameStoreOptions {
  int resolution = 1008;  // model input size R
  FrameStorage storage = FrameStorage::ram_uint8;
  int64_t max_ram_bytes = 0;                      // 0: no limit; RAM kinds over it -> TooLarge
  std::string offload_dir;                        // disk kinds; "" = the system temp folder
  torch::Device preprocess_device = torch::kCPU;  // where the resize runs
  torch::Device storage_device = torch::kCPU;     // where RAM kinds keep their tensors
};

// A frame after preprocess(), in the form the store keeps it, not yet stored.
struct PreparedFrame {
  torch::Tensor data;  // uint8 [R,R,3] (8-bit and automatic kinds) or fp16/bf16 [3,R,R]
  int width = 0, height = 0;  // the original frame's size
  double timestamp = -1.0;
};

// Thread-safety: preprocess() may run on any number of threads at once; one
// producer commits (add / commit / finish, in frame order) while any number
// of fetch() callers read, so a loader can fill the store while tracking
// reads the frames already there.
class FrameStore {
 public:
  // expected_frames (0 = unknown) sizes the disk file and the index.
  // \throws InvalidInput for a non-positive resolution; TooLarge when a RAM
  // kind with max_ram_bytes cannot hold expected_frames frames.
  explicit FrameStore(const FrameStoreOptions& options, int64_t expected_frames = 0);
  ~FrameStore();
  FrameStore(const FrameStore&) = delete;
  FrameStore& operator=(const FrameStore&) = delete;

  // Preprocesses and stores the next frame; returns its index. Equal to
  // commit(preprocess(frame, timestamp_seconds)).
  // \throws InvalidInput for a malformed image or one whose size differs from
  // the first frame's; TooLarge over max_ram_bytes (RAM kinds); sam3::Error
  // when the offload file cannot be written (disk full).
  int64_t add(const formats::Image& frame, double timestamp_seconds = -1.0);

  // The expensive, stateless half of add(): resize to RxR and quantise to the
  // storage form. Thread-safe. \throws InvalidInput for a malformed image.
  PreparedFrame preprocess(const formats::Image& frame, double timestamp_seconds = -1.0) const;
  // The ordered half: stores `frame` as the next one and wakes fetch()
  // callers; returns its index. \throws as add() (except the malformed image).
  int64_t commit(PreparedFrame frame);

  // No more frames will come. With `error`, fetch() of a missing frame
  // rethrows it (a loader that failed half-way). Idempotent.
  void finish(std::exception_ptr error = nullptr);

  // Frame i as [3, R, R] float32 in [-1, 1] on `device`: equal to
  // preprocess_image(frame_i, R)[0]. Blocks until frame i is added or the
  // store is finished, so whoever fills the store must call finish() (as
  // load_frames always does, also on failure).
  // \throws InvalidInput for i < 0; once finished without frame i: the
  // loader's error if it failed; InvalidInput when i < expected_frames() (the
  // source announced more frames than it yielded: a truncated file);
  // NotFound otherwise.
  torch::Tensor fetch(int64_t i, const torch::Device& device = torch::kCPU) const;

  // Blocks until at least n frames are stored or the store is finished;
  // returns size().
  int64_t wait_for(int64_t n) const;

  int64_t size() const;  // frames added so far
  bool finished() const;
  std::exception_ptr error() const;  // the loader's error (null while none)
  int64_t expected_frames() const { return expected_; }
  int resolution() const { return options_.resolution; }
  int orig_width() const;  // the first frame's size (0 before it)
  int orig_height() const;
  double timestamp(int64_t i) const;  // as given to add() (-1 when not given)
  int64_t ram_bytes() const;          // bytes of frame tensors held in memory
  int64_t disk_bytes() const;         // bytes written to the offload file
  bool frame_on_disk(int64_t i) const;

 private:
  struct Slot {
    torch::Tensor ram;  // uint8 [R,R,3] or fp16/bf16 [3,R,R]; undefined when on disk
    int64_t disk = -1;  // slot in the offload file
  };
  void check_next_locked(int width, int height) const;
  void open_disk_locked();
  int64_t write_disk_locked(const torch::Tensor& hwc_u8);
  torch::Tensor read_disk(int64_t slot) const;
  int64_t frame_bytes() const;
  // What preprocess() produces and commit() stores: uint8 HWC, or fp16/bf16 CHW.
  torch::ScalarType stored_dtype() const;

  FrameStoreOptions options_;
  int64_t expected_;
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::vector<Slot> slots_;
  std::vector<double> timestamps_;
  bool finished_ = false;
  std::exception_ptr error_;
  int width_ = 0, height_ = 0;
  int64_t ram_bytes_ = 0;
  // Offload file (unlinked at creation, so it vanishes with the process).
  int fd_ = -1;
  int64_t disk_slots_ = 0;
  mutable int64_t capacity_slots_ = 0;  // file size in frames
  mutable std::mutex map_mu_;
  mutable uint8_t* map_ = nullptr;
  mutable int64_t map_slots_ = 0;
};

struct FrameLoadOptions {
  int threads = 0;         // preprocessing threads (each with one intra-op thread); 0 = cores - model threads, >= 1
  int in_flight = 0;       // frames decoded but not yet stored; 0 = 2 x threads (>= 2)
  int64_t max_frames = 0;  // stop after this many frames (0 = all the source yields)
};

// Decodes the frames of `source` into `store`, then finishes the store (with
// the error, if one stops it). A oneTBB pipeline: decode (serial, in order)
// -> preprocess (parallel) -> commit (serial, in order), with a bounded
// number of frames in flight. Every frame decoded before a failure or a stop
// is stored first, so the store always holds a gapless prefix. should_stop
// is polled before each frame is decoded; on_progress(stored, total) follows
// each stored frame (total: the source's count), from a pipeline thread.
// \throws Cancelled when should_stop returns true; the source's and the
// store's errors.
void load_frames(formats::VideoSource& source, FrameStore& store, const std::function<bool()>& should_stop = {},
                 const std::function<void(int64_t, int64_t)>& on_progress = {}, const FrameLoadOptions& options = {});

}  // namespace sam3::core
