// ThreadSanitizer annotations for Debian's uninstrumented Abseil.
//
// Debian's libabsl_synchronization is not built with -fsanitize=thread, so
// TSan cannot see absl::Mutex (its own atomics and futex calls) establish
// happens-before: every access guarded by an absl::Mutex would be reported
// as a race. Linked into the TSan test binaries only (tests/CMakeLists.txt),
// this file interposes the Mutex, CondVar and Notification entry points,
// calls Debian's implementation, and tells TSan what it did:
// acquire after taking a lock, release before giving it up. No race report
// is suppressed; TSan simply learns the synchronization that exists.
#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/base/options.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"

extern "C" void __tsan_acquire(void* addr);
extern "C" void __tsan_release(void* addr);

namespace {

#define PROFILE_STR2(x) #x
#define PROFILE_STR(x) PROFILE_STR2(x)

// "_ZN4absl<len><inline namespace>" + rest: the mangled name in Debian's
// library, whatever its inline namespace is called.
template <typename Fn>
Fn Original(const char* rest) {
  const std::string ns = PROFILE_STR(ABSL_OPTION_INLINE_NAMESPACE_NAME);
  const std::string name =
      std::string(rest[0] == 'K' ? "_ZNK4absl" : "_ZN4absl") +
      std::to_string(ns.size()) + ns + (rest[0] == 'K' ? rest + 1 : rest);
  void* fn = dlsym(RTLD_NEXT, name.c_str());
  if (fn == nullptr) {
    std::fprintf(stderr, "tsan_absl_mutex: %s not found\n", name.c_str());
    std::abort();
  }
  return reinterpret_cast<Fn>(fn);
}

// absl::Mutex evaluates a Condition inside the library, holding the mutex
// it took there, and sometimes in the thread that unlocks on a waiter's
// behalf. Every Condition handed to the library is wrapped so that TSan sees
// (1) the waiter hand the condition to whichever thread evaluates it: the
// waiter releases on the wrapper before passing it on, the evaluator
// acquires it; and (2) the evaluation as a critical section of the mutex.
// The wrapping Condition is built with the library's own (uninstrumented)
// void* constructor, so its fields are written and read out of TSan's view.
struct AnnotatedCondition {
  const absl::Condition* cond;
  absl::Mutex* mu;
};

bool EvalAnnotated(void* arg) {
  __tsan_acquire(arg);
  const auto* c = static_cast<const AnnotatedCondition*>(arg);
  __tsan_acquire(c->mu);
  const bool met = c->cond->Eval();
  __tsan_release(c->mu);
  return met;
}

absl::Condition Annotate(AnnotatedCondition& annotated) {
  __tsan_release(&annotated);
  return absl::Condition(&EvalAnnotated, static_cast<void*>(&annotated));
}

}  // namespace

namespace absl {
ABSL_NAMESPACE_BEGIN

void Mutex::Lock() {
  static auto original = Original<void (*)(Mutex*)>("5Mutex4LockEv");
  original(this);
  __tsan_acquire(this);
}
void Mutex::ReaderLock() {
  static auto original = Original<void (*)(Mutex*)>("5Mutex10ReaderLockEv");
  original(this);
  __tsan_acquire(this);
}
void Mutex::Unlock() {
  static auto original = Original<void (*)(Mutex*)>("5Mutex6UnlockEv");
  __tsan_release(this);
  original(this);
}
void Mutex::ReaderUnlock() {
  static auto original = Original<void (*)(Mutex*)>("5Mutex12ReaderUnlockEv");
  __tsan_release(this);
  original(this);
}
bool Mutex::TryLock() {
  static auto original = Original<bool (*)(Mutex*)>("5Mutex7TryLockEv");
  const bool locked = original(this);
  if (locked) __tsan_acquire(this);
  return locked;
}
bool Mutex::ReaderTryLock() {
  static auto original = Original<bool (*)(Mutex*)>("5Mutex13ReaderTryLockEv");
  const bool locked = original(this);
  if (locked) __tsan_acquire(this);
  return locked;
}
void Mutex::LockWhen(const Condition& cond) {
  static auto original = Original<void (*)(Mutex*, const Condition&)>(
      "5Mutex8LockWhenERKNS0_9ConditionE");
  AnnotatedCondition annotated{&cond, this};
  original(this, Annotate(annotated));
  __tsan_acquire(this);
}
void Mutex::ReaderLockWhen(const Condition& cond) {
  static auto original = Original<void (*)(Mutex*, const Condition&)>(
      "5Mutex14ReaderLockWhenERKNS0_9ConditionE");
  AnnotatedCondition annotated{&cond, this};
  original(this, Annotate(annotated));
  __tsan_acquire(this);
}
void Mutex::Await(const Condition& cond) {
  static auto original = Original<void (*)(Mutex*, const Condition&)>(
      "5Mutex5AwaitERKNS0_9ConditionE");
  __tsan_release(this);
  AnnotatedCondition annotated{&cond, this};
  original(this, Annotate(annotated));
  __tsan_acquire(this);
}
bool Mutex::AwaitWithTimeout(const Condition& cond, Duration timeout) {
  static auto original =
      Original<bool (*)(Mutex*, const Condition&, Duration)>(
          "5Mutex16AwaitWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  __tsan_release(this);
  AnnotatedCondition annotated{&cond, this};
  const bool met =
      original(this, Annotate(annotated), timeout);
  __tsan_acquire(this);
  return met;
}
bool Mutex::LockWhenWithTimeout(const Condition& cond, Duration timeout) {
  static auto original =
      Original<bool (*)(Mutex*, const Condition&, Duration)>(
          "5Mutex19LockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  AnnotatedCondition annotated{&cond, this};
  const bool met =
      original(this, Annotate(annotated), timeout);
  __tsan_acquire(this);
  return met;
}
bool Mutex::LockWhenWithDeadline(const Condition& cond, Time deadline) {
  static auto original = Original<bool (*)(Mutex*, const Condition&, Time)>(
      "5Mutex20LockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  AnnotatedCondition annotated{&cond, this};
  const bool met =
      original(this, Annotate(annotated), deadline);
  __tsan_acquire(this);
  return met;
}
void CondVar::Wait(Mutex* mu) {
  static auto original = Original<void (*)(CondVar*, Mutex*)>(
      "7CondVar4WaitEPNS0_5MutexE");
  __tsan_release(mu);
  original(this, mu);
  __tsan_acquire(mu);
}
bool CondVar::WaitWithTimeout(Mutex* mu, Duration timeout) {
  static auto original = Original<bool (*)(CondVar*, Mutex*, Duration)>(
      "7CondVar15WaitWithTimeoutEPNS0_5MutexENS0_8DurationE");
  __tsan_release(mu);
  const bool timed_out = original(this, mu, timeout);
  __tsan_acquire(mu);
  return timed_out;
}
void Notification::Notify() {
  static auto original =
      Original<void (*)(Notification*)>("12Notification6NotifyEv");
  __tsan_release(this);
  original(this);
}
void Notification::WaitForNotification() const {
  static auto original = Original<void (*)(const Notification*)>(
      "K12Notification19WaitForNotificationEv");
  original(this);
  __tsan_acquire(const_cast<Notification*>(this));
}
bool Notification::WaitForNotificationWithTimeout(Duration timeout) const {
  static auto original =
      Original<bool (*)(const Notification*, Duration)>(
          "K12Notification30WaitForNotificationWithTimeoutENS0_8DurationE");
  const bool notified = original(this, timeout);
  if (notified) __tsan_acquire(const_cast<Notification*>(this));
  return notified;
}

ABSL_NAMESPACE_END
}  // namespace absl

namespace {

// Debian's absl runs its mutex deadlock detector, whose global lock graph is
// guarded by an internal SpinLock these wrappers cannot reach: TSan would
// report the graph's own updates (memmove inside GraphCycles::InsertEdge)
// as races. The detector is a debugging aid of absl, not code under test;
// it is off in the TSan binaries only.
const bool kDeadlockDetectionOff = [] {
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  return true;
}();

}  // namespace
