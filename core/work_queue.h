// SPDX-License-Identifier: Apache-2.0
// A bounded work queue with one worker thread, one per device: requests queue
// up for the device instead of contending on a global lock, and a full queue
// refuses new work at once (Overloaded -> 503 + Retry-After) instead of
// letting latency grow without bound.
//
// submit() returns a Ticket. Dropping a ticket whose work has not started
// removes that work from the queue (the client went away or the handler
// returned), so abandoned requests cost nothing.
//
// Thread-safety: submit, depth and shutdown may be called from any thread.
// A Ticket belongs to one thread.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <type_traits>

#include "core/errors.h"

namespace sam3::core {

namespace detail {
struct Job {
  std::function<void()> run;     // sets the promise (value or exception)
  std::function<void()> cancel;  // sets the promise to Cancelled
};
}  // namespace detail

class WorkQueue;

// The handle of one submitted piece of work. Move-only; its destructor
// cancels the work if it is still pending.
template <class R>
class Ticket {
public:
  Ticket() = default;
  Ticket(Ticket&&) noexcept = default;
  Ticket& operator=(Ticket&& other) noexcept {
    if (this != &other) {
      release();
      queue_ = other.queue_;
      job_ = std::move(other.job_);
      future_ = std::move(other.future_);
    }
    return *this;
  }
  ~Ticket() { release(); }

  // Blocks until the work has run; returns its value or rethrows its
  // exception (Cancelled when the queue shut down before it ran).
  R get() {
    auto f = std::move(future_);
    job_.reset();
    return f.get();
  }
  bool valid() const { return future_.valid(); }

private:
  friend class WorkQueue;
  Ticket(WorkQueue* q, std::shared_ptr<detail::Job> job, std::future<R> f)
      : queue_(q), job_(std::move(job)), future_(std::move(f)) {}
  void release();

  WorkQueue* queue_ = nullptr;
  std::shared_ptr<detail::Job> job_;
  std::future<R> future_;
};

class WorkQueue {
public:
  // `capacity`: how many jobs may wait (the running one not counted).
  WorkQueue(std::string name, size_t capacity);
  ~WorkQueue();  // shutdown()
  WorkQueue(const WorkQueue&) = delete;
  WorkQueue& operator=(const WorkQueue&) = delete;

  // Queues `fn` for the worker thread. \throws Overloaded when `capacity`
  // jobs are already waiting or the queue is shutting down.
  template <class F>
  Ticket<std::invoke_result_t<F>> submit(F fn) {
    using R = std::invoke_result_t<F>;
    auto promise = std::make_shared<std::promise<R>>();
    auto job = std::make_shared<detail::Job>();
    job->run = [promise, fn = std::move(fn)]() mutable {
      try {
        if constexpr (std::is_void_v<R>) {
          fn();
          promise->set_value();
        } else {
          promise->set_value(fn());
        }
      } catch (...) {
        promise->set_exception(std::current_exception());
      }
    };
    job->cancel = [promise] {
      promise->set_exception(std::make_exception_ptr(Cancelled("the queued work was cancelled")));
    };
    std::future<R> f = promise->get_future();
    enqueue(job);
    return Ticket<R>(this, std::move(job), std::move(f));
  }

  // Jobs waiting (not counting the one running).
  size_t depth() const;
  size_t capacity() const { return capacity_; }
  const std::string& name() const { return name_; }

  // Stops accepting work, cancels what waits, lets the running job finish
  // and joins the worker. Idempotent.
  void shutdown();

  // Removes `job` if it is still waiting. Called by a dropped Ticket.
  void cancel(const std::shared_ptr<detail::Job>& job);

private:
  void enqueue(std::shared_ptr<detail::Job> job);
  void worker();

  std::string name_;
  size_t capacity_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<detail::Job>> jobs_;
  bool stopping_ = false;
  std::mutex join_mu_;
  std::thread thread_;
};

template <class R>
void Ticket<R>::release() {
  if (queue_ && job_) queue_->cancel(job_);
  job_.reset();
}

}  // namespace sam3::core
