// SPDX-License-Identifier: Apache-2.0
#include "core/video/session_manager.h"

#include <algorithm>
#include <random>

#include "core/errors.h"

namespace sam3::core {

VideoSessionOptions video_session_options(const SessionOptions& s) {
  VideoSessionOptions o;
  o.track = s.track;
  if (!s.temporal_disambiguation) {
    // The ablation turns off hotstart and reconditioning, whatever else is set.
    const TrackOptions plain = TrackOptions::without_temporal_disambiguation();
    o.track.hotstart_delay = plain.hotstart_delay;
    o.track.hotstart_unmatch_thresh = plain.hotstart_unmatch_thresh;
    o.track.hotstart_dup_thresh = plain.hotstart_dup_thresh;
    o.track.recondition_every_nth_frame = plain.recondition_every_nth_frame;
  }
  if (!s.frame_storage.empty()) o.frame_storage = s.frame_storage;
  if (s.max_frame_ram_mb > 0) o.max_frame_ram_bytes = s.max_frame_ram_mb * 1024 * 1024;
  o.offload_dir = s.offload_dir;
  return o;
}

SessionManager::SessionManager(std::vector<std::shared_ptr<const Sam3Model>> models, SessionOptions limits)
    : models_(std::move(models)), limits_(std::move(limits)), session_options_(video_session_options(limits_)) {
  models_.erase(std::remove(models_.begin(), models_.end(), nullptr), models_.end());
  if (models_.empty()) throw ModelMissing("session manager: no model loaded");
  for (const auto& m : models_) devices_.push_back(describe(*m).device);
}

size_t SessionManager::pick_locked(const std::vector<std::string>& devices) const {
  std::vector<size_t> load(models_.size(), 0);
  for (const auto& [id, e] : sessions_) ++load[e.model_index];
  std::optional<size_t> best;
  for (size_t i = 0; i < models_.size(); ++i) {
    if (!devices.empty() && std::find(devices.begin(), devices.end(), devices_[i]) == devices.end()) continue;
    if (!best || load[i] < load[*best]) best = i;
  }
  if (!best) {
    std::string have;
    for (const auto& d : devices_) have += (have.empty() ? "" : ", ") + d;
    throw InvalidInput("video sessions: none of the requested devices hosts video sessions (this server's: " + have +
                       ")");
  }
  return *best;
}

std::shared_ptr<const Sam3Model> SessionManager::pick_model() const {
  std::lock_guard<std::mutex> lk(mu_);
  return models_[pick_locked()];
}

void SessionManager::check_capacity_locked() const {
  const int cap = limits_.max_concurrent_sessions;
  if (cap > 0 && sessions_.size() + pending_ >= static_cast<size_t>(cap))
    throw Overloaded("video sessions: the limit of " + std::to_string(cap) +
                     " concurrent sessions is reached; close one or retry later");
}

std::string SessionManager::new_id_locked() const {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  static const char* hex = "0123456789abcdef";
  for (;;) {
    std::string id;
    for (int i = 0; i < 32; ++i) id += hex[rng() & 15];
    if (!sessions_.count(id)) return id;
  }
}

std::string SessionManager::open(const std::string& path, std::optional<std::string> id,
                                 const std::function<bool()>& should_stop, const std::vector<std::string>& devices) {
  size_t index;
  {
    std::lock_guard<std::mutex> lk(mu_);
    check_capacity_locked();
    if (id && sessions_.count(*id)) throw InvalidInput("video sessions: session id \"" + *id + "\" already exists");
    index = pick_locked(devices);
    ++pending_;
  }
  std::shared_ptr<VideoSession> s;
  try {
    s = VideoSession::open(models_[index], path, session_options_, should_stop);
  } catch (...) {
    std::lock_guard<std::mutex> lk(mu_);
    --pending_;
    throw;
  }
  std::lock_guard<std::mutex> lk(mu_);
  --pending_;
  if (id && sessions_.count(*id)) throw InvalidInput("video sessions: session id \"" + *id + "\" already exists");
  const std::string key = id ? *id : new_id_locked();
  sessions_[key] = Entry{std::move(s), index, Clock::now()};
  return key;
}

std::string SessionManager::add(std::shared_ptr<VideoSession> session, std::optional<std::string> id) {
  if (!session) throw InvalidInput("video sessions: no session given");
  std::lock_guard<std::mutex> lk(mu_);
  check_capacity_locked();
  if (id && sessions_.count(*id)) throw InvalidInput("video sessions: session id \"" + *id + "\" already exists");
  size_t index = 0;
  for (size_t i = 0; i < models_.size(); ++i)
    if (devices_[i] == session->device()) index = i;
  const std::string key = id ? *id : new_id_locked();
  sessions_[key] = Entry{std::move(session), index, Clock::now()};
  return key;
}

std::shared_ptr<VideoSession> SessionManager::get(const std::string& id) {
  std::lock_guard<std::mutex> lk(mu_);
  auto it = sessions_.find(id);
  if (it == sessions_.end()) throw NotFound("video session \"" + id + "\" not found or expired");
  it->second.last_used = Clock::now();
  return it->second.session;
}

int64_t SessionManager::close(const std::string& id) {
  std::shared_ptr<VideoSession> s;
  {
    std::lock_guard<std::mutex> lk(mu_);
    auto it = sessions_.find(id);
    if (it == sessions_.end()) throw NotFound("video session \"" + id + "\" not found or expired");
    s = std::move(it->second.session);
    sessions_.erase(it);
  }
  return s->status().memory_bytes;  // freed when the last user lets go
}

std::vector<SessionSummary> SessionManager::list() const {
  std::lock_guard<std::mutex> lk(mu_);
  std::vector<SessionSummary> out;
  const auto now = Clock::now();
  for (const auto& [id, e] : sessions_) {
    SessionSummary s;
    s.id = id;
    s.device = e.session->device();
    s.info = e.session->info();
    s.status = e.session->status();
    s.idle_seconds = std::chrono::duration<double>(now - e.last_used).count();
    out.push_back(std::move(s));
  }
  return out;
}

size_t SessionManager::size() const {
  std::lock_guard<std::mutex> lk(mu_);
  return sessions_.size();
}

std::vector<std::string> SessionManager::expire_idle(Clock::time_point now) {
  std::vector<std::string> ids;
  std::vector<std::shared_ptr<VideoSession>> dropped;  // destroyed outside the lock
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (limits_.timeout_seconds <= 0) return ids;
    const auto timeout = std::chrono::seconds(limits_.timeout_seconds);
    for (auto it = sessions_.begin(); it != sessions_.end();) {
      // A session in use (busy) is not idle.
      if (now - it->second.last_used > timeout && !it->second.session->status().busy) {
        ids.push_back(it->first);
        dropped.push_back(std::move(it->second.session));
        it = sessions_.erase(it);
      } else {
        ++it;
      }
    }
  }
  return ids;
}

}  // namespace sam3::core
