#!/usr/bin/env bash
# Every test, as the README's test command (and so CI) runs them, after
# `deploy/install-deps.sh --test`:
#   gcc   the normal tree (build/, GCC, RelWithDebInfo): the whole suite;
#   asan  the whole suite under AddressSanitizer + UndefinedBehaviorSanitizer
#         (build-asan, clang), with the fuzz targets' seed corpora replayed
#         once;
#   tsan  the store, validator and connection pool tests under
#         ThreadSanitizer (build-tsan, GCC);
#   fuzz  each libFuzzer target for FUZZ_SECONDS on its seed corpus, JOBS of
#         them at a time.
# build-asan is one clang tree for asan and fuzz: every library is compiled
# with -fsanitize=fuzzer-no-link,address,undefined (-DPROFILE_FUZZ=ON), which
# the fuzz targets need and the test suite runs under as well, so the fuzz
# targets cost three more objects rather than a fourth build.
# Debian's gRPC, protobuf and absl are not instrumented; what that means and
# the few suppressions it needs: tests/sanitizers/.
#
# The stages overlap: while one stage's tests run, the next stage's tree is
# built at nice 19, so it takes only the CPU the tests leave idle (most of
# them wait on servers) and the tests keep their priority.
#
#   tests/run_all.sh                      # everything, as CI runs it
#   JOBS=1 FUZZ_SECONDS=10 tests/run_all.sh fuzz   # one stage
#
# JOBS: compile jobs (default: the CPUs); TEST_JOBS: tests that ctest runs at
# once (default: twice JOBS, as most tests spend their time waiting on
# servers). New trees use Ninja unless CMAKE_GENERATOR says otherwise; an
# existing tree keeps its generator.
#
# Exits non-zero on the first failure; prints the time of each stage.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo=$(pwd)
jobs=${JOBS:-$(nproc)}
test_jobs=${TEST_JOBS:-$((2 * jobs))}
fuzz_seconds=${FUZZ_SECONDS:-30}
export CMAKE_GENERATOR=${CMAKE_GENERATOR:-Ninja}
stages=("$@")
((${#stages[@]})) || stages=(gcc asan tsan fuzz)

supp="$repo/tests/sanitizers"
export ASAN_OPTIONS="detect_leaks=1:strict_init_order=1:detect_stack_use_after_return=1"
export LSAN_OPTIONS="suppressions=$supp/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:suppressions=$supp/ubsan.supp"
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$supp/tsan.supp"

tsan_tests=(token_store_test code_store_test code_verifier_test
  send_limiter_test user_store_test connection_pool_test
  idempotency_store_test)
fuzzers=(phone_number_fuzzer token_fuzzer phone_change_fuzzer)

# Debug information is line tables only (-g1, -gline-tables-only): all that
# test failures and sanitizer reports use, and a test compiles in a sixth
# (clang) to a quarter (GCC) less time than with -g.

# build_<stage> configures and builds what the stage runs; test_<stage>
# runs it.
build_gcc() {
  cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG" >/dev/null
  cmake --build build -j"$jobs"
}
test_gcc() {
  ctest --test-dir build --output-on-failure -j"$test_jobs"
}

# The ASan + UBSan tree, which also holds the fuzz targets.
configure_asan() {
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -gline-tables-only -DNDEBUG" \
    -DCMAKE_CXX_COMPILER=clang++ -DPROFILE_SANITIZE=address \
    -DPROFILE_FUZZ=ON >/dev/null
}
build_asan() {
  configure_asan
  cmake --build build-asan -j"$jobs"
}
test_asan() {
  # deploy_dockerfile_test checks that the runtime image provides every
  # library the release profile_server loads; an instrumented one also
  # loads libasan and libubsan, which no image carries. It runs in the
  # normal tree.
  ctest --test-dir build-asan --output-on-failure -j"$test_jobs" \
    -E '^deploy_dockerfile_test$'
}

build_tsan() {
  cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG" \
    -DPROFILE_SANITIZE=thread >/dev/null
  cmake --build build-tsan -j"$jobs" --target "${tsan_tests[@]}"
}
test_tsan() {
  local regex
  regex="^($(IFS='|'; echo "${tsan_tests[*]}"))\$"
  ctest --test-dir build-tsan --output-on-failure -j"$test_jobs" -R "$regex"
}

# Built in the asan tree: nothing to do after build_asan.
build_fuzz() {
  configure_asan
  cmake --build build-asan -j"$jobs" --target profile_fuzzers
}
test_fuzz() {
  local out=build-asan/fuzz running=0 failed=0 fuzzer rc
  mkdir -p "$out/artifacts"
  # JOBS targets at a time, each single-threaded on a CPU of its own for
  # its FUZZ_SECONDS; a target's exit status goes to $out/<target>.rc.
  for fuzzer in "${fuzzers[@]}"; do
    if ((running >= jobs)); then
      wait -n
      running=$((running - 1))
    fi
    # New inputs go to $out/corpus (the first directory); the seeds in the
    # repository are only read.
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
  ((failed == 0))
}

for stage in "${stages[@]}"; do
  case "$stage" in
    gcc | asan | tsan | fuzz) ;;
    *) echo "usage: $0 [gcc] [asan] [tsan] [fuzz]" >&2; exit 2 ;;
  esac
done

started=$SECONDS
logs=$(mktemp -d)
# The next stage's build, started in the background at nice 19 while this
# stage's tests run; its output goes to a log, shown if it fails.
background_pid=""
background_stage=""
start_background_build() {
  background_stage=$1
  echo "=== $1: building in the background (nice 19) while tests run"
  (
    renice -n 19 -p "$BASHPID" >/dev/null
    start=$SECONDS
    "build_$1"
    echo "=== $1: background build done in $((SECONDS - start)) s"
  ) >"$logs/$1.log" 2>&1 &
  background_pid=$!
}
finish_background_build() {
  [[ -n "$background_pid" ]] || return 0
  if ! wait "$background_pid"; then
    background_pid=""
    tail -n 100 "$logs/$background_stage.log" >&2
    echo "=== $background_stage: build failed" >&2
    exit 1
  fi
  background_pid=""
  tail -n 1 "$logs/$background_stage.log"
}
# A failing stage must not leave the next one's build running.
kill_tree() {
  local child
  for child in $(pgrep -P "$1"); do kill_tree "$child"; done
  kill "$1" 2>/dev/null || true
}
cleanup() {
  [[ -z "$background_pid" ]] || kill_tree "$background_pid"
  rm -rf "$logs"
}
trap cleanup EXIT

for i in "${!stages[@]}"; do
  stage=${stages[$i]}
  stage_start=$SECONDS
  if [[ "$background_stage" != "$stage" ]]; then
    echo "=== $stage: build"
    "build_$stage"
    echo "=== $stage: build done in $((SECONDS - stage_start)) s"
  fi
  background_stage=""
  next=${stages[$((i + 1))]:-}
  # The fuzz targets keep both CPUs busy, and their tree is asan's.
  if [[ -n "$next" && "$stage" != fuzz && "$next" != fuzz ]]; then
    start_background_build "$next"
  fi
  test_start=$SECONDS
  echo "=== $stage: tests"
  "test_$stage"
  echo "=== $stage: tests passed in $((SECONDS - test_start)) s"
  finish_background_build
done
echo "=== all stages passed in $((SECONDS - started)) s"
