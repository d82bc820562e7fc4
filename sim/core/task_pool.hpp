// Pure core: a fixed set of worker threads that run the tasks 0..n-1 of one batch, the calling
// thread included. Tasks are taken in order from a shared counter, so a batch spreads over the
// threads whatever their speed; results must not depend on which thread ran a task (the callers'
// tasks touch disjoint data). An exception in a task is rethrown by run() once the batch is done.
#pragma once
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace chatdc {

class TaskPool {
 public:
  /// `threads` in all, the caller's included; 0 = one per hardware thread.
  explicit TaskPool(unsigned threads) {
    if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
    for (unsigned i = 1; i < threads; ++i) workers_.emplace_back([this] { work(); });
  }
  ~TaskPool() {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    start_.notify_all();
    for (auto& w : workers_) w.join();
  }
  TaskPool(const TaskPool&) = delete;
  TaskPool& operator=(const TaskPool&) = delete;

  /// Run fn(0) .. fn(n - 1), each once, and return when all are done.
  void run(std::uint32_t n, const std::function<void(std::uint32_t)>& fn) {
    if (workers_.empty() || n <= 1) {
      for (std::uint32_t i = 0; i < n; ++i) fn(i);
      return;
    }
    {
      std::lock_guard lock(mutex_);
      fn_ = &fn;
      n_ = n;
      next_.store(0, std::memory_order_relaxed);
      busy_ = static_cast<unsigned>(workers_.size());
      ++batch_;
    }
    start_.notify_all();
    drain();
    std::unique_lock lock(mutex_);
    done_.wait(lock, [this] { return busy_ == 0; });
    fn_ = nullptr;
    if (failure_) {
      const std::exception_ptr e = failure_;
      failure_ = nullptr;
      std::rethrow_exception(e);
    }
  }

 private:
  void drain() {
    for (;;) {
      const std::uint32_t i = next_.fetch_add(1, std::memory_order_relaxed);
      if (i >= n_) return;
      try {
        (*fn_)(i);
      } catch (...) {
        std::lock_guard lock(mutex_);
        if (!failure_) failure_ = std::current_exception();
      }
    }
  }
  void work() {
    std::uint64_t seen = 0;
    for (;;) {
      {
        std::unique_lock lock(mutex_);
        start_.wait(lock, [&] { return stop_ || batch_ != seen; });
        if (stop_) return;
        seen = batch_;
      }
      drain();
      std::lock_guard lock(mutex_);
      if (--busy_ == 0) done_.notify_one();
    }
  }

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable start_, done_;
  const std::function<void(std::uint32_t)>* fn_ = nullptr;
  std::uint32_t n_ = 0;
  std::atomic<std::uint32_t> next_{0};
  unsigned busy_ = 0;
  std::uint64_t batch_ = 0;
  bool stop_ = false;
  std::exception_ptr failure_;
};

}  // namespace chatdc
