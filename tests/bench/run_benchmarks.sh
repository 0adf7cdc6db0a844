#!/usr/bin/env bash
# Reproduces every figure of BENCHMARKS.md: builds the benchmark targets in
# Release, runs the microbenchmarks, the memory and start-up probes, and the
# load generator against a fresh in-memory server on 127.0.0.1.
#
#   tests/bench/run_benchmarks.sh [BUILD_DIR]     # default: build-bench
#
# Environment: DURATION (per phase, default 5s), ROUNDS (compare rounds,
# default 5), IN_FLIGHT (default 64), CHANNELS (default 4), JOBS (default 1).
# The machine is shared: only the same-run ratios are meant to be compared.
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
build="${1:-$root/build-bench}"
duration="${DURATION:-5s}"
rounds="${ROUNDS:-5}"
in_flight="${IN_FLIGHT:-64}"
channels="${CHANNELS:-4}"

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j"${JOBS:-1}" --target profile_server profile_bench \
  token_store_bench code_verifier_bench phone_number_bench crypto_bench \
  token_memory server_startup >/dev/null

echo "# machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(uname -r)"
echo "# date: $(date -u +%FT%TZ)  commit: $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo none)"

echo "## microbenchmarks"
for b in token_store_bench code_verifier_bench phone_number_bench crypto_bench; do
  "$build/tests/bench/$b" --benchmark_min_time=0.5 --benchmark_repetitions=3 \
    --benchmark_report_aggregates_only=true 2>/dev/null | grep -E '_median'
done

echo "## memory and start-up"
"$build/tests/bench/token_memory" --tokens=1000000
"$build/tests/bench/server_startup" --runs=5 | tail -1

echo "## load generator"
bench="$build/client/profile_bench"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
"$build/server/profile_server" --listen="127.0.0.1:$port" \
  --test_phone_codes="$("$bench" --print_test_phone_codes)" \
  --max_verifications_per_user_per_hour=1000000 --region_breaker_min_codes=0 \
  --sms_sender=outbox:/dev/null 2>/dev/null &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null || true' EXIT
sleep 1
common=(--target="127.0.0.1:$port" --duration="$duration" --warmup=1s)
for scenario in verify flow get; do
  "$bench" "${common[@]}" --scenario=$scenario --compare --rounds="$rounds" \
    --in_flight="$in_flight" --channels="$channels"
done
# Every send creates a cooldown entry per phone and per user (a million at
# most): keep it short.
"$bench" --target="127.0.0.1:$port" --duration=2s --warmup=1s \
  --scenario=send --compare --rounds=2 --in_flight="$in_flight" \
  --channels="$channels"
echo "## one call in flight"
"$bench" "${common[@]}" --scenario=verify --compare --rounds="$rounds" \
  --in_flight=1 --channels=1
