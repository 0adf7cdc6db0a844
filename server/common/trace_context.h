// W3C Trace Context (https://www.w3.org/TR/trace-context/): the trace a call
// belongs to, read from the caller's `traceparent` metadata, carried with
// the call (Caller, CodeRequest, SmsMessage) and written into its log lines
// as `trace_id` and `span_id`.
//
//   TraceContext trace = ParseTraceparent(
//       "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
//   // trace.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"
//   // trace.span_id == "00f067aa0ba902b7" (the caller's span)
//
// The service records no spans of its own: it passes the caller's context
// on unchanged, as the specification allows a system that does not
// participate. A network SMS provider sends `trace.Traceparent()` as the
// `traceparent` header of its outgoing requests, so the provider's side
// joins the caller's trace.
//
// Thread-safety: a plain value; the functions are pure.
#ifndef PROFILE_SERVER_COMMON_TRACE_CONTEXT_H_
#define PROFILE_SERVER_COMMON_TRACE_CONTEXT_H_

#include <string>

#include "absl/strings/string_view.h"

namespace profile {

struct TraceContext {
  // 32 lowercase hex digits, not all zero; empty when the call has no
  // (well-formed) trace.
  std::string trace_id;
  // The caller's span: 16 lowercase hex digits, not all zero; empty with
  // trace_id.
  std::string span_id;
  // The trace flags, 2 lowercase hex digits ("01": sampled).
  std::string flags;

  // Returns true if the call carries a trace.
  bool has_trace() const { return !trace_id.empty(); }

  // Returns the `traceparent` value to send on an outgoing request,
  // "00-<trace_id>-<span_id>-<flags>", or "" without a trace.
  std::string Traceparent() const;
};

// Parses a `traceparent` value of version 00: exactly 55 characters,
// "00-" 32 hex "-" 16 hex "-" 2 hex, lowercase, with a non-zero trace-id and
// parent-id. Anything else (another version, uppercase, all-zero ids, extra
// characters) yields an empty TraceContext: a malformed trace is ignored,
// never an error.
TraceContext ParseTraceparent(absl::string_view value);

}  // namespace profile

#endif  // PROFILE_SERVER_COMMON_TRACE_CONTEXT_H_
