// SPDX-License-Identifier: Apache-2.0
// The video sessions of a process: id -> VideoSession, a cap on concurrent
// sessions (Overloaded when full), idle expiry, and pinning of each new
// session to the least-loaded device (one model replica per device).
// Torch-free header (used by the daemon).
//
// Thread-safety: every method is thread-safe. get() hands out a shared_ptr,
// so a session closed or expired while a request uses it stays alive until
// that request ends; its memory is then freed.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/options.h"
#include "core/video/video_session.h"

namespace sam3::core {

// The options of each session from the deployment's settings (the tracking
// parameters, the temporal-disambiguation switch and the frame storage policy).
// One function, so `sam3 video track` and the daemon's sessions agree.
VideoSessionOptions video_session_options(const SessionOptions& settings);

struct SessionSummary {
  std::string id;
  std::string device;
  VideoSessionInfo info;
  VideoSessionStatus status;
  double idle_seconds = 0;
};

class SessionManager {
 public:
  using Clock = std::chrono::steady_clock;

  // models: one replica per device (at least one). limits: the cap
  // (max_concurrent_sessions, <= 0: unlimited) and the idle timeout
  // (timeout_seconds, <= 0: never). \throws ModelMissing without a model.
  SessionManager(std::vector<std::shared_ptr<const Sam3Model>> models, SessionOptions limits);

  // Opens the video on the least-loaded device and registers the session;
  // returns once its first frame is decoded (the rest decode ahead in the
  // background, see VideoSession::open; closing the session stops that).
  // id: the caller's (must be new) or a random one. Returns the id.
  // \throws Overloaded at the cap, InvalidInput for a duplicate id, and
  // VideoSession::open's errors.
  // devices: when not empty, only replicas on these devices ("cuda:1") are
  // candidates. \throws InvalidInput when none of them hosts sessions.
  std::string open(const std::string& path, std::optional<std::string> id = std::nullopt,
                   const std::function<bool()>& should_stop = {}, const std::vector<std::string>& devices = {});
  // Registers an existing session. \throws as open().
  std::string add(std::shared_ptr<VideoSession> session, std::optional<std::string> id = std::nullopt);

  // \throws NotFound ("... not found or expired").
  std::shared_ptr<VideoSession> get(const std::string& id);

  // Removes the session; returns the bytes it held. \throws NotFound.
  int64_t close(const std::string& id);

  std::vector<SessionSummary> list() const;
  size_t size() const;

  // Closes sessions idle longer than the timeout (as of `now`); returns their ids.
  std::vector<std::string> expire_idle(Clock::time_point now = Clock::now());

  // The model replica the next session would use (least loaded, first on ties).
  std::shared_ptr<const Sam3Model> pick_model() const;

 private:
  struct Entry {
    std::shared_ptr<VideoSession> session;
    size_t model_index = 0;
    Clock::time_point last_used;
  };
  size_t pick_locked(const std::vector<std::string>& devices = {}) const;
  void check_capacity_locked() const;
  std::string new_id_locked() const;

  std::vector<std::shared_ptr<const Sam3Model>> models_;
  std::vector<std::string> devices_;  // models_[i]'s device
  SessionOptions limits_;
  VideoSessionOptions session_options_;
  mutable std::mutex mu_;
  std::map<std::string, Entry> sessions_;
  size_t pending_ = 0;  // sessions being opened (count against the cap)
};

}  // namespace sam3::core
