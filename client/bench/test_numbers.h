// The users and test numbers profile_bench calls with, and the server's
// --test_phone_codes value that makes those numbers verifiable.
//
//   std::string codes = TestPhoneCodes(1024, "246810");  // for the server
//   v1::UpdatePhoneVerificationRequest request;
//   SetVerification(FlowNumber(2 * i), "246810", &request);  // user i's first
//   SetOldPhone(FlowNumber(2 * i + 1), "246810", &request);  // if it has one
//
// Test numbers: +86 137 0000 0000 for verify; +86 139 0000 0000 + j for the
// flow users, two each (2i and 2i + 1 for user i).
//
// Thread-safety: plain functions and constants, safe anywhere.
#ifndef PROFILE_CLIENT_BENCH_TEST_NUMBERS_H_
#define PROFILE_CLIENT_BENCH_TEST_NUMBERS_H_

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "profile/v1/profile.pb.h"

namespace profile::bench {

inline constexpr char kCountryCode[] = "+86";
inline constexpr char kVerifyNumber[] = "13700000000";

// Returns the national number of the flow users' test number `j`.
std::string FlowNumber(int j);

// Returns user `i` of a kind: `kind`, then `i` in 18 digits, 24 characters
// in all when `kind` has 6, like the hexadecimal ids of an identity
// platform.
std::string UserId(absl::string_view kind, int64_t i);

// Sets `request` to verify the test number `number` (national, +86) with
// `pass_code`.
void SetVerification(absl::string_view number, absl::string_view pass_code,
                     v1::UpdatePhoneVerificationRequest* request);

// Sets the old-phone fields of `request`: proof that the caller holds the
// test number `number` (national, +86), which a server with
// --verify_old_phone (the default) asks of an account that has a phone. A
// server reads them only then, so they may be sent whenever the caller's
// phone, if it has one, is `number`.
void SetOldPhone(absl::string_view number, absl::string_view pass_code,
                 v1::UpdatePhoneVerificationRequest* request);

// Returns the server's --test_phone_codes value for the verify number and
// the two numbers of each of `flow_users` users, all with `code`.
std::string TestPhoneCodes(int flow_users, const std::string& code);

}  // namespace profile::bench

#endif  // PROFILE_CLIENT_BENCH_TEST_NUMBERS_H_
