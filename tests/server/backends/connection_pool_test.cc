#include "server/backends/connection_pool.h"

#include <algorithm>
#include <memory>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "server/common/api_error.h"

namespace profile {
namespace {

struct FakeConnection {
  int id = 0;
};

// Opens FakeConnections, counting them; while the gate is closed, openers
// block (a slow connect), and the most seen opening at once is recorded.
class FakeBackend {
 public:
  absl::StatusOr<FakeConnection*> Open() {
    absl::MutexLock lock(&mu_);
    ++opening_;
    most_opening_ = std::max(most_opening_, opening_);
    mu_.Await(absl::Condition(&gate_open_));
    --opening_;
    if (fail_next_) {
      fail_next_ = false;
      return absl::UnavailableError("fake: connection refused");
    }
    return new FakeConnection{++opened_};
  }
  void Close(FakeConnection* connection) {
    absl::MutexLock lock(&mu_);
    ++closed_;
    delete connection;
  }

  void SetGate(bool open) {
    absl::MutexLock lock(&mu_);
    gate_open_ = open;
  }
  void FailNext() {
    absl::MutexLock lock(&mu_);
    fail_next_ = true;
  }
  // Waits until at least `n` openers are blocked at the closed gate.
  void AwaitOpening(int n) {
    absl::MutexLock lock(&mu_);
    auto reached = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return opening_ >= n;
    };
    mu_.Await(absl::Condition(&reached));
  }
  int opened() {
    absl::MutexLock lock(&mu_);
    return opened_;
  }
  int closed() {
    absl::MutexLock lock(&mu_);
    return closed_;
  }
  int most_opening() {
    absl::MutexLock lock(&mu_);
    return most_opening_;
  }

 private:
  absl::Mutex mu_;
  bool gate_open_ ABSL_GUARDED_BY(mu_) = true;
  bool fail_next_ ABSL_GUARDED_BY(mu_) = false;
  int opening_ ABSL_GUARDED_BY(mu_) = 0;
  int most_opening_ ABSL_GUARDED_BY(mu_) = 0;
  int opened_ ABSL_GUARDED_BY(mu_) = 0;
  int closed_ ABSL_GUARDED_BY(mu_) = 0;
};

using Pool = ConnectionPool<FakeConnection>;

std::unique_ptr<Pool> NewPool(FakeBackend& backend, int max_size,
                              int max_connecting,
                              absl::Duration wait = absl::Seconds(30)) {
  Pool::Options options("fake", max_size, wait);
  options.max_connecting = max_connecting;
  return std::make_unique<Pool>(
      options, [&backend] { return backend.Open(); },
      [&backend](FakeConnection* c) { backend.Close(c); });
}

TEST(ConnectionPoolTest, AReleasedConnectionIsReused) {
  FakeBackend backend;
  auto pool = NewPool(backend, 4, 2);
  absl::StatusOr<FakeConnection*> first = pool->Acquire();
  ASSERT_TRUE(first.ok());
  pool->Release(*first, /*healthy=*/true);
  absl::StatusOr<FakeConnection*> second = pool->Acquire();
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(*second, *first);
  EXPECT_EQ(backend.opened(), 1);
  pool->Release(*second, true);
  pool.reset();
  EXPECT_EQ(backend.closed(), 1);  // the idle one, by the destructor
}

TEST(ConnectionPoolTest, AnUnhealthyConnectionIsClosedAndReplaced) {
  FakeBackend backend;
  auto pool = NewPool(backend, 1, 1);
  absl::StatusOr<FakeConnection*> broken = pool->Acquire();
  ASSERT_TRUE(broken.ok());
  pool->Release(*broken, /*healthy=*/false);
  EXPECT_EQ(backend.closed(), 1);
  // Its place is free again although max_size is 1.
  absl::StatusOr<FakeConnection*> fresh = pool->Acquire();
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ((*fresh)->id, 2);
  pool->Release(*fresh, true);
}

TEST(ConnectionPoolTest, AFullPoolIsUnavailableAfterTheWait) {
  FakeBackend backend;
  auto pool = NewPool(backend, 2, 2, absl::Milliseconds(50));
  absl::StatusOr<FakeConnection*> a = pool->Acquire();
  absl::StatusOr<FakeConnection*> b = pool->Acquire();
  ASSERT_TRUE(a.ok() && b.ok());
  absl::StatusOr<FakeConnection*> c = pool->Acquire();
  EXPECT_EQ(c.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(ApiCodeOf(c.status()), ApiCode::kUnavailable);
  EXPECT_EQ(c.status().message(),
            "fake: no connection came free within 50ms");
  EXPECT_EQ(backend.opened(), 2);
  pool->Release(*a, true);
  pool->Release(*b, true);
}

TEST(ConnectionPoolTest, AFailedOpenReturnsItsErrorAndFreesItsPlace) {
  FakeBackend backend;
  auto pool = NewPool(backend, 1, 1, absl::Milliseconds(50));
  backend.FailNext();
  absl::StatusOr<FakeConnection*> failed = pool->Acquire();
  EXPECT_EQ(failed.status(), absl::UnavailableError("fake: connection refused"));
  absl::StatusOr<FakeConnection*> next = pool->Acquire();
  ASSERT_TRUE(next.ok()) << next.status();
  pool->Release(*next, true);
}

// A burst of callers on an empty pool: two connections are opened at a
// time, and nobody else opens one while they are slow.
TEST(ConnectionPoolTest, AtMostMaxConnectingAreOpenedAtOnce) {
  FakeBackend backend;
  auto pool = NewPool(backend, 8, 2);
  backend.SetGate(false);
  std::vector<FakeConnection*> got(8, nullptr);
  std::vector<std::thread> callers;
  for (FakeConnection*& out : got) {
    callers.emplace_back([&pool, &out] {
      absl::StatusOr<FakeConnection*> connection = pool->Acquire();
      if (connection.ok()) out = *connection;
    });
  }
  backend.AwaitOpening(2);
  absl::SleepFor(absl::Milliseconds(50));  // room for a third to (wrongly) start
  EXPECT_EQ(backend.most_opening(), 2);
  backend.SetGate(true);
  for (std::thread& caller : callers) caller.join();
  EXPECT_EQ(backend.most_opening(), 2);
  EXPECT_EQ(backend.opened(), 8);
  for (FakeConnection* connection : got) {
    ASSERT_NE(connection, nullptr);
    pool->Release(connection, true);
  }
}

// While a connection is being opened, a caller that cannot open another
// one takes the first connection released, without opening.
TEST(ConnectionPoolTest, AWaiterTakesAReleasedConnectionInsteadOfOpening) {
  FakeBackend backend;
  auto pool = NewPool(backend, 8, 1);
  absl::StatusOr<FakeConnection*> held = pool->Acquire();  // opened: 1
  ASSERT_TRUE(held.ok());
  backend.SetGate(false);
  FakeConnection* opener_got = nullptr;
  std::thread opener([&] {
    absl::StatusOr<FakeConnection*> c = pool->Acquire();
    if (c.ok()) opener_got = *c;
  });
  backend.AwaitOpening(1);
  absl::Notification waiter_done;
  FakeConnection* waiter_got = nullptr;
  std::thread waiter([&] {
    absl::StatusOr<FakeConnection*> c = pool->Acquire();
    if (c.ok()) waiter_got = *c;
    waiter_done.Notify();
  });
  EXPECT_FALSE(
      waiter_done.WaitForNotificationWithTimeout(absl::Milliseconds(50)));
  pool->Release(*held, true);
  const bool waiter_served =
      waiter_done.WaitForNotificationWithTimeout(absl::Seconds(10));
  const int most_opening = backend.most_opening();
  backend.SetGate(true);
  opener.join();
  waiter.join();
  ASSERT_TRUE(waiter_served);
  EXPECT_EQ(waiter_got, *held);
  EXPECT_EQ(most_opening, 1);
  ASSERT_NE(opener_got, nullptr);
  EXPECT_EQ(backend.opened(), 2);
  pool->Release(opener_got, true);
  pool->Release(waiter_got, true);
}

}  // namespace
}  // namespace profile
