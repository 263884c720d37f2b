// SPDX-License-Identifier: Apache-2.0
#include "core/video/frame_store.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cerrno>
#include <cstring>
#include <algorithm>
#include <atomic>
#include <filesystem>
#include <memory>

#include <tbb/parallel_pipeline.h>
#include <tbb/task_arena.h>

#include "core/device_pool.h"
#include "core/errors.h"
#include "core/image_pipeline.h"
#include "core/model/preprocess.h"
#include "formats/video_decode.h"

namespace sam3::core {
namespace {

std::string errno_text() {
  return std::strerror(errno);
}

}  // namespace

FrameStorage frame_storage_from_string(std::string_view name) {
  if (name == "ram" || name == "ram_uint8") return FrameStorage::ram_uint8;
  if (name == "ram_fp16" || name == "ram_float16") return FrameStorage::ram_float16;
  if (name == "ram_bf16" || name == "ram_bfloat16") return FrameStorage::ram_bfloat16;
  if (name == "disk" || name == "disk_uint8") return FrameStorage::disk_uint8;
  if (name == "auto" || name == "automatic") return FrameStorage::automatic;
  throw InvalidInput("frame storage '" + std::string(name) +
                     "' is not one of ram, ram_uint8, ram_fp16, ram_bf16, disk, auto");
}

const char* frame_storage_name(FrameStorage storage) {
  switch (storage) {
    case FrameStorage::ram_uint8:
      return "ram_uint8";
    case FrameStorage::ram_float16:
      return "ram_float16";
    case FrameStorage::ram_bfloat16:
      return "ram_bfloat16";
    case FrameStorage::disk_uint8:
      return "disk_uint8";
    case FrameStorage::automatic:
      return "automatic";
  }
  return "?";
}

FrameStore::FrameStore(const FrameStoreOptions& options, int64_t expected_frames)
    : options_(options), expected_(std::max<int64_t>(0, expected_frames)) {
  if (options_.resolution <= 0)
    throw InvalidInput("frame store: resolution must be positive, got " + std::to_string(options_.resolution));
  slots_.reserve(static_cast<size_t>(std::min<int64_t>(expected_, 1 << 20)));
  // A RAM budget the announced frames cannot fit is refused before any decoding.
  const FrameStorage k = options_.storage;
  if (options_.max_ram_bytes > 0 && expected_ > 0 && k != FrameStorage::disk_uint8 && k != FrameStorage::automatic) {
    const int64_t per = frame_bytes() * (k == FrameStorage::ram_uint8 ? 1 : 2);
    if (expected_ > options_.max_ram_bytes / per)
      throw TooLarge("frame store: the video's " + std::to_string(expected_) + " frames would take " +
                     std::to_string(expected_ * per) + " bytes in memory, over the limit of " +
                     std::to_string(options_.max_ram_bytes) + " (use frame storage 'disk' or 'auto')");
  }
}

FrameStore::~FrameStore() {
  if (map_) munmap(map_, static_cast<size_t>(map_slots_ * frame_bytes()));
  if (fd_ >= 0) ::close(fd_);
}

int64_t FrameStore::frame_bytes() const {
  return int64_t{3} * options_.resolution * options_.resolution;
}

void FrameStore::open_disk_locked() {
  const std::string dir =
      options_.offload_dir.empty() ? std::filesystem::temp_directory_path().string() : options_.offload_dir;
  std::string tmpl = dir + "/sam3-frames-XXXXXX";
  fd_ = ::mkostemp(tmpl.data(), O_CLOEXEC);
  if (fd_ < 0) throw Error("frame store: cannot create an offload file in '" + dir + "': " + errno_text());
  // Unlinked at once: the data lives as long as the descriptor, and a crash
  // leaves no multi-gigabyte file behind.
  ::unlink(tmpl.c_str());
}

int64_t FrameStore::write_disk_locked(const torch::Tensor& hwc_u8) {
  if (fd_ < 0) open_disk_locked();
  const int64_t fb = frame_bytes();
  if (disk_slots_ >= capacity_slots_) {
    // Grow the (sparse) file geometrically so that readers remap rarely.
    const int64_t cap = std::max({int64_t{16}, expected_, 2 * capacity_slots_});
    if (::ftruncate(fd_, static_cast<off_t>(cap * fb)) != 0)
      throw Error("frame store: cannot grow the offload file to " + std::to_string(cap * fb) +
                  " bytes: " + errno_text());
    capacity_slots_ = cap;
  }
  const int64_t slot = disk_slots_;
  const auto* p = static_cast<const uint8_t*>(hwc_u8.data_ptr());
  int64_t done = 0;
  while (done < fb) {
    const ssize_t n = ::pwrite(fd_, p + done, static_cast<size_t>(fb - done), static_cast<off_t>(slot * fb + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0)
      throw Error("frame store: cannot write frame " + std::to_string(slots_.size()) + " to the offload file in '" +
                  (options_.offload_dir.empty() ? std::string("the temp folder") : options_.offload_dir) +
                  "': " + (n < 0 ? errno_text() : std::string("no progress")));
    done += n;
  }
  ++disk_slots_;
  return slot;
}

torch::Tensor FrameStore::read_disk(int64_t slot) const {
  const int64_t fb = frame_bytes();
  std::lock_guard<std::mutex> lk(map_mu_);
  if (slot >= map_slots_) {
    // The file grew since the last mapping: map it whole again.
    int64_t cap;
    {
      std::lock_guard<std::mutex> lk2(mu_);
      cap = capacity_slots_;
    }
    if (map_) munmap(map_, static_cast<size_t>(map_slots_ * fb));
    map_ = nullptr;
    map_slots_ = 0;
    void* m = ::mmap(nullptr, static_cast<size_t>(cap * fb), PROT_READ, MAP_SHARED, fd_, 0);
    if (m == MAP_FAILED) throw Error("frame store: cannot map the offload file: " + errno_text());
    map_ = static_cast<uint8_t*>(m);
    map_slots_ = cap;
  }
  const int R = options_.resolution;
  auto out = torch::empty({R, R, 3}, torch::kUInt8);
  std::memcpy(out.data_ptr(), map_ + slot * fb, static_cast<size_t>(fb));
  return out;
}

void FrameStore::check_next_locked(int width, int height) const {
  if (finished_) throw InvalidInput("frame store: add() after finish()");
  if (!slots_.empty() && (width != width_ || height != height_))
    throw InvalidInput("frame store: frame " + std::to_string(slots_.size()) + " is " + std::to_string(width) + "x" +
                       std::to_string(height) + ", the video's first frame is " + std::to_string(width_) + "x" +
                       std::to_string(height_));
}

torch::ScalarType FrameStore::stored_dtype() const {
  switch (options_.storage) {
    case FrameStorage::ram_float16: return torch::kFloat16;
    case FrameStorage::ram_bfloat16: return torch::kBFloat16;
    default: return torch::kUInt8;  // lossless 8-bit, in memory or on disk
  }
}

PreparedFrame FrameStore::preprocess(const formats::Image& frame, double timestamp_seconds) const {
  torch::NoGradGuard no_grad;
  const torch::Tensor x = preprocess_image(frame, options_.resolution, options_.preprocess_device)[0];
  PreparedFrame out;
  out.width = frame.width;
  out.height = frame.height;
  out.timestamp = timestamp_seconds;
  const torch::ScalarType dtype = stored_dtype();
  if (dtype != torch::kUInt8) {
    out.data = x.to(dtype).contiguous();
  } else {
    // preprocess_image's values are k/127.5 - 1 for integers k (the resize is
    // rounded to 8 bits), so k comes back exactly and fetch() can redo the
    // same float steps bit for bit.
    out.data = ((x * 0.5 + 0.5) * 255.0).round().clamp(0, 255).to(torch::kUInt8).permute({1, 2, 0}).contiguous();
  }
  return out;
}

int64_t FrameStore::add(const formats::Image& frame, double timestamp_seconds) {
  {
    // Refuse early what commit() would refuse, before the expensive part.
    std::lock_guard<std::mutex> lk(mu_);
    check_next_locked(frame.width, frame.height);
  }
  return commit(preprocess(frame, timestamp_seconds));
}

int64_t FrameStore::commit(PreparedFrame frame) {
  const int64_t fb = frame_bytes();
  const int R = options_.resolution;
  if (!frame.data.defined() || frame.data.scalar_type() != stored_dtype() || frame.data.dim() != 3 ||
      frame.data.numel() != int64_t{3} * R * R)
    throw InvalidInput(std::string("frame store: commit() expects a frame from this store's preprocess() (") +
                       frame_storage_name(options_.storage) + ", resolution " + std::to_string(R) + ")");
  torch::NoGradGuard no_grad;
  std::unique_lock<std::mutex> lk(mu_);
  check_next_locked(frame.width, frame.height);
  FrameStorage kind = options_.storage;
  if (kind == FrameStorage::automatic)
    kind = (options_.max_ram_bytes <= 0 || ram_bytes_ + fb <= options_.max_ram_bytes) ? FrameStorage::ram_uint8
                                                                                      : FrameStorage::disk_uint8;
  Slot slot;
  if (kind == FrameStorage::disk_uint8)
    slot.disk = write_disk_locked(frame.data.to(torch::kCPU).contiguous());
  else
    slot.ram = frame.data.to(options_.storage_device).contiguous();
  if (slot.ram.defined()) {
    const int64_t bytes = slot.ram.numel() * static_cast<int64_t>(slot.ram.element_size());
    if (options_.max_ram_bytes > 0 && ram_bytes_ + bytes > options_.max_ram_bytes)
      throw TooLarge("frame store: frame " + std::to_string(slots_.size()) + " would take the session's frames to " +
                     std::to_string(ram_bytes_ + bytes) + " bytes in memory, over the limit of " +
                     std::to_string(options_.max_ram_bytes) + " (use frame storage 'disk' or 'auto')");
    ram_bytes_ += bytes;
  }
  if (slots_.empty()) {
    width_ = frame.width;
    height_ = frame.height;
  }
  slots_.push_back(std::move(slot));
  timestamps_.push_back(frame.timestamp);
  const int64_t index = static_cast<int64_t>(slots_.size()) - 1;
  lk.unlock();
  cv_.notify_all();
  return index;
}

void FrameStore::finish(std::exception_ptr error) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (finished_) return;
    finished_ = true;
    error_ = error;
  }
  cv_.notify_all();
}

torch::Tensor FrameStore::fetch(int64_t i, const torch::Device& device) const {
  if (i < 0) throw InvalidInput("frame store: frame index must be >= 0, got " + std::to_string(i));
  Slot slot;
  {
    std::unique_lock<std::mutex> lk(mu_);
    cv_.wait(lk, [&] { return i < static_cast<int64_t>(slots_.size()) || finished_; });
    if (i >= static_cast<int64_t>(slots_.size())) {
      if (error_) std::rethrow_exception(error_);
      if (i < expected_)
        throw InvalidInput("frame " + std::to_string(i) + " cannot be read: the video announced " +
                           std::to_string(expected_) + " frames but only " + std::to_string(slots_.size()) +
                           " could be decoded (is the file truncated?)");
      throw NotFound("frame " + std::to_string(i) + " does not exist: the video has " + std::to_string(slots_.size()) +
                     " frames");
    }
    slot = slots_[static_cast<size_t>(i)];
  }
  torch::NoGradGuard no_grad;
  if (slot.ram.defined() && slot.ram.scalar_type() != torch::kUInt8)
    return slot.ram.to(device, torch::kFloat32).contiguous();
  // The 8-bit frame is already RxR, so preprocess_rgb_tensor only scales and
  // normalises: the very steps preprocess_image ran after its resize.
  const torch::Tensor hwc = slot.ram.defined() ? slot.ram : read_disk(slot.disk);
  return preprocess_rgb_tensor(hwc.to(device), options_.resolution)[0].contiguous();
}

int64_t FrameStore::wait_for(int64_t n) const {
  std::unique_lock<std::mutex> lk(mu_);
  cv_.wait(lk, [&] { return static_cast<int64_t>(slots_.size()) >= n || finished_; });
  return static_cast<int64_t>(slots_.size());
}

std::exception_ptr FrameStore::error() const {
  std::lock_guard<std::mutex> lk(mu_);
  return error_;
}

int64_t FrameStore::size() const {
  std::lock_guard<std::mutex> lk(mu_);
  return static_cast<int64_t>(slots_.size());
}

bool FrameStore::finished() const {
  std::lock_guard<std::mutex> lk(mu_);
  return finished_;
}

int FrameStore::orig_width() const {
  std::lock_guard<std::mutex> lk(mu_);
  return width_;
}

int FrameStore::orig_height() const {
  std::lock_guard<std::mutex> lk(mu_);
  return height_;
}

double FrameStore::timestamp(int64_t i) const {
  std::lock_guard<std::mutex> lk(mu_);
  if (i < 0 || i >= static_cast<int64_t>(timestamps_.size()))
    throw NotFound("frame " + std::to_string(i) + " does not exist: the video has " +
                   std::to_string(timestamps_.size()) + " frames");
  return timestamps_[static_cast<size_t>(i)];
}

int64_t FrameStore::ram_bytes() const {
  std::lock_guard<std::mutex> lk(mu_);
  return ram_bytes_;
}

int64_t FrameStore::disk_bytes() const {
  std::lock_guard<std::mutex> lk(mu_);
  return disk_slots_ * frame_bytes();
}

bool FrameStore::frame_on_disk(int64_t i) const {
  std::lock_guard<std::mutex> lk(mu_);
  return i >= 0 && i < static_cast<int64_t>(slots_.size()) && slots_[static_cast<size_t>(i)].disk >= 0;
}

void load_frames(formats::VideoSource& source, FrameStore& store, const std::function<bool()>& should_stop,
                 const std::function<void(int64_t, int64_t)>& on_progress, const FrameLoadOptions& options) {
  struct Item {
    formats::VideoFrame frame;
    PreparedFrame prepared;
    std::exception_ptr error;
  };
  using ItemPtr = std::shared_ptr<Item>;  // shared: frames in flight are freed however the pipeline ends
  const int64_t total = source.info().total_frames;
  // Like the image pipeline's IO threads: the cores the model leaves over.
  const int threads = options.threads > 0 ? options.threads : default_io_threads(intraop_threads());
  const size_t tokens = static_cast<size_t>(options.in_flight > 0 ? options.in_flight : 2 * threads);
  const KeepThreadIntraopThreads keep_caller_threads;

  int64_t decoded = 0;
  std::atomic<bool> failed{false};  // stops the decoder after any failure
  std::exception_ptr failure;       // the first failure in frame order (set by the store stage)
  try {
    // Decode + the preprocessing threads.
    tbb::task_arena arena(threads + 1);
    arena.execute([&] {
      tbb::parallel_pipeline(
          std::max<size_t>(2, tokens),
          tbb::make_filter<void, ItemPtr>(
              tbb::filter_mode::serial_in_order,
              [&](tbb::flow_control& fc) -> ItemPtr {
                if (failed.load() || (options.max_frames > 0 && decoded >= options.max_frames)) {
                  fc.stop();
                  return nullptr;
                }
                auto item = std::make_shared<Item>();
                try {
                  if (should_stop && should_stop())
                    throw Cancelled("loading the frames of '" + source.info().path + "' was cancelled after " +
                                    std::to_string(decoded) + " frames");
                  if (!source.next(item->frame)) {
                    fc.stop();
                    return nullptr;
                  }
                  ++decoded;
                } catch (...) {
                  // Carried to the store stage, so the frames before it are stored first.
                  item->error = std::current_exception();
                  failed = true;
                }
                return item;
              }) &
              tbb::make_filter<ItemPtr, ItemPtr>(tbb::filter_mode::parallel,
                                                 [&](ItemPtr item) {
                                                   if (item->error) return item;
                                                   // Preprocessing must not fight the model for cores.
                                                   set_thread_intraop_threads(1);
                                                   try {
                                                     c10::InferenceMode guard;
                                                     item->prepared = store.preprocess(
                                                         item->frame.image, item->frame.timestamp_seconds);
                                                   } catch (...) {
                                                     item->error = std::current_exception();
                                                   }
                                                   item->frame.image = formats::Image{};
                                                   return item;
                                                 }) &
              tbb::make_filter<ItemPtr, void>(tbb::filter_mode::serial_in_order, [&](ItemPtr item) {
                if (failure) return;  // the store keeps a gapless prefix
                try {
                  if (item->error) std::rethrow_exception(item->error);
                  c10::InferenceMode guard;
                  store.commit(std::move(item->prepared));
                  if (on_progress) on_progress(store.size(), total);
                } catch (...) {
                  failure = std::current_exception();
                  failed = true;
                }
              }));
    });
  } catch (...) {
    if (!failure) failure = std::current_exception();
  }
  store.finish(failure);
  if (failure) std::rethrow_exception(failure);
}

}  // namespace sam3::core
