// FlowUsers: the --flow_users users of the flow and get scenarios, each
// owning two test numbers (FlowNumber(2i) and FlowNumber(2i + 1) for user
// i), and which of the two each changes to next.
//
//   FlowUsers users(options, &connections);
//   absl::Status ready = users.Prepare(/*give_phones=*/false);
//   FlowUsers::User& user = users.Next(chain);
//   ... verify and update to FlowNumber(user.next_number) ...
//   user.next_number ^= 1;  // once the phone has changed
//
// Users are dealt to the chains in turn (user i to chain i % chains), so a
// user is only ever used by one chain.
//
// Thread-safety: Prepare() runs alone; after it, Next() and the User it
// returns may be used by the chain they belong to, from any thread, without
// a lock.
#ifndef PROFILE_CLIENT_BENCH_FLOW_USERS_H_
#define PROFILE_CLIENT_BENCH_FLOW_USERS_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "client/bench/bench_options.h"
#include "client/bench/connections.h"

namespace profile::bench {

class FlowUsers {
 public:
  struct User {
    std::string id;
    int next_number = 0;  // the argument of FlowNumber()
  };

  // REQUIRES: `options` and `connections` outlive the FlowUsers.
  FlowUsers(const BenchOptions& options, Connections* connections);

  FlowUsers(const FlowUsers&) = delete;
  FlowUsers& operator=(const FlowUsers&) = delete;

  // Makes the users, learns where a previous run left each of them and,
  // with `give_phones`, gives a phone to each that has none. Returns why it
  // could not, for the user to read (it names --test_phone_codes).
  // REQUIRES: Connections::Connect() returned true; called once.
  absl::Status Prepare(bool give_phones);

  // Returns chain `chain`'s users in turn.
  // REQUIRES: Prepare() returned OK.
  User& Next(int chain);

 private:
  // The users, and which of them each chain uses next.
  struct Chain {
    std::vector<User*> users;
    size_t next = 0;
  };

  // Prepare() but for the wording of its error.
  absl::Status MakeUsers(bool give_phones);
  // Blocking verify + update, to give `user` its next number.
  absl::Status ChangePhone(User& user);

  const BenchOptions& options_;
  Connections* const connections_;
  std::vector<User> users_;
  std::vector<Chain> chains_;
};

}  // namespace profile::bench

#endif  // PROFILE_CLIENT_BENCH_FLOW_USERS_H_
