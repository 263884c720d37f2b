// SPDX-License-Identifier: Apache-2.0
// VideoSession / Orchestrator / SessionManager on a random-weight tiny model
// and short synthetic videos made here (moving squares): prompt, remove,
// reset and propagate semantics, stable ids, backward == reversed forward.
#include <algorithm>
#include <array>
#include <filesystem>
#include <map>
#include <set>

#include <gtest/gtest.h>

#include "core/errors.h"
#include "core/image_state.h"
#include "core/model_init.h"
#include "core/video/orchestrator.h"
#include "core/video/session_manager.h"
#include "core/video/video_session.h"
#include "formats/atomic_file.h"
#include "formats/image_io.h"
#include "tests/model_util.h"
#include "tests/test_util.h"

namespace sam3::core {
namespace {

// A tiny detector + tracker with random weights. Biases are shifted as the
// golden tracker case does (objects present) and so that the detector's
// presence is high, which makes random queries pass the 0.5 threshold.
std::shared_ptr<const Sam3Model> tiny_model() {
  static std::shared_ptr<const Sam3Model> model = [] {
    auto m = test::tiny_tracking_model();
    c10::InferenceMode guard;
    // Scores ~ |b|^2 + small query-dependent terms: most queries pass the
    // threshold, so that several objects are born, matched and suppressed.
    auto& sc = *m->net().dot_prod_scoring;
    sc.prompt_proj->weight.zero_();
    sc.hs_proj->weight.mul_(0.05);
    sc.hs_proj->bias.copy_(sc.prompt_proj->bias * 4.0);
    return m;
  }();
  return model;
}

using Collected = test::CollectedFrames;

std::set<int64_t> ids_of(const formats::SegmentResult& r) {
  std::set<int64_t> s;
  for (const auto& i : r.instances) s.insert(i.obj_id.value_or(-1));
  return s;
}

VideoPrompt click(float x, float y) {
  VideoPrompt p;
  p.points.push_back({x, y, true});
  return p;
}

VideoPrompt text(const std::string& t) {
  VideoPrompt p;
  p.text = t;
  return p;
}

TEST(VideoSessionPure, DirectionParsing) {
  EXPECT_EQ(propagate_direction_from_string("forward"), PropagateDirection::forward);
  EXPECT_EQ(propagate_direction_from_string("backward"), PropagateDirection::backward);
  EXPECT_EQ(propagate_direction_from_string("both"), PropagateDirection::both);
  EXPECT_THROW(propagate_direction_from_string("sideways"), InvalidInput);
}

TEST(VideoSessionPure, DefaultsFollowTheReference) {
  TrackOptions o;
  EXPECT_FLOAT_EQ(o.score_threshold_detection, 0.5f);
  EXPECT_FLOAT_EQ(o.new_det_thresh, 0.7f);
  EXPECT_FLOAT_EQ(o.trk_assoc_iou_thresh, 0.5f);
  EXPECT_EQ(o.hotstart_delay, 15);
  EXPECT_EQ(o.hotstart_unmatch_thresh, 8);
  EXPECT_EQ(o.recondition_every_nth_frame, 16);
  EXPECT_EQ(o.fill_hole_area, 16);
  const TrackOptions a = TrackOptions::without_temporal_disambiguation();
  EXPECT_EQ(a.hotstart_delay, 0);
  EXPECT_EQ(a.recondition_every_nth_frame, 0);
}

TEST(VideoSessionPure, MaskNmsKeepsTheBestOfOverlappingDetections) {
  c10::InferenceMode guard;
  auto masks = torch::full({3, 8, 8}, -1.0f);
  masks[0].slice(0, 0, 4).slice(1, 0, 4).fill_(1.0f);  // A
  masks[1].slice(0, 0, 4).slice(1, 0, 5).fill_(1.0f);  // overlaps A (IoU 0.8)
  masks[2].slice(0, 5, 8).slice(1, 5, 8).fill_(1.0f);  // apart
  auto logits = torch::tensor({1.0f, 2.0f, 0.5f});     // p = 0.73, 0.88, 0.62
  VideoDetections d = select_video_detections(logits, {}, masks, 0.5f, 0.1f, true);
  ASSERT_EQ(d.scores.size(0), 2);  // query order: 1 then 2; 0 suppressed by 1
  EXPECT_NEAR(d.scores[0].item<float>(), 1.0f / (1.0f + std::exp(-2.0f)), 1e-6);
  EXPECT_TRUE(torch::equal(d.mask_logits[1], masks[2]));
  EXPECT_EQ(select_video_detections(logits, {}, masks, 0.5f, 0.1f, false).scores.size(0), 0);
}

TEST(VideoSessionPure, FillHolesFillsSmallHolesAndRemovesSprinkles) {
  c10::InferenceMode guard;
  auto x = torch::full({1, 12, 12}, -1.0f);
  x[0].slice(0, 1, 9).slice(1, 1, 9).fill_(1.0f);  // 64-pixel square
  x[0][4][4] = -1.0f;                              // 1-pixel hole
  x[0][11][11] = 1.0f;                             // 1-pixel sprinkle
  auto y = fill_holes_in_mask_scores(x, 16);
  EXPECT_GT(y[0][4][4].item<float>(), 0.f);
  EXPECT_LE(y[0][11][11].item<float>(), 0.f);
  EXPECT_GT(y[0][2][2].item<float>(), 0.f);
  EXPECT_LE(y[0][10][0].item<float>(), 0.f);
}

// Logit maps [n, 16, 16]: +1 inside rectangles (y0, y1, x0, x1), -1 elsewhere.
torch::Tensor rects(const std::vector<std::array<int, 4>>& r) {
  auto m = torch::full({static_cast<int64_t>(r.size()), 16, 16}, -1.0f);
  for (size_t i = 0; i < r.size(); ++i)
    m[static_cast<int64_t>(i)].slice(0, r[i][0], r[i][1]).slice(1, r[i][2], r[i][3]).fill_(1.0f);
  return m;
}

TEST(VideoSessionPure, AssociationFollowsTheReferenceThresholds) {
  c10::InferenceMode guard;
  TrackOptions o;
  // Without tracks every kept detection is new, even below new_det_thresh.
  auto first =
      associate_detections(rects({{0, 4, 0, 4}, {8, 12, 8, 12}}), {0.55f, 0.9f}, torch::empty({0, 16, 16}), {}, o);
  EXPECT_EQ(first.new_dets, (std::vector<int64_t>{0, 1}));
  // Tracks 10 (square at 0..8) and 11 (empty).
  auto trk = rects({{0, 8, 0, 8}, {0, 0, 0, 0}});
  auto as = associate_detections(rects({{0, 8, 0, 8},      // same as track 10: matched, high-conf
                                        {0, 8, 4, 12},     // IoU 1/3 with 10: counted, not "matched"
                                        {12, 16, 12, 16},  // apart, 0.75: new
                                        {12, 16, 0, 4}}),  // apart, 0.65 < 0.7: not new
                                 {0.9f, 0.6f, 0.75f, 0.65f}, trk, {10, 11}, o);
  EXPECT_EQ(as.new_dets, std::vector<int64_t>{2});
  EXPECT_TRUE(as.unmatched_ids.empty());  // 10 is matched by detection 0; 11 is empty
  EXPECT_EQ(as.nonempty, (std::vector<char>{1, 0}));
  EXPECT_EQ(as.det_to_matched[0], std::vector<int64_t>{10});
  EXPECT_EQ(as.det_to_matched[1], std::vector<int64_t>{10});
  EXPECT_TRUE(as.det_to_matched[2].empty());
  ASSERT_EQ(as.high_conf.size(), 1u);
  EXPECT_EQ(as.high_conf[0], (std::pair<int64_t, int64_t>{10, 0}));
  // Only a partial overlap: the track counts as unmatched.
  auto partial = associate_detections(rects({{0, 8, 4, 12}}), {0.9f}, trk, {10, 11}, o);
  EXPECT_EQ(partial.unmatched_ids, std::vector<int64_t>{10});
  EXPECT_TRUE(partial.new_dets.empty());
  // No detections: every non-empty track is unmatched.
  auto none = associate_detections(torch::empty({0, 16, 16}), {}, trk, {10, 11}, o);
  EXPECT_EQ(none.unmatched_ids, std::vector<int64_t>{10});
}

TEST(VideoSessionPure, HotstartRemovesYoungUnmatchedAndDuplicateObjects) {
  TrackOptions o;
  o.hotstart_delay = 4;
  o.hotstart_unmatch_thresh = 2;
  o.hotstart_dup_thresh = 2;
  HotstartState h(o);
  auto alive = [](int64_t) { return true; };
  Association born;
  EXPECT_TRUE(h.update(0, false, {0, 1}, born, alive).empty());
  EXPECT_EQ(h.keep_alive(0), o.init_trk_keep_alive);
  Association a1;
  a1.unmatched_ids = {0};
  a1.det_to_matched = {{1}};
  EXPECT_TRUE(h.update(1, false, {}, a1, alive).empty());  // one unmatched frame
  EXPECT_EQ(h.keep_alive(0), o.init_trk_keep_alive - 1);
  EXPECT_EQ(h.keep_alive(1), o.max_trk_keep_alive);                    // capped
  EXPECT_EQ(h.update(2, false, {}, a1, alive), std::set<int64_t>{0});  // second: removed (born at 0 > 2 - 4)
  EXPECT_TRUE(h.update(3, false, {}, a1, alive).empty());              // not removed twice
  // An object born at 5 duplicating 1 (same detection) for 2 frames is removed; 1 leads.
  EXPECT_TRUE(h.update(5, false, {2}, Association{}, alive).empty());
  Association dup;
  dup.det_to_matched = {{2, 1}};
  EXPECT_TRUE(h.update(6, false, {}, dup, alive).empty());
  EXPECT_EQ(h.update(7, false, {}, dup, alive), std::set<int64_t>{2});
  // Past the hotstart window an unmatched object stays.
  HotstartState late(o);
  EXPECT_TRUE(late.update(0, false, {5}, Association{}, alive).empty());
  Association u;
  u.unmatched_ids = {5};
  for (int t = 10; t < 14; ++t) EXPECT_TRUE(late.update(t, false, {}, u, alive).empty());
}

TEST(VideoSessionPure, OcclusionSuppressionFavoursTheLongerVisible) {
  c10::InferenceMode guard;
  auto same = rects({{0, 8, 0, 8}, {0, 8, 0, 8}, {10, 16, 10, 16}}) > 0;
  // Object 0 was occluded at frame 5, object 1 at frame 2: 0 yields.
  EXPECT_EQ(occlusion_suppression(same, {5, 2, -1}, false, 0.7f), (std::vector<char>{1, 0, 0}));
  // As the reference: only a partner occluded at some point (> -1) makes an object yield.
  EXPECT_EQ(occlusion_suppression(same, {-1, -1, -1}, false, 0.7f), (std::vector<char>{0, 0, 0}));
  EXPECT_EQ(occlusion_suppression(same, {-1, 3, -1}, false, 0.7f), (std::vector<char>{0, 0, 0}));
  EXPECT_EQ(occlusion_suppression(same, {100000, 3, -1}, false, 0.7f), (std::vector<char>{1, 0, 0}));
  // Backward the comparison flips.
  EXPECT_EQ(occlusion_suppression(same, {5, 2, -1}, true, 0.7f), (std::vector<char>{0, 1, 0}));
}

class VideoSessionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (test::golden_bpe_path().empty()) GTEST_SKIP() << "CLIP BPE vocabulary (shared/golden) absent";
  }
};

TEST_F(VideoSessionTest, InfoAndStatusBeforePrompts) {
  auto s = VideoSession::from_frames(tiny_model(), test::moving_squares(5), 10.0);
  EXPECT_EQ(s->info().total_frames, 5);
  EXPECT_EQ(s->info().width, 96);
  EXPECT_EQ(s->info().height, 72);
  EXPECT_DOUBLE_EQ(s->info().duration_seconds, 0.5);
  auto st = s->status();
  EXPECT_EQ(st.total_frames, 5);
  EXPECT_EQ(st.frames_processed, 0);
  EXPECT_TRUE(st.object_ids.empty());
  EXPECT_GT(st.memory_bytes, 0);
  EXPECT_EQ(s->device(), "cpu");
  Collected c;
  EXPECT_THROW(s->propagate(PropagateDirection::forward, std::nullopt, std::nullopt, c.callback()), InvalidInput);
  EXPECT_THROW(s->add_prompt(5, click(0.5f, 0.5f)), InvalidInput);
  EXPECT_THROW(s->add_prompt(0, VideoPrompt{}), InvalidInput);
}

TEST_F(VideoSessionTest, ClickAddsAnObjectTrackedWithAStableId) {
  auto s = VideoSession::from_frames(tiny_model(), test::moving_squares(6));
  auto r = s->add_prompt(0, click(0.2f, 0.25f), 7);
  EXPECT_EQ(r.width, 96);
  for (const auto& i : r.instances) EXPECT_EQ(i.obj_id, 7);
  EXPECT_EQ(s->status().object_ids, std::vector<int64_t>{7});
  Collected c;
  EXPECT_EQ(s->propagate(PropagateDirection::forward, std::nullopt, std::nullopt, c.callback()), 6);
  EXPECT_EQ(c.order, (std::vector<int64_t>{0, 1, 2, 3, 4, 5}));
  int visible = 0;
  for (const auto& [t, f] : c.frames) {
    for (const auto& i : f.instances) {
      EXPECT_EQ(i.obj_id, 7);
      EXPECT_FLOAT_EQ(i.score, 1.0f);  // click objects score 1
      ++visible;
    }
  }
  std::cout << "[ measured ] click object visible on " << visible << " of 6 frames\n";
  // A second click without id gets the next free id; a refinement keeps the count.
  auto r2 = s->add_prompt(2, click(0.8f, 0.6f));
  EXPECT_EQ(s->status().object_ids, (std::vector<int64_t>{7, 8}));
  s->add_prompt(2, click(0.78f, 0.62f), 8);
  EXPECT_EQ(s->status().object_ids, (std::vector<int64_t>{7, 8}));
  for (const auto& i : r2.instances) EXPECT_TRUE(i.obj_id == 7 || i.obj_id == 8);
  EXPECT_GE(s->status().frames_processed, 6);
}

TEST_F(VideoSessionTest, RemoveObjectDropsItFromEveryFrame) {
  auto s = VideoSession::from_frames(tiny_model(), test::moving_squares(5));
  s->add_prompt(0, click(0.2f, 0.25f), 1);
  s->add_prompt(0, click(0.8f, 0.65f), 2);
  Collected c1;
  s->propagate(PropagateDirection::forward, std::nullopt, std::nullopt, c1.callback());
  s->remove_object(1);
  EXPECT_EQ(s->status().object_ids, std::vector<int64_t>{2});
  EXPECT_THROW(s->remove_object(1), NotFound);
  EXPECT_THROW(s->remove_object(42), NotFound);
  EXPECT_EQ(ids_of(s->frame_objects(3)).count(1), 0u);
  EXPECT_EQ(s->frame_objects(3).instances.size(), c1.frames[3].instances.size() - ids_of(c1.frames[3]).count(1));
  EXPECT_THROW(s->frame_objects(5), InvalidInput);
  Collected c2;  // replays the cached outputs without object 1
  EXPECT_EQ(s->propagate(PropagateDirection::forward, 0, std::nullopt, c2.callback()), 5);
  for (const auto& [t, f] : c2.frames) EXPECT_EQ(ids_of(f).count(1), 0u) << "frame " << t;
  // Masks of the remaining object are unchanged by the removal.
  for (const auto& [t, f] : c2.frames)
    for (const auto& i : f.instances)
      for (const auto& j : c1.frames[t].instances)
        if (j.obj_id == i.obj_id) {
          size_t diff = 0;
          for (size_t k = 0; k < i.mask.data.size(); ++k) diff += i.mask.data[k] != j.mask.data[k];
          // Object 1 no longer competes for pixels, so object 2 can only gain pixels.
          for (size_t k = 0; k < i.mask.data.size(); ++k) EXPECT_GE(i.mask.data[k], j.mask.data[k]);
          (void)diff;
        }
}

TEST_F(VideoSessionTest, ResetKeepsTheFramesAndClearsObjects) {
  auto s = VideoSession::from_frames(tiny_model(), test::moving_squares(4));
  s->add_prompt(1, click(0.2f, 0.25f), 3);
  s->add_prompt(1, click(0.8f, 0.65f), 4);
  EXPECT_EQ(s->reset(), (std::vector<int64_t>{3, 4}));
  auto st = s->status();
  EXPECT_TRUE(st.object_ids.empty());
  EXPECT_EQ(st.frames_processed, 0);
  EXPECT_EQ(st.total_frames, 4);
  Collected c;
  EXPECT_THROW(s->propagate(PropagateDirection::forward, std::nullopt, std::nullopt, c.callback()), InvalidInput);
  s->add_prompt(2, click(0.3f, 0.3f), 9);
  EXPECT_EQ(s->status().object_ids, std::vector<int64_t>{9});
}

TEST_F(VideoSessionTest, ProcessingOrderFollowsStartMaxAndDirection) {
  auto s = VideoSession::from_frames(tiny_model(), test::moving_squares(8));
  s->add_prompt(3, click(0.4f, 0.3f), 1);
  Collected f;
  s->propagate(PropagateDirection::forward, 3, 2, f.callback());
  EXPECT_EQ(f.order, (std::vector<int64_t>{3, 4, 5}));  // the start frame, then max_frames more
  Collected b;
  s->propagate(PropagateDirection::backward, 3, 2, b.callback());
  EXPECT_EQ(b.order, (std::vector<int64_t>{2, 1}));  // the start frame is not repeated
  Collected both;
  s->propagate(PropagateDirection::both, std::nullopt, std::nullopt, both.callback());
  EXPECT_EQ(both.order, (std::vector<int64_t>{3, 4, 5, 6, 7, 2, 1, 0}));
  EXPECT_THROW(s->propagate(PropagateDirection::forward, 8, std::nullopt, f.callback()), InvalidInput);
  int calls = 0;
  EXPECT_THROW(s->propagate(PropagateDirection::forward, 0, std::nullopt, f.callback(), [&] { return ++calls > 2; }),
               Cancelled);
}

TEST_F(VideoSessionTest, TextPromptTracksDetectionsWithStableIds) {
  TrackOptions o;
  o.hotstart_delay = 3;
  VideoSessionOptions so;
  so.track = o;
  auto s = VideoSession::from_frames(tiny_model(), test::moving_squares(6), 30.0, so);
  auto first = s->add_prompt(0, text("square"));
  std::cout << "[ measured ] text prompt: " << first.instances.size() << " objects on frame 0\n";
  std::set<int64_t> born = ids_of(first);
  Collected c;
  EXPECT_EQ(s->propagate(PropagateDirection::forward, std::nullopt, std::nullopt, c.callback()), 6);
  EXPECT_EQ(c.order, (std::vector<int64_t>{0, 1, 2, 3, 4, 5}));
  int64_t max_seen = born.empty() ? -1 : *born.rbegin();
  size_t total = 0;
  for (int64_t t = 0; t < 6; ++t) {
    const auto ids = ids_of(c.frames[t]);
    EXPECT_EQ(ids.size(), c.frames[t].instances.size()) << "duplicate id on frame " << t;
    total += ids.size();
    std::cout << "[ measured ] frame " << t << ": " << ids.size() << " objects\n";
    for (int64_t id : ids) {
      EXPECT_GE(id, 0);
      if (id > max_seen) max_seen = id;  // new ids only grow
    }
    for (const auto& i : c.frames[t].instances) {
      EXPECT_GT(i.score, 0.5f);  // the birth detection score
      EXPECT_LE(i.score, 1.0f);
    }
    // Pixels belong to at most one object.
    std::vector<int> cover(96 * 72, 0);
    for (const auto& i : c.frames[t].instances)
      for (size_t k = 0; k < i.mask.data.size(); ++k) cover[k] += i.mask.data[k];
    EXPECT_LE(*std::max_element(cover.begin(), cover.end()), 1);
  }
  std::cout << "[ measured ] text tracking: " << total << " object-frames over 6 frames, max id " << max_seen << "\n";
  // A repeated propagation replays the same outputs (FETCH after forward+forward).
  Collected again;
  s->propagate(PropagateDirection::forward, std::nullopt, std::nullopt, again.callback());
  Collected third;
  s->propagate(PropagateDirection::forward, std::nullopt, std::nullopt, third.callback());
  for (int64_t t = 0; t < 6; ++t) EXPECT_EQ(ids_of(again.frames[t]), ids_of(third.frames[t]));
}

TEST_F(VideoSessionTest, HotstartHidesDuplicatesOnEveryEmittedFrame) {
  // A lax NMS keeps the random model's heavily overlapping detections: each
  // detection matches several tracks, so the younger duplicates are removed
  // by hotstart and hidden retroactively on the buffered frames.
  VideoSessionOptions so;
  so.track.det_nms_thresh = 0.9f;
  so.track.hotstart_delay = 3;
  so.track.hotstart_dup_thresh = 8;
  auto s = VideoSession::from_frames(tiny_model(), test::moving_squares(6), 30.0, so);
  const auto born = ids_of(s->add_prompt(0, text("square")));
  std::cout << "[ measured ] lax NMS: " << born.size() << " objects born on frame 0\n";
  ASSERT_GE(born.size(), 2u);
  Collected c;
  s->propagate(PropagateDirection::forward, std::nullopt, std::nullopt, c.callback());
  const auto survivors = s->status().object_ids;
  std::cout << "[ measured ] " << survivors.size() << " survive hotstart\n";
  EXPECT_LT(survivors.size(), born.size());
  const std::set<int64_t> alive(survivors.begin(), survivors.end());
  for (const auto& [t, f] : c.frames)
    for (int64_t id : ids_of(f)) EXPECT_EQ(alive.count(id), 1u) << "removed id " << id << " shown on frame " << t;
}

TEST_F(VideoSessionTest, TextAndClickObjectsAreTrackedTogether) {
  VideoSessionOptions so;
  so.track.hotstart_delay = 0;
  auto s = VideoSession::from_frames(tiny_model(), test::moving_squares(5), 30.0, so);
  const auto born = ids_of(s->add_prompt(0, text("square")));
  s->add_prompt(2, click(0.8f, 0.65f), 100);
  Collected c;
  EXPECT_EQ(s->propagate(PropagateDirection::forward, std::nullopt, std::nullopt, c.callback()), 5);
  std::set<int64_t> seen;
  for (const auto& [t, f] : c.frames)
    for (int64_t id : ids_of(f)) seen.insert(id);
  EXPECT_EQ(seen.count(100), 1u) << "the clicked object is propagated";
  for (int64_t id : born)
    if (seen.count(id) == 0) ADD_FAILURE() << "text object " << id << " vanished";
  // A second text prompt starts over: click objects are gone.
  s->add_prompt(1, text("square"));
  const auto after = s->status().object_ids;
  EXPECT_EQ(std::count(after.begin(), after.end(), 100), 0);
}

// Frames reversed + prompt on the last frame + backward == forward, mirrored.
void expect_mirrored(const Collected& fwd, const Collected& bwd, int64_t T) {
  for (const auto& [t, f] : fwd.frames) {
    auto it = bwd.frames.find(T - 1 - t);
    ASSERT_NE(it, bwd.frames.end()) << "frame " << t;
    const auto& g = it->second;
    ASSERT_EQ(f.instances.size(), g.instances.size()) << "frame " << t;
    for (size_t i = 0; i < f.instances.size(); ++i) {
      EXPECT_EQ(f.instances[i].obj_id, g.instances[i].obj_id);
      EXPECT_EQ(f.instances[i].mask.data, g.instances[i].mask.data) << "frame " << t;
    }
  }
}

TEST_F(VideoSessionTest, BackwardEqualsReversedForwardForClicks) {
  const int64_t T = 6;
  auto frames = test::moving_squares(T);
  auto reversed = frames;
  std::reverse(reversed.begin(), reversed.end());
  auto a = VideoSession::from_frames(tiny_model(), frames);
  auto b = VideoSession::from_frames(tiny_model(), reversed);
  a->add_prompt(0, click(0.2f, 0.25f), 1);
  b->add_prompt(T - 1, click(0.2f, 0.25f), 1);
  Collected fa, fb;
  a->propagate(PropagateDirection::forward, 1, std::nullopt, fa.callback());
  b->propagate(PropagateDirection::backward, std::nullopt, std::nullopt, fb.callback());
  EXPECT_EQ(fb.order, (std::vector<int64_t>{4, 3, 2, 1, 0}));
  expect_mirrored(fa, fb, T);
}

TEST_F(VideoSessionTest, BackwardEqualsReversedForwardForText) {
  // The reference's asymmetric parts are off: reconditioning on absolute
  // frame indices and the reverse occlusion quirk.
  VideoSessionOptions so;
  so.track.recondition_every_nth_frame = 0;
  so.track.occlusion_suppression_iou = 0;
  so.track.hotstart_delay = 2;
  const int64_t T = 5;
  auto frames = test::moving_squares(T);
  auto reversed = frames;
  std::reverse(reversed.begin(), reversed.end());
  auto a = VideoSession::from_frames(tiny_model(), frames, 30.0, so);
  auto b = VideoSession::from_frames(tiny_model(), reversed, 30.0, so);
  a->add_prompt(0, text("square"));
  b->add_prompt(T - 1, text("square"));
  Collected fa, fb;
  a->propagate(PropagateDirection::forward, 1, std::nullopt, fa.callback());
  b->propagate(PropagateDirection::backward, std::nullopt, std::nullopt, fb.callback());
  expect_mirrored(fa, fb, T);
}

TEST_F(VideoSessionTest, SessionManagerCapsListsClosesAndExpires) {
  SessionOptions limits;
  limits.max_concurrent_sessions = 2;
  limits.timeout_seconds = 60;
  SessionManager m({tiny_model()}, limits);
  const std::string a = m.add(VideoSession::from_frames(tiny_model(), test::moving_squares(2)));
  const std::string b = m.add(VideoSession::from_frames(tiny_model(), test::moving_squares(3)), std::string("mine"));
  EXPECT_EQ(b, "mine");
  EXPECT_NE(a, b);
  EXPECT_THROW(m.add(VideoSession::from_frames(tiny_model(), test::moving_squares(2))), Overloaded);
  EXPECT_EQ(m.size(), 2u);
  EXPECT_EQ(m.get("mine")->info().total_frames, 3);
  EXPECT_THROW(m.get("nope"), NotFound);
  auto list = m.list();
  ASSERT_EQ(list.size(), 2u);
  for (const auto& s : list) EXPECT_EQ(s.device, "cpu");
  EXPECT_GT(m.close(a), 0);
  EXPECT_THROW(m.close(a), NotFound);
  EXPECT_TRUE(m.expire_idle().empty());
  auto expired = m.expire_idle(SessionManager::Clock::now() + std::chrono::seconds(61));
  EXPECT_EQ(expired, std::vector<std::string>{"mine"});
  EXPECT_EQ(m.size(), 0u);
}

TEST_F(VideoSessionTest, SessionManagerOpensOnlyOnTheRequestedDevices) {
  // Two replicas (both on the CPU here; one per GPU of VIDEO_MODEL_GPUS in a
  // deployment). A request naming devices is served only by those.
  SessionManager m({tiny_model(), tiny_model()}, SessionOptions{});
  test::TempDir dir;
  const std::string frame = dir.file("frame.png");
  formats::write_file_atomic(frame, formats::encode_png(test::moving_squares(1)[0]));
  try {
    m.open(frame, std::nullopt, {}, {"cuda:1"});
    ADD_FAILURE() << "a session opened on a device without a replica";
  } catch (const InvalidInput& e) {
    EXPECT_NE(std::string(e.what()).find("cpu"), std::string::npos) << e.what();  // names what there is
  }
  EXPECT_EQ(m.size(), 0u);  // nothing half-registered
  const std::string id = m.open(frame, std::nullopt, {}, {"cuda:1", "cpu"});
  EXPECT_EQ(m.get(id)->device(), "cpu");
  EXPECT_EQ(m.get(m.open(frame))->device(), "cpu");  // no list: any replica
  EXPECT_EQ(m.size(), 2u);
}

}  // namespace
}  // namespace sam3::core
