#include "server/common/executor.h"

#include <deque>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace profile {
namespace {

class ThreadPoolExecutor final : public Executor {
 public:
  ThreadPoolExecutor(int threads, size_t max_queue) : max_queue_(max_queue) {
    threads_.reserve(threads);
    for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Work(); });
  }

  ~ThreadPoolExecutor() override {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
    }
    for (std::thread& thread : threads_) thread.join();
  }

  bool TrySchedule(std::function<void()> fn) override {
    absl::MutexLock lock(&mu_);
    if (stopping_ || queue_.size() >= max_queue_) return false;
    queue_.push_back(std::move(fn));
    return true;
  }

 private:
  void Work() {
    while (true) {
      std::function<void()> fn;
      {
        absl::MutexLock lock(&mu_);
        mu_.Await(absl::Condition(
            +[](ThreadPoolExecutor* self) ABSL_EXCLUSIVE_LOCKS_REQUIRED(
                 self->mu_) { return self->stopping_ || !self->queue_.empty(); },
            this));
        if (queue_.empty()) return;  // stopping, and nothing left to run
        fn = std::move(queue_.front());
        queue_.pop_front();
      }
      fn();
    }
  }

  const size_t max_queue_;
  absl::Mutex mu_;
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace

std::unique_ptr<Executor> NewThreadPoolExecutor(int threads,
                                                size_t max_queue) {
  return std::make_unique<ThreadPoolExecutor>(threads, max_queue);
}

}  // namespace profile
