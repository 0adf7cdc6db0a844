// Executor: where work that may wait on a network runs.
//
// gRPC's callback threads must never block. A call whose stores and
// providers all answer at once (in-memory: a few microseconds under a mutex)
// runs inline; one that may wait (PhoneChange::MayBlock(): Redis, PostgreSQL,
// a network SMS provider, a file) runs on one bounded thread pool, in every
// configuration, and the RPC finishes from there.
//
//   std::unique_ptr<Executor> pool = NewThreadPoolExecutor(16, 1024);
//   if (!pool->TrySchedule([] { ...; reactor->Finish(status); })) {
//     // Saturated: answer UNAVAILABLE now instead of queueing forever.
//   }
//
// Thread-safety: TrySchedule() may be called from any thread.
#ifndef PROFILE_SERVER_COMMON_EXECUTOR_H_
#define PROFILE_SERVER_COMMON_EXECUTOR_H_

#include <cstddef>
#include <functional>
#include <memory>

namespace profile {

class Executor {
 public:
  virtual ~Executor() = default;

  // Runs `fn` now or later on another thread. Returns false, without running
  // it, if the executor is saturated or shutting down.
  virtual bool TrySchedule(std::function<void()> fn) = 0;
};

// Returns a pool of up to `threads` threads, started as work arrives, with at
// most `max_queue` functions waiting. Its destructor runs what is queued,
// then joins the threads. A positive `nice` lowers the threads' CPU priority
// by that much (Linux nice values are per thread): the rest of the process
// keeps the CPU first when the pool's work piles up.
// REQUIRES: threads >= 1.
std::unique_ptr<Executor> NewThreadPoolExecutor(int threads, size_t max_queue,
                                                int nice = 0);

}  // namespace profile

#endif  // PROFILE_SERVER_COMMON_EXECUTOR_H_
