// PeriodicTask: runs a function on its own thread every `interval` until it
// is destroyed.
//
//   PeriodicTask sweeper(absl::Seconds(1), [&] { store.SweepExpired(); });
//
// The destructor stops the thread and waits for a running call to end.
//
// Thread-safety: construct and destroy from one thread; the function runs on
// the task's own thread.
#ifndef PROFILE_SERVER_COMMON_PERIODIC_H_
#define PROFILE_SERVER_COMMON_PERIODIC_H_

#include <functional>
#include <thread>

#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

namespace profile {

class PeriodicTask {
 public:
  // REQUIRES: interval > absl::ZeroDuration().
  PeriodicTask(absl::Duration interval, std::function<void()> fn)
      : thread_([this, interval, fn = std::move(fn)] {
          while (!stop_.WaitForNotificationWithTimeout(interval)) fn();
        }) {}
  ~PeriodicTask() {
    stop_.Notify();
    thread_.join();
  }

  PeriodicTask(const PeriodicTask&) = delete;
  PeriodicTask& operator=(const PeriodicTask&) = delete;

 private:
  absl::Notification stop_;
  std::thread thread_;
};

}  // namespace profile

#endif  // PROFILE_SERVER_COMMON_PERIODIC_H_
