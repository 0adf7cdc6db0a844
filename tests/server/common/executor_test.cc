#include "server/common/executor.h"

#include <atomic>
#include <thread>

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
