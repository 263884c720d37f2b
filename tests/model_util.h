// SPDX-License-Identifier: Apache-2.0
// Random-weight tiny models shared by the tests (they need the CLIP BPE
// vocabulary of shared/golden: call SAM3_REQUIRE_BPE first), and what the
// video tests collect from them.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/image_engine.h"
#include "core/video/video_session.h"

namespace sam3::test {

// A tiny detector without a tracker, built in memory from `seed`.
std::shared_ptr<const core::Sam3Model> tiny_detector(uint64_t seed);

// Writes a tiny detector + tracker folder (`sam3 model init --preset tiny`,
// seed 3) into `dir`, with two biases shifted so that random weights give
// objects: the tracker's object score (clicks stay visible) and the
// detector's presence (detections pass the threshold). Returns `dir`.
std::string write_tiny_tracking_model(const std::string& dir);

// That model, loaded once per process with one intra-op thread.
std::shared_ptr<const core::Sam3Model> tiny_tracking_model();

// The frames a propagation emitted: their order, and each frame's objects.
struct CollectedFrames {
  std::vector<int64_t> order;
  std::map<int64_t, formats::SegmentResult> frames;
  core::VideoFrameCallback callback() {
    return [this](int64_t t, const formats::SegmentResult& r) {
      order.push_back(t);
      frames[t] = r;
    };
  }
};

}  // namespace sam3::test
