#include "client/bench/flow_users.h"

#include "absl/strings/str_cat.h"
#include "client/bench/test_numbers.h"
#include "profile/v1/profile.grpc.pb.h"

namespace profile::bench {
namespace {

// The status of a failed call, its message prefixed with `what`.
absl::Status CallError(absl::string_view what, const grpc::Status& status) {
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      absl::StrCat(what, ": ", status.error_message()));
}

}  // namespace

FlowUsers::FlowUsers(const BenchOptions& options, Connections* connections)
    : options_(options),
      connections_(connections),
      chains_(ChainCount(options)) {}

absl::Status FlowUsers::Prepare(bool give_phones) {
  absl::Status status = MakeUsers(give_phones);
  if (status.ok()) return status;
  return absl::Status(
      status.code(),
      absl::StrCat("preparing the flow users: ", status.message(),
                   " (does the server have --test_phone_codes from "
                   "--print_test_phone_codes?)"));
}

absl::Status FlowUsers::MakeUsers(bool give_phones) {
  if (options_.flow_users < static_cast<int>(chains_.size())) {
    return absl::InvalidArgumentError(
        "--flow_users must be at least --in_flight");
  }
  users_.resize(options_.flow_users);
  // Learn where a previous run left each user.
  for (int i = 0; i < options_.flow_users; ++i) {
    User& user = users_[i];
    user.id = UserId("65f1b0", i);
    user.next_number = 2 * i;
    v1::GetProfileResponse response;
    grpc::Status status = connections_->profile(0)->GetProfile(
        connections_->NewContext(user.id).get(), v1::GetProfileRequest(),
        &response);
    if (!status.ok()) {
      return CallError(absl::StrCat("GetProfile of ", user.id), status);
    }
    const std::string& number = response.data().phone_number();
    if (number == FlowNumber(2 * i)) {
      user.next_number = 2 * i + 1;
    } else if (!number.empty() && number != FlowNumber(2 * i + 1)) {
      return absl::FailedPreconditionError(
          absl::StrCat(user.id, " has an unexpected phone ", number));
    }
  }
  for (size_t i = 0; i < users_.size(); ++i) {
    chains_[i % chains_.size()].users.push_back(&users_[i]);
  }
  if (give_phones) {
    for (User& user : users_) {
      // An odd next number: the user has its first number already.
      if (user.next_number % 2 == 1) continue;
      if (absl::Status status = ChangePhone(user); !status.ok()) return status;
    }
  }
  return absl::OkStatus();
}

absl::Status FlowUsers::ChangePhone(User& user) {
  v1::UpdatePhoneVerificationRequest verify;
  SetVerification(FlowNumber(user.next_number), options_.pass_code, &verify);
  // The user's phone is the other number, or none (then it is not read).
  SetOldPhone(FlowNumber(user.next_number ^ 1), options_.pass_code, &verify);
  v1::UpdatePhoneVerificationResponse verified;
  grpc::Status status = connections_->profile(0)->UpdatePhoneVerification(
      connections_->NewContext(user.id).get(), verify, &verified);
  if (!status.ok()) return CallError("verify", status);
  v1::UpdatePhoneRequest update;
  update.set_update_phone_token(verified.data().update_phone_token());
  v1::CommonResponse updated;
  status = connections_->profile(0)->UpdatePhone(
      connections_->NewContext(user.id).get(), update, &updated);
  if (!status.ok()) return CallError("update", status);
  user.next_number ^= 1;
  return absl::OkStatus();
}

FlowUsers::User& FlowUsers::Next(int chain) {
  Chain& c = chains_[chain];
  return *c.users[c.next++ % c.users.size()];
}

}  // namespace profile::bench
