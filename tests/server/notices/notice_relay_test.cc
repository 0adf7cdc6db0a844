// NoticeRelay over the in-memory outbox with a fake clock: what it sends,
// its retries with backoff, its give-up after --notice_max_age, and the
// sealed token it opens.
#include "server/notices/notice_relay.h"

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/common/crypto.h"
#include "server/users/user_store.h"
#include "tests/testing/capturing_sms_sender.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/status_matchers.h"

namespace profile {
namespace {

using ::profile::testing::CapturingSmsSender;
using ::profile::testing::FakeClock;
using ::profile::testing::IsOk;
using ::testing::HasSubstr;

class CountingMetrics final : public NoticeMetrics {
 public:
  void NoticeOutcome(const char* outcome) override {
    outcomes.push_back(outcome);
  }
  std::vector<std::string> outcomes;
};

class NoticeRelayTest : public ::testing::Test {
 protected:
  NoticeRelayTest() {
    NoticeRelayOptions options;
    options.max_age = absl::Hours(1);
    relay_ = std::make_unique<NoticeRelay>(options, users_->notices(), &sms_,
                                           SmsTexts::Default(), key_,
                                           &metrics_, clock_);
  }

  // Commits a change of u1 from +8613800138001 to +8613800138002 that owes
  // the old phone a notice with `token`.
  void Change(const std::string& token) {
    ChangeRecord record;
    record.revert_token_hash = Sha256(token);
    record.revert_window = absl::Hours(168);
    record.notify = true;
    record.notice.type = NoticeType::kPhoneChanged;
    record.notice.user_id = "u1";
    record.notice.phone_e164 = "+8613800138001";
    record.notice.new_phone_e164 = "+8613800138002";
    record.notice.sealed_revert_token = Seal(key_, token);
    record.notice.request_id = "req-1";
    ASSERT_THAT(users_->ChangePhone("u1", "", "+8613800138001"), IsOk());
    ASSERT_THAT(
        users_->ChangePhone("u1", "+8613800138001", "+8613800138002", record),
        IsOk());
  }

  size_t Pending() { return users_->notices()->Backlog()->pending; }

  std::shared_ptr<FakeClock> clock_ = std::make_shared<FakeClock>();
  std::unique_ptr<UserStore> users_ = NewInMemoryUserStore(clock_);
  CapturingSmsSender sms_;
  CountingMetrics metrics_;
  const std::string key_ = std::string(32, 'k');
  std::unique_ptr<NoticeRelay> relay_;
};

TEST_F(NoticeRelayTest, SendsTheNoticeWithItsTokenOnce) {
  const std::string token(43, 'T');
  Change(token);
  EXPECT_EQ(Pending(), 1u);
  EXPECT_EQ(relay_->RunOnce(), 1u);
  const std::vector<SmsMessage> messages = sms_.sent();
  ASSERT_EQ(messages.size(), 1u);
  const SmsMessage& sent = messages[0];
  EXPECT_EQ(sent.type, SmsType::kPhoneChangedNotice);
  EXPECT_EQ(sent.phone_e164, "+8613800138001");
  EXPECT_EQ(sent.revert_token, token);
  EXPECT_EQ(sent.revert_expires_in, absl::Hours(168));
  EXPECT_EQ(sent.request_id, "req-1");
  EXPECT_THAT(sent.text, HasSubstr("+86*******8002"));
  EXPECT_THAT(sent.text, HasSubstr("within 7 days"));
  EXPECT_THAT(sent.text, HasSubstr(token));
  EXPECT_EQ(Pending(), 0u);
  EXPECT_EQ(relay_->RunOnce(), 0u);
  EXPECT_EQ(sms_.sent().size(), 1u);
  EXPECT_THAT(metrics_.outcomes, ::testing::ElementsAre("sent"));
}

TEST_F(NoticeRelayTest, RetriesWithBackoffUntilTheSenderWorks) {
  Change(std::string(43, 'T'));
  sms_.set_failing(true);
  EXPECT_EQ(relay_->RunOnce(), 1u);
  EXPECT_EQ(sms_.failed().size(), 1u);
  // Not due again at once: the first backoff is 0.8 to 1 s.
  EXPECT_EQ(relay_->RunOnce(), 0u);
  clock_->Advance(absl::Seconds(1));
  EXPECT_EQ(relay_->RunOnce(), 1u);
  // The second waits about twice as long.
  clock_->Advance(absl::Seconds(1));
  EXPECT_EQ(relay_->RunOnce(), 0u);
  clock_->Advance(absl::Seconds(1));
  EXPECT_EQ(relay_->RunOnce(), 1u);
  EXPECT_EQ(sms_.failed().size(), 3u);
  sms_.set_failing(false);
  clock_->Advance(absl::Seconds(4));
  EXPECT_EQ(relay_->RunOnce(), 1u);
  EXPECT_EQ(sms_.sent().size(), 1u);
  EXPECT_EQ(Pending(), 0u);
  EXPECT_THAT(metrics_.outcomes,
              ::testing::ElementsAre("retried", "retried", "retried", "sent"));
}

TEST_F(NoticeRelayTest, GivesUpAfterTheMaxAgeAndCountsIt) {
  Change(std::string(43, 'T'));
  sms_.set_failing(true);
  EXPECT_EQ(relay_->RunOnce(), 1u);
  EXPECT_EQ(users_->notices()->Backlog()->oldest, absl::ZeroDuration());
  clock_->Advance(absl::Minutes(61));
  EXPECT_EQ(users_->notices()->Backlog()->oldest, absl::Minutes(61));
  EXPECT_EQ(relay_->RunOnce(), 1u);
  EXPECT_EQ(Pending(), 0u);
  EXPECT_EQ(sms_.failed().size(), 1u);  // no attempt past the max age
  EXPECT_THAT(metrics_.outcomes, ::testing::ElementsAre("retried", "expired"));
}

TEST_F(NoticeRelayTest, ATokenSealedUnderAnotherKeyIsNeverSent) {
  Change(std::string(43, 'T'));
  NoticeRelay other(NoticeRelayOptions(), users_->notices(), &sms_,
                    SmsTexts::Default(), std::string(32, 'x'), &metrics_,
                    clock_);
  EXPECT_EQ(other.RunOnce(), 1u);
  EXPECT_TRUE(sms_.sent().empty());
  EXPECT_EQ(Pending(), 1u);  // kept, until it expires
}

TEST_F(NoticeRelayTest, ALeasedNoticeIsNobodyElses) {
  Change(std::string(43, 'T'));
  absl::StatusOr<std::vector<Notice>> leased =
      users_->notices()->Lease(16, absl::Seconds(15));
  ASSERT_TRUE(leased.ok());
  ASSERT_EQ(leased->size(), 1u);
  EXPECT_EQ(relay_->RunOnce(), 0u);
  clock_->Advance(absl::Seconds(15));
  EXPECT_EQ(relay_->RunOnce(), 1u);
  EXPECT_EQ(sms_.sent().size(), 1u);
}

// Forwards to a queue and counts the leases.
class CountingQueue final : public NoticeQueue {
 public:
  explicit CountingQueue(NoticeQueue* queue) : queue_(queue) {}
  absl::StatusOr<std::vector<Notice>> Lease(int max,
                                            absl::Duration lease) override {
    absl::StatusOr<std::vector<Notice>> due = queue_->Lease(max, lease);
    if (due.ok() && !due->empty()) ++leases_;
    return due;
  }
  absl::Status Delivered(absl::Span<const int64_t> ids) override {
    return queue_->Delivered(ids);
  }
  absl::Status Retry(int64_t id, absl::Duration delay) override {
    return queue_->Retry(id, delay);
  }
  absl::Status Drop(int64_t id) override { return queue_->Drop(id); }
  absl::StatusOr<NoticeBacklog> Backlog() override {
    return queue_->Backlog();
  }
  // Leases that found something.
  int leases() const { return leases_.load(); }

 private:
  NoticeQueue* const queue_;
  std::atomic<int> leases_{0};
};

// The relay's own thread, woken by changes: it waits `gather` after a
// Wake() so that a burst of changes is leased at once.
class NoticeRelayThreadTest : public NoticeRelayTest {
 protected:
  // Gives user `i` a phone and then changes it: one notice.
  void ChangeUser(int i) {
    const std::string user = absl::StrCat("u", i);
    const std::string from = absl::StrCat("+86138001381", 10 + i);
    const std::string to = absl::StrCat("+86138001382", 10 + i);
    ChangeRecord record;
    record.revert_token_hash = Sha256(user);
    record.revert_window = absl::Hours(168);
    record.notify = true;
    record.notice.type = NoticeType::kPhoneChanged;
    record.notice.user_id = user;
    record.notice.phone_e164 = from;
    record.notice.new_phone_e164 = to;
    record.notice.sealed_revert_token = Seal(key_, std::string(43, 'T'));
    ASSERT_THAT(users_->ChangePhone(user, "", from), IsOk());
    ASSERT_THAT(users_->ChangePhone(user, from, to, record), IsOk());
  }

  std::unique_ptr<NoticeRelay> ThreadRelay(absl::Duration gather) {
    NoticeRelayOptions options;
    options.poll_interval = absl::Hours(1);  // only Wake() starts a lease
    options.gather = gather;
    auto relay = std::make_unique<NoticeRelay>(options, &counting_, &sms_,
                                               SmsTexts::Default(), key_,
                                               &metrics_, clock_);
    relay->Start();
    return relay;
  }

  CountingQueue counting_{users_->notices()};
};

TEST_F(NoticeRelayThreadTest, ABurstOfChangesIsSentAfterOneLease) {
  std::unique_ptr<NoticeRelay> relay = ThreadRelay(absl::Milliseconds(500));
  // Three changes, each with its Wake(), well within the 500 ms.
  for (int i = 0; i < 3; ++i) {
    ChangeUser(i);
    relay->Wake();
  }
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (sms_.sent().size() < 3 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_EQ(sms_.sent().size(), 3u);
  EXPECT_EQ(counting_.leases(), 1);
  EXPECT_EQ(Pending(), 0u);
}

TEST_F(NoticeRelayThreadTest, StoppingWhileGatheringLosesNothing) {
  std::unique_ptr<NoticeRelay> relay = ThreadRelay(absl::Hours(1));
  ChangeUser(0);
  relay->Wake();
  absl::SleepFor(absl::Milliseconds(50));  // the thread is gathering
  relay.reset();  // returns without waiting out the hour
  EXPECT_TRUE(sms_.sent().empty());
  EXPECT_EQ(Pending(), 1u);  // for the next start, or another replica
}

TEST(NoticeRelayOptionsTest, MaxAgeIsBounded) {
  NoticeRelayOptions options;
  EXPECT_THAT(options.Validate(), IsOk());
  options.max_age = absl::Seconds(59);
  EXPECT_FALSE(options.Validate().ok());
  options.max_age = absl::Hours(721);
  EXPECT_THAT(options.Validate().message(), HasSubstr("--notice_max_age"));
}

}  // namespace
}  // namespace profile
