#!/usr/bin/env bash
# The hardening runs of issue 6, after the normal build and tests:
#   1. the whole test suite under AddressSanitizer + UndefinedBehaviorSanitizer
#      (build-asan), with the fuzz targets' seed corpora replayed once;
#   2. the store, validator and connection pool tests under ThreadSanitizer
#      (build-tsan);
#   3. each libFuzzer target for FUZZ_SECONDS on its seed corpus, JOBS of
#      them at a time.
# build-asan is one clang tree for 1 and 3: every library is compiled with
# -fsanitize=fuzzer-no-link,address,undefined (-DPROFILE_FUZZ=ON), which the
# fuzz targets need and the test suite runs under as well, so the fuzz
# targets cost three more objects rather than a fourth build.
# Debian's gRPC, protobuf and absl are not instrumented; what that means and
# the few suppressions it needs: tests/sanitizers/.
#
#   tests/run_hardening.sh            # everything, as CI runs it
#   JOBS=1 FUZZ_SECONDS=10 tests/run_hardening.sh fuzz   # one stage
#
# JOBS: compile jobs (default 2); TEST_JOBS: tests that ctest runs at once
# (default: twice JOBS, as most tests spend their time waiting on servers).
#
# Stages: asan, tsan, fuzz (default: all three). Exits non-zero on the first
# failure; prints the time of each stage.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo=$(pwd)
jobs=${JOBS:-2}
test_jobs=${TEST_JOBS:-$((2 * jobs))}
fuzz_seconds=${FUZZ_SECONDS:-30}
stages=("$@")
((${#stages[@]})) || stages=(asan tsan fuzz)

supp="$repo/tests/sanitizers"
export ASAN_OPTIONS="detect_leaks=1:strict_init_order=1:detect_stack_use_after_return=1"
export LSAN_OPTIONS="suppressions=$supp/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:suppressions=$supp/ubsan.supp"
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$supp/tsan.supp"

stage_start=0
begin() { echo "=== hardening: $1"; stage_start=$SECONDS; }
end() { echo "=== hardening: $1 passed in $((SECONDS - stage_start)) s"; }

tsan_tests=(token_store_test code_store_test code_verifier_test
  send_limiter_test user_store_test connection_pool_test
  idempotency_store_test)
fuzzers=(phone_number_fuzzer token_fuzzer phone_change_fuzzer)

# The sanitizer trees keep -O2 but their debug information is line tables
# only (-gline-tables-only, -g1): all that their reports use, and a test
# compiles in a sixth (clang) to a quarter (GCC) less time than with -g.

# The ASan + UBSan tree, which also holds the fuzz targets.
configure_asan() {
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -gline-tables-only -DNDEBUG" \
    -DCMAKE_CXX_COMPILER=clang++ -DPROFILE_SANITIZE=address \
    -DPROFILE_FUZZ=ON >/dev/null
}

for stage in "${stages[@]}"; do
  case "$stage" in
    asan)
      begin "ASan+UBSan, whole suite"
      configure_asan
      cmake --build build-asan -j"$jobs"
      # deploy_dockerfile_test checks that the runtime image provides every
      # library the release profile_server loads; an instrumented one also
      # loads libasan and libubsan, which no image carries. It runs in the
      # normal tree.
      ctest --test-dir build-asan --output-on-failure -j"$test_jobs" \
        -E '^deploy_dockerfile_test$'
      end asan
      ;;
    tsan)
      begin "TSan, stores and validators"
      cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG" \
        -DPROFILE_SANITIZE=thread >/dev/null
      cmake --build build-tsan -j"$jobs" --target "${tsan_tests[@]}"
      regex="^($(IFS='|'; echo "${tsan_tests[*]}"))\$"
      ctest --test-dir build-tsan --output-on-failure -j"$test_jobs" \
        -R "$regex"
      end tsan
      ;;
    fuzz)
      begin "libFuzzer, ${fuzz_seconds} s per target"
      # Already built by the asan stage when it ran.
      configure_asan
      cmake --build build-asan -j"$jobs" --target profile_fuzzers
      out=build-asan/fuzz
      mkdir -p "$out/artifacts"
      # JOBS targets at a time, each single-threaded on a CPU of its own for
      # its FUZZ_SECONDS; a target's exit status goes to $out/<target>.rc.
      running=0
      for fuzzer in "${fuzzers[@]}"; do
        if ((running >= jobs)); then
          wait -n
          running=$((running - 1))
        fi
        # New inputs go to $out/corpus (the first directory); the seeds in
        # the repository are only read.
        mkdir -p "$out/corpus/$fuzzer"
        rm -f "$out/$fuzzer.rc"
        (
          rc=0
          "build-asan/tests/fuzz/$fuzzer" -max_total_time="$fuzz_seconds" \
            -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
            -artifact_prefix="$out/artifacts/$fuzzer-" \
            "$out/corpus/$fuzzer" "tests/fuzz/corpus/$fuzzer" \
            >"$out/$fuzzer.log" 2>&1 || rc=$?
          echo "$rc" >"$out/$fuzzer.rc"
        ) &
        running=$((running + 1))
      done
      wait
      failed=0
      for fuzzer in "${fuzzers[@]}"; do
        echo "--- $fuzzer"
        # Progress lines ("#1234 NEW ...") are left in the log file.
        grep -v '^#[0-9]' "$out/$fuzzer.log" | tail -n 40 || true
        rc=$(cat "$out/$fuzzer.rc")
        if ((rc != 0)); then
          echo "$fuzzer failed (exit $rc); failing inputs:" \
            "$out"/artifacts/"$fuzzer"-* >&2
          failed=1
        fi
      done
      ((failed == 0)) || exit 1
      end fuzz
      ;;
    *) echo "usage: $0 [asan] [tsan] [fuzz]" >&2; exit 2 ;;
  esac
done
