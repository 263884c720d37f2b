// SPDX-License-Identifier: Apache-2.0
// Video input: a video file decoded in-process by FFmpeg (any container and
// codec the linked libavformat/libavcodec read; MP4 first), or a folder of
// frame images (JPEG, PNG, ...) taken in natural numeric order, or one image
// file. Every source yields 8-bit RGB frames in display order, with the
// container's rotation already applied, behind one interface (VideoSource).
// No torch here. A VideoSource is used by one thread at a time; distinct
// sources are independent (FFmpeg's decoders are reentrant).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "formats/types.h"

namespace sam3::formats {

// Decode guards and choices; plain data, filled from config / request limits.
struct VideoOpenOptions {
  int64_t max_frames = 100'000;       // more frames -> TooLarge
  uint64_t max_pixels = 100'000'000;  // width * height of one frame -> TooLarge
  double folder_fps = 30.0;           // frame rate reported for image folders
  int decode_threads = 0;             // FFmpeg decoder threads, 0 = automatic
};

// What a source holds, known before its frames are decoded.
struct VideoInfo {
  std::string path;
  std::string codec;                 // FFmpeg codec name ("h264", "mpeg4"), "images" for a folder
  std::string container;             // demuxer name ("mov,mp4,m4a,3gp,3g2,mj2"), "folder", "image"
  int64_t total_frames = 0;          // frames in the stream (container index; counted when it has none)
  double fps = 0.0;                  // average rate (frames / duration); folders: folder_fps
  bool variable_frame_rate = false;  // timestamps are not evenly spaced: use VideoFrame::timestamp_seconds
  int width = 0;                     // size of the frames as yielded, i.e. after rotation
  int height = 0;
  double duration_seconds = 0.0;
  int rotation = 0;  // clockwise degrees applied to the coded frames: 0, 90, 180, 270
};

// One decoded frame in display order.
struct VideoFrame {
  int64_t index = 0;               // 0, 1, 2, ... in the order yielded
  int64_t pts = 0;                 // presentation timestamp in the stream's time base (folders: index)
  double timestamp_seconds = 0.0;  // pts relative to the stream's start, in seconds
  Image image;                     // RGB, info().width x info().height
};

// A sequence of frames. Not thread-safe: one reader at a time.
class VideoSource {
 public:
  virtual ~VideoSource() = default;
  virtual const VideoInfo& info() const = 0;
  // Decodes the next frame into `frame`; false once every frame was yielded.
  // \throws InvalidInput when the data turns out corrupt or truncated,
  // TooLarge when more than max_frames frames arrive.
  virtual bool next(VideoFrame& frame) = 0;
};

// Reads a video file's header (and, when the container has no frame count,
// its packet index, without decoding pixels).
// \throws NotFound for a missing path; InvalidInput for an empty, unreadable,
// corrupt or non-video file (the message names the file and quotes FFmpeg);
// TooLarge past `options` limits.
VideoInfo probe_video(const std::string& path, const VideoOpenOptions& options = {});

// Sequential FFmpeg decoder of one video file. Frames are converted to RGB with
// the stream's colour matrix and range, and rotated by the display matrix.
class VideoReader final : public VideoSource {
 public:
  // Opens the file and its decoder. \throws as probe_video.
  explicit VideoReader(const std::string& path, const VideoOpenOptions& options = {});
  ~VideoReader() override;
  VideoReader(const VideoReader&) = delete;
  VideoReader& operator=(const VideoReader&) = delete;

  const VideoInfo& info() const override;
  bool next(VideoFrame& frame) override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Frames from image files: a folder's images (extensions jpg, jpeg, png, bmp,
// tif, tiff, webp, any case) in natural order, or an explicit list.
// Every frame must have the first frame's size.
class ImageSequenceReader final : public VideoSource {
 public:
  // \throws NotFound when the folder is missing; InvalidInput when it holds no
  // images; TooLarge past max_frames; as read_image_file for the first image
  // (decoded here to learn the size). The others are decoded in next().
  explicit ImageSequenceReader(const std::string& folder, const VideoOpenOptions& options = {});
  ImageSequenceReader(std::vector<std::string> files, std::string label, const VideoOpenOptions& options = {});

  const VideoInfo& info() const override { return info_; }
  bool next(VideoFrame& frame) override;
  const std::vector<std::string>& files() const { return files_; }

 private:
  void init(const std::string& label);
  std::vector<std::string> files_;
  VideoOpenOptions options_;
  VideoInfo info_;
  Image first_;
  size_t next_ = 0;
};

// A folder -> ImageSequenceReader; an image file (by extension) -> a
// one-frame ImageSequenceReader; any other file -> VideoReader.
// \throws as the constructors above.
std::unique_ptr<VideoSource> open_video_source(const std::string& path, const VideoOpenOptions& options = {});

// "Natural" order: digit runs compare by value, so 2.jpg < 10.jpg and
// 00001.jpg < 2.jpg; equal values fall back to plain string order.
bool natural_less(const std::string& a, const std::string& b);

// Image files of a folder (full paths) in natural order of their names.
// \throws NotFound when `folder` is not a directory.
std::vector<std::string> list_frame_files(const std::string& folder);

// True when the name ends in one of the frame image extensions above.
bool is_frame_image_name(const std::string& name);

namespace detail {
// Routes FFmpeg's log (process-wide, once) into a per-thread "last message"
// instead of stderr; video_encode.cpp shares it. Returns that message.
void install_ffmpeg_log_sink();
std::string last_ffmpeg_message();
}  // namespace detail

}  // namespace sam3::formats
