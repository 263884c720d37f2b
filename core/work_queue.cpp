// SPDX-License-Identifier: Apache-2.0
#include "core/work_queue.h"

#include <algorithm>

#include "core/log.h"

namespace sam3::core {

WorkQueue::WorkQueue(std::string name, size_t capacity)
    : name_(std::move(name)), capacity_(std::max<size_t>(capacity, 1)), thread_([this] { worker(); }) {}

WorkQueue::~WorkQueue() { shutdown(); }

size_t WorkQueue::depth() const {
  std::lock_guard<std::mutex> lk(mu_);
  return jobs_.size();
}

void WorkQueue::enqueue(std::shared_ptr<detail::Job> job) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (stopping_) throw Overloaded("queue '" + name_ + "' is shutting down");
    if (jobs_.size() >= capacity_)
      throw Overloaded("queue '" + name_ + "' is full (" + std::to_string(capacity_) + " requests waiting)");
    jobs_.push_back(std::move(job));
  }
  cv_.notify_one();
}

void WorkQueue::cancel(const std::shared_ptr<detail::Job>& job) {
  std::lock_guard<std::mutex> lk(mu_);
  auto it = std::find(jobs_.begin(), jobs_.end(), job);
  if (it != jobs_.end()) jobs_.erase(it);  // nobody waits on its promise any more
}

void WorkQueue::worker() {
  for (;;) {
    std::shared_ptr<detail::Job> job;
    {
      std::unique_lock<std::mutex> lk(mu_);
      cv_.wait(lk, [&] { return stopping_ || !jobs_.empty(); });
      if (jobs_.empty()) return;  // stopping and drained
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    job->run();  // exceptions are stored in the promise
  }
}

void WorkQueue::shutdown() {
  std::deque<std::shared_ptr<detail::Job>> pending;
  {
    std::lock_guard<std::mutex> lk(mu_);
    stopping_ = true;
    pending.swap(jobs_);
  }
  cv_.notify_all();
  for (auto& j : pending) j->cancel();
  if (!pending.empty()) SAM3_LOG_INF("queue '" << name_ << "': cancelled " << pending.size() << " waiting jobs");
  std::lock_guard<std::mutex> jl(join_mu_);  // concurrent shutdowns join once
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

}  // namespace sam3::core
