// SPDX-License-Identifier: Apache-2.0
// Video output (e.g. the overlay MP4 of a tracked video): RGB frames encoded
// in-process by FFmpeg into an MP4 (or any container FFmpeg guesses from the
// file name), H.264 through libx264 when this FFmpeg has it, MPEG-4 part 2
// otherwise. The file is written atomically: into a temporary file in the
// same folder, renamed over the target by finish(). No torch here.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "formats/types.h"

namespace sam3::formats {

struct VideoEncodeOptions {
  double fps = 30.0;           // constant output rate
  std::string codec = "auto";  // "auto" (libx264, else mpeg4), "h264" / "libx264", "mpeg4"
  int quality = 20;            // libx264 CRF (0 best .. 51); mpeg4 maps it to a q-scale of 2..31
  int threads = 0;             // encoder threads, 0 = automatic
};

// The encoder "auto" resolves to in this FFmpeg build: "libx264" or "mpeg4".
std::string default_video_encoder();

// Streams frames into a video file. Every frame must have the size of the
// first. Odd sizes are padded to even by repeating the last row / column
// (4:2:0 chroma needs even sizes). Not thread-safe; one writer per file.
class VideoWriter {
 public:
  // Creates the temporary file and sets up the encoder.
  // \throws InvalidInput for bad options (fps <= 0, unknown codec, unknown
  // container); sam3::Error when the folder is not writable.
  VideoWriter(const std::string& path, const VideoEncodeOptions& options = {});
  // Without finish(), the temporary file is removed and the target untouched.
  ~VideoWriter();
  VideoWriter(const VideoWriter&) = delete;
  VideoWriter& operator=(const VideoWriter&) = delete;

  // \throws InvalidInput for a malformed image or a size different from the
  // first frame's; sam3::Error when encoding or writing fails.
  void write(const Image& frame);
  // Flushes the encoder, writes the trailer and renames the file into place.
  // \throws InvalidInput when no frame was written; sam3::Error on I/O failure.
  void finish();
  int64_t frames_written() const;
  const std::string& encoder_name() const;  // "libx264" or "mpeg4"

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Writes all `frames` at once. \throws as VideoWriter.
void write_video(const std::string& path, const std::vector<Image>& frames, const VideoEncodeOptions& options = {});

}  // namespace sam3::formats
