#include "server/common/executor.h"

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

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
  // Threads start on demand, up to `max_threads`: a server whose calls
  // never wait keeps none.
  ThreadPoolExecutor(int max_threads, size_t max_queue, int nice)
      : max_threads_(static_cast<size_t>(max_threads)),
        max_queue_(max_queue),
        nice_(nice) {}

  ~ThreadPoolExecutor() override {
    std::vector<std::thread> threads;
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
      threads.swap(threads_);
    }
    for (std::thread& thread : threads) thread.join();
  }

  bool TrySchedule(std::function<void()> fn) override {
    absl::MutexLock lock(&mu_);
    if (stopping_ || queue_.size() >= max_queue_) return false;
    queue_.push_back(std::move(fn));
    if (queue_.size() > idle_ && threads_.size() < max_threads_) {
      threads_.emplace_back([this] { Work(); });
    }
    return true;
  }

 private:
  void Work() {
    // Linux keeps a nice value per thread: only this one yields.
    if (nice_ != 0) {
      setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)), nice_);
    }
    while (true) {
      std::function<void()> fn;
      {
        absl::MutexLock lock(&mu_);
        ++idle_;
        mu_.Await(absl::Condition(
            +[](ThreadPoolExecutor* self) ABSL_EXCLUSIVE_LOCKS_REQUIRED(
                 self->mu_) { return self->stopping_ || !self->queue_.empty(); },
            this));
        --idle_;
        if (queue_.empty()) return;  // stopping, and nothing left to run
        fn = std::move(queue_.front());
        queue_.pop_front();
      }
      fn();
    }
  }

  const size_t max_threads_;
  const size_t max_queue_;
  absl::Mutex mu_;
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
  // Threads waiting for work.
  size_t idle_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_ ABSL_GUARDED_BY(mu_);
  const int nice_;
};

}  // namespace

std::unique_ptr<Executor> NewThreadPoolExecutor(int threads, size_t max_queue,
                                                int nice) {
  return std::make_unique<ThreadPoolExecutor>(threads, max_queue, nice);
}

}  // namespace profile
