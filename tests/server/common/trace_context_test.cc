#include "server/common/trace_context.h"

#include <string>

#include "gtest/gtest.h"

namespace profile {
namespace {

// The specification's own example.
constexpr char kTraceparent[] =
    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

TEST(ParseTraceparentTest, ReadsAWellFormedVersion00Value) {
  const TraceContext trace = ParseTraceparent(kTraceparent);
  ASSERT_TRUE(trace.has_trace());
  EXPECT_EQ(trace.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(trace.span_id, "00f067aa0ba902b7");
  EXPECT_EQ(trace.flags, "01");
  EXPECT_EQ(trace.Traceparent(), kTraceparent);
}

TEST(ParseTraceparentTest, AnyFlagsAreKept) {
  const TraceContext trace = ParseTraceparent(
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");
  ASSERT_TRUE(trace.has_trace());
  EXPECT_EQ(trace.flags, "00");
}

TEST(ParseTraceparentTest, MalformedValuesAreIgnored) {
  const std::string good = kTraceparent;
  for (const std::string& value : {
           std::string(),
           std::string("00"),
           good.substr(0, 54),                                   // 54 chars
           good + "-",                                           // 56 chars
           good + "-extra",                                      // later version form
           "01" + good.substr(2),                                // version 01
           "ff" + good.substr(2),                                // version ff
           std::string("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"),
           std::string("00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01"),
           std::string("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0A"),
           std::string("00-00000000000000000000000000000000-00f067aa0ba902b7-01"),
           std::string("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"),
           std::string("00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01"),
           std::string("00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
           std::string("00-4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7-01"),
           std::string("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7_01"),
           std::string(" 0-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
           std::string("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-\n1"),
           std::string("00-4bf92f3577b34da6a3ce929d0e0e47\0" "6-00f067aa0ba902b7-01",
                       55),
       }) {
    const TraceContext trace = ParseTraceparent(value);
    EXPECT_FALSE(trace.has_trace()) << "[" << value << "]";
    EXPECT_EQ(trace.span_id, "") << "[" << value << "]";
    EXPECT_EQ(trace.Traceparent(), "") << "[" << value << "]";
  }
}

}  // namespace
}  // namespace profile
