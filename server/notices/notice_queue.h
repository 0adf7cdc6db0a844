// NoticeQueue: the transactional outbox of the notices a phone change owes.
//
// A change that replaces a phone owes the old phone a notice, with a revert
// token; a revert owes the number it unlinks one too. The user store writes
// the notice together with the change (in PostgreSQL, in the same
// transaction), so no acknowledged change exists without its notice. The
// relay (notice_relay.h) then delivers what is queued:
//
//   std::vector<Notice> due = *queue->Lease(16, absl::Seconds(60));
//   std::vector<int64_t> sent;
//   for (const Notice& notice : due) {
//     if (Send(notice).ok()) sent.push_back(notice.id);
//     else queue->Retry(notice.id, absl::Seconds(4));
//   }
//   queue->Delivered(sent);
//
// A leased notice is handed to no one else until its lease ends, so
// replicas sharing a queue send each notice once in the normal case (a
// replica that dies mid-send leaves it to be sent again after the lease).
//
// Thread-safety: implementations are safe to call concurrently.
#ifndef PROFILE_SERVER_NOTICES_NOTICE_QUEUE_H_
#define PROFILE_SERVER_NOTICES_NOTICE_QUEUE_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "absl/time/time.h"
#include "server/common/language.h"

namespace profile {

enum class NoticeType {
  // To the phone a change replaced; carries a revert token.
  kPhoneChanged,
  // To the number a revert unlinked.
  kPhoneUnlinked,
};

// Returns "phone_changed_notice" or "phone_unlinked_notice".
const char* NoticeTypeName(NoticeType type);

struct Notice {
  // Assigned by the queue.
  int64_t id = 0;
  NoticeType type = NoticeType::kPhoneChanged;
  std::string user_id;
  // Who receives it.
  std::string phone_e164;
  Language language = Language::kEnglish;
  // kPhoneChanged: the number the account has now (masked in the text).
  std::string new_phone_e164;
  // kPhoneChanged: the revert token, sealed (crypto.h Seal()) under the
  // outbox key: where notices wait, the token cannot be read.
  std::string sealed_revert_token;
  // kPhoneChanged: when the revert token expires.
  absl::Time revert_expires_at = absl::InfinitePast();
  // When the change that owes it was committed.
  absl::Time created_at = absl::InfinitePast();
  // Delivery attempts so far, this lease's included.
  int attempts = 0;
  // The request that made the change.
  std::string request_id;
};

// What waits to be delivered.
struct NoticeBacklog {
  size_t pending = 0;
  // How long the oldest pending notice has waited; zero for none.
  absl::Duration oldest = absl::ZeroDuration();
};

class NoticeQueue {
 public:
  virtual ~NoticeQueue() = default;

  // Returns up to `max` notices that are due (their retry time passed and
  // nobody holds them), oldest first, and holds them for `lease`.
  virtual absl::StatusOr<std::vector<Notice>> Lease(int max,
                                                    absl::Duration lease) = 0;

  // The notices were handed to the SMS chain: forgets them (and their
  // sealed tokens), all at once (in PostgreSQL, one statement: one commit
  // for a batch rather than one per notice).
  virtual absl::Status Delivered(absl::Span<const int64_t> ids) = 0;

  // The notice could not be sent: due again `delay` from now.
  virtual absl::Status Retry(int64_t id, absl::Duration delay) = 0;

  // The notice waited too long (--notice_max_age): forgets it unsent.
  virtual absl::Status Drop(int64_t id) = 0;

  // Returns what waits.
  virtual absl::StatusOr<NoticeBacklog> Backlog() = 0;
};

}  // namespace profile

#endif  // PROFILE_SERVER_NOTICES_NOTICE_QUEUE_H_
