#include "server/common/executor.h"

#include <atomic>
#include <filesystem>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace profile {
namespace {

TEST(ThreadPoolExecutorTest, RunsEverythingOnOtherThreads) {
  std::atomic<int> ran{0};
  std::atomic<bool> on_caller{false};
  const std::thread::id caller = std::this_thread::get_id();
  {
    auto pool = NewThreadPoolExecutor(4, 1000);
    for (int i = 0; i < 500; ++i) {
      ASSERT_TRUE(pool->TrySchedule([&] {
        if (std::this_thread::get_id() == caller) on_caller = true;
        ++ran;
      }));
    }
  }  // the destructor runs what is queued
  EXPECT_EQ(ran.load(), 500);
  EXPECT_FALSE(on_caller.load());
}

// Returns how many threads this process runs.
int ThreadCount() {
  int count = 0;
  for ([[maybe_unused]] const auto& entry :
       std::filesystem::directory_iterator("/proc/self/task")) {
    ++count;
  }
  return count;
}

TEST(ThreadPoolExecutorTest, StartsThreadsOnlyAsWorkArrives) {
  const int before = ThreadCount();
  auto pool = NewThreadPoolExecutor(8, 100);
  EXPECT_EQ(ThreadCount(), before);  // idle: no thread at all

  // Four calls that each wait for all four to be running: the pool must
  // grow to four threads at once.
  constexpr int kCalls = 4;
  absl::Mutex mu;
  int running = 0;
  absl::Notification all_ran;
  std::atomic<int> done{0};
  for (int i = 0; i < kCalls; ++i) {
    ASSERT_TRUE(pool->TrySchedule([&] {
      absl::MutexLock lock(&mu);
      ++running;
      mu.Await(absl::Condition(
          +[](int* n) { return *n == kCalls; }, &running));
      if (++done == kCalls) all_ran.Notify();
    }));
  }
  EXPECT_TRUE(all_ran.WaitForNotificationWithTimeout(absl::Seconds(30)));
  EXPECT_LE(ThreadCount(), before + 8);
}

TEST(ThreadPoolExecutorTest, RefusesBeyondItsQueue) {
  auto pool = NewThreadPoolExecutor(1, 2);
  absl::Notification release, started;
  ASSERT_TRUE(pool->TrySchedule([&] {
    started.Notify();
    release.WaitForNotification();
  }));
  started.WaitForNotification();  // the only thread is busy
  EXPECT_TRUE(pool->TrySchedule([] {}));
  EXPECT_TRUE(pool->TrySchedule([] {}));
  EXPECT_FALSE(pool->TrySchedule([] {}));  // queue of 2 is full
  release.Notify();
}

}  // namespace
}  // namespace profile
