// NoticeRelay over the in-memory outbox with a fake clock: what it sends,
// its retries with backoff, its give-up after --notice_max_age, and the
// sealed token it opens.
#include "server/notices/notice_relay.h"

#include <memory>
#include <string>
#include <vector>

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
