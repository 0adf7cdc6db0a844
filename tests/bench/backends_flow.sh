#!/usr/bin/env bash
# The full flow (verify, then spend the token) on Redis + PostgreSQL against
# the in-memory default, in the same run: both servers up at once, the two
# measured alternately, and the median of each printed with their ratio.
#
#   tests/bench/backends_flow.sh [build-dir] [rounds] [seconds]
#
# Each line also gives the CPU time per flow of the server and, for the
# backends run, of PostgreSQL (all its processes) and Redis: the throughput
# of a shared machine swings, the CPU each part spends per flow does not.
#
# PROFILE=1 adds one more run of the backends server, after which it
# prints where a flow's backend time goes: each Redis command's calls and
# microseconds per flow (INFO commandstats) and each PostgreSQL statement's
# calls and execution time per flow (pg_stat_statements), and, with perf,
# where the server's own CPU goes: by thread and library, and by system call.
#
# Starts its own Redis and PostgreSQL (PostgreSQL as the postgres user when
# run as root) on loopback ports in a temporary directory, and removes them.
set -euo pipefail
build=${1:-build}
rounds=${2:-3}
seconds=${3:-5}
bench=$build/client/profile_bench
server=$build/server/profile_server
pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
dir=$(mktemp -d /tmp/profile_flow_bench_XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  [ -f "$dir/data/postmaster.pid" ] && as_postgres "$pg_bin/pg_ctl" -D "$dir/data" -m fast stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT
as_postgres() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
source "$(dirname "${BASH_SOURCE[0]}")/bench_lib.sh"

[ "$(id -u)" = 0 ] && chown postgres "$dir"
redis_port=$(free_port); pg_port=$(free_port)
redis-server --bind 127.0.0.1 --port "$redis_port" --save "" --appendonly no --dir "$dir" >/dev/null &
redis_pid=$!
pids+=($redis_pid)
as_postgres "$pg_bin/initdb" -D "$dir/data" -U postgres --auth=trust >/dev/null
pg_options=${PG_OPTIONS:-}
if [ "${PROFILE:-0}" = 1 ]; then
  pg_options+=" -c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all"
fi
as_postgres "$pg_bin/pg_ctl" -D "$dir/data" -l "$dir/pg.log" -w \
  -o "-p $pg_port -k $dir -c listen_addresses=127.0.0.1 $pg_options" start >/dev/null
psql_bench() { as_postgres "$pg_bin/psql" -h 127.0.0.1 -p "$pg_port" -U postgres "$@"; }
psql_bench -qc "CREATE DATABASE bench"
if [ "${PROFILE:-0}" = 1 ]; then
  psql_bench -d bench -qc "CREATE EXTENSION pg_stat_statements"
fi
pg_pid=$(head -1 "$dir/data/postmaster.pid")

codes=$("$bench" --print_test_phone_codes)
head -c 32 /dev/urandom > "$dir/code-secret"
mem_port=$(free_port); be_port=$(free_port)
lifted="--max_verifications_per_user_per_hour=1000000 --region_breaker_min_codes=0"
"$server" --listen=127.0.0.1:$mem_port --test_phone_codes="$codes" --log_level=warning $lifted 2>"$dir/mem.log" &
mem_pid=$!
pids+=($mem_pid)
"$server" --listen=127.0.0.1:$be_port --test_phone_codes="$codes" --log_level=warning $lifted \
  --redis_url=redis://127.0.0.1:$redis_port --code_secret_file="$dir/code-secret" \
  --postgres_url=postgresql://postgres@127.0.0.1:$pg_port/bench 2>"$dir/be.log" &
be_pid=$!
pids+=($be_pid)
sleep 2

# ops PORT CPU_PIDS: prints "flows/s|cpu text" of one run.
ops() {
  local out
  if ! out=$("$bench" --target=127.0.0.1:$1 --scenario=flow --duration=${seconds}s --warmup=1s --cpu_pids="$2" 2>&1); then
    echo "$out" >&2
    return 1
  fi
  local line
  line=$(grep 'ops/s' <<<"$out" | tail -1)
  echo "$(awk '{for (i=1;i<=NF;i++) if ($i=="ops/s") print $(i-1)}' <<<"$line")|$(sed -n 's/.*errors: none *//p' <<<"$line")"
}
mem=(); be=(); be_cpu=()
for ((r = 0; r < rounds; r++)); do
  m=$(ops "$mem_port" "server=$mem_pid"); b=$(ops "$be_port" "server=$be_pid,postgres=$pg_pid,redis=$redis_pid")
  mem+=("${m%%|*}"); be+=("${b%%|*}")
  be_cpu+=("$(sed -n 's/.*cpu server \([0-9.]*\) us.*/\1/p' <<<"${b#*|}")")
  echo "round $r: in-memory ${mem[-1]} flows/s (${m#*|}), redis+postgres ${be[-1]} flows/s (${b#*|})"
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
m=$(median "${mem[@]}"); b=$(median "${be[@]}")
echo "median: in-memory $m flows/s, redis+postgres $b flows/s, ratio $(awk -v b="$b" -v m="$m" 'BEGIN {printf "%.2f", b/m}')"

[ "${PROFILE:-0}" = 1 ] || exit 0
# One more run of the backends server with the counters zeroed first. The
# flows are those profile_bench measured (no warm-up, so every flow the
# backends saw is counted).
redis-cli -p "$redis_port" CONFIG RESETSTAT >/dev/null
psql_bench -d bench -qAtc "SELECT pg_stat_statements_reset()" >/dev/null
perf_pid=
if command -v perf >/dev/null; then
  perf record -q -e cpu-clock -F 997 -g -p "$be_pid" -o "$dir/server.perf" 2>/dev/null &
  perf_pid=$!
  sleep 0.3
fi
out=$("$bench" --target=127.0.0.1:$be_port --scenario=flow --duration=${seconds}s --warmup=0s \
  --cpu_pids="server=$be_pid,postgres=$pg_pid,redis=$redis_pid" 2>&1)
if [ -n "$perf_pid" ]; then
  kill -INT "$perf_pid" 2>/dev/null || true  # gone if perf could not attach
  wait "$perf_pid" || true
fi
rate=$(awk '{for (i=1;i<=NF;i++) if ($i=="ops/s") print $(i-1)}' <<<"$(grep 'ops/s' <<<"$out" | tail -1)")
flows=$(awk -v r="$rate" -v s="$seconds" 'BEGIN {printf "%d", r*s}')
echo "profile: $flows flows in ${seconds}s ($(grep 'ops/s' <<<"$out" | tail -1 | sed -n 's/.*errors: none *//p'))"
echo "Redis, per flow (INFO commandstats):"
redis-cli -p "$redis_port" INFO commandstats | tr -d '\r' | grep '^cmdstat_' |
  awk -F'[:,=]' -v n="$flows" '{printf "  %-16s %6.2f calls %8.1f us\n", substr($1, 9), $3/n, $5/n}'
echo "PostgreSQL, per flow (pg_stat_statements; plan + execution, not parse, commit or protocol):"
psql_bench -d bench -qAt -F '|' -c "
  SELECT calls, total_plan_time + total_exec_time,
         left(regexp_replace(query, '\s+', ' ', 'g'), 70)
  FROM pg_stat_statements WHERE query NOT LIKE '%pg_stat_statements%'
  ORDER BY total_plan_time + total_exec_time DESC LIMIT 10" |
  awk -F'|' -v n="$flows" '{printf "  %6.3f calls %8.1f us  %s\n", $1/n, $2*1000/n, $3}'
[ -s "$dir/server.perf" ] || exit 0
# Where the server's own CPU goes (perf, sampled): by thread and library,
# and the system calls of its kernel time. Shares of its CPU, and what they
# come to per flow at the rounds' median server CPU (perf's own sampling
# adds to the profiled run's, so that run's figure would overstate).
server_us=$(median "${be_cpu[@]}")
echo "the server's CPU per flow (perf record -e cpu-clock), shares and us at the rounds' median of $server_us us:"
perf report -i "$dir/server.perf" --stdio --no-children -g none --sort comm,dso 2>/dev/null |
  awk -v t="$server_us" '$1 ~ /%$/ {p = $1 + 0; if (p >= 1) printf "  %5.1f%%  %6.1f us  %s %s\n", p, p * t / 100, $2, $3}'
echo "  of which in system calls:"
perf report -i "$dir/server.perf" --stdio --children -g none --sort sym 2>/dev/null |
  awk -v t="$server_us" '$4 ~ /^(__x64_sys_|ksys_)/ {p = $1 + 0; if (p >= 1) printf "  %5.1f%%  %6.1f us  %s\n", p, p * t / 100, $4}'
