#!/usr/bin/env bash
# grpc.health.v1.Health/Check, GetProfile and UpdatePhoneVerification driven
# by h2load (Debian nghttp2-client) against one in-memory server, in
# alternating rounds (ABBA: health, get, verify, then verify, get, health...),
# with every call's gRPC status checked. Prints requests/s per method and
# the ratio to health per round, and the medians.
#
#   tests/bench/h2load.sh [build-dir] [rounds] [requests]          # -c 8 -m 32
#   tests/bench/h2load.sh [build-dir] [rounds] [requests] latency  # -c 1 -m 1
#   tests/bench/h2load.sh [build-dir] [rounds] [requests] callgrind
#
# Under load, each round also prints the CPU time per call of the server
# (/proc) and of h2load (/usr/bin/time), and the ratio to health they
# predict, (server + h2load CPU of health) / (that of the method): client
# and server share the cores, so throughput follows it. It swings less
# than throughput when other work shares the machine, but it does swing
# (contended caches, a VM's stolen time): compare code by the callgrind
# mode's instructions.
#
# `requests` is per method and round (default 100000 under load, 20000 at
# one in flight or under callgrind). The latency mode prints percentiles of
# every request's time from h2load's --log-file instead of throughput. The
# callgrind mode runs the server under valgrind --tool=callgrind and prints
# the server's instructions per call of each method (all its threads, gRPC
# included; a dump after each run): unlike time, repeatable on a busy
# machine. KEEP=1 keeps the dumps (callgrind_annotate them) and the logs.
# PERF=1 (with KEEP=1) also records each run's server with `perf record -e
# cpu-clock -g` into METHOD.perf: where the time goes, kernel included
# (`perf report -i METHOD.perf --sort dso,sym`).
#
# Builds nothing: takes a (Release) build dir with server/profile_server,
# and uses protoc with the tree's proto/ to make the request bodies. One
# user (x-user-id) is given a phone first (a test number, through the API),
# so GetProfile answers a phone and every verification proves the old phone
# too, as the default --verify_old_phone requires. The server runs with its
# defaults except for the test numbers' fixed code and the verification cap
# (one user verifies a million times an hour here): the failure budgets, the
# other budgets and the region breaker stay on.
#
# How the gRPC status is checked: h2load counts HTTP 200s, and a gRPC error
# is an HTTP 200 too (grpc-status is a trailer). But a failed call carries
# no message: the server answers it with trailers only, no DATA. So each
# method is first called once with curl, which must show grpc-status 0 in
# its trailers and gives the length of one answer (request id, token and
# expiry have fixed lengths); then every h2load run must have received
# exactly `succeeded x that length` bytes of DATA, with no failed or errored
# request; and the server must have logged nothing at warning or above
# after its start-up.
set -euo pipefail
build=${1:-build-rel}
rounds=${2:-3}
mode=${4:-load}
dir=$(mktemp -d /tmp/profile_h2load_XXXXXX)
valgrind=()
if [ "$mode" = latency ]; then
  requests=${3:-20000}
  load=(-c 1 -m 1)
elif [ "$mode" = callgrind ]; then
  requests=${3:-20000}
  load=(-c 8 -m 32)
  valgrind=(valgrind --tool=callgrind --log-file="$dir/valgrind.log"
    --callgrind-out-file="$dir/callgrind.out")
else
  requests=${3:-100000}
  load=(-c 8 -m 32)
fi
server=$build/server/profile_server
proto_dir=$(cd "$(dirname "$0")/../../proto" && pwd)
[ -x "$server" ] || { echo "no $server: build profile_server first" >&2; exit 1; }
server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $dir" >&2; else rm -rf "$dir"; fi
}
trap cleanup EXIT
source "$(dirname "${BASH_SOURCE[0]}")/bench_lib.sh"

code=246810
new_number=13700000000  # the number every verification asks for
old_number=13900000000  # the user's phone
user=65f1a0000000000000000001
port=$(free_port)
"${valgrind[@]}" "$server" --listen=127.0.0.1:$port --log_level=warning \
  --test_phone_codes="+86$new_number:$code,+86$old_number:$code" \
  --max_verifications_per_user_per_hour=1000000 2>"$dir/server.log" &
server_pid=$!
for _ in $(seq 1200); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$dir/server.log" >&2; exit 1; }
  sleep 0.05
done
url=http://127.0.0.1:$port

# body NAME MESSAGE TEXT: $dir/NAME.body, the gRPC frame (uncompressed, 4
# bytes of length, big-endian) of the message TEXT in protobuf text format.
body() {
  local proto=profile/v1/profile.proto
  [[ $2 == grpc.health.* ]] && proto=grpc/health/v1/health.proto
  printf '%s' "$3" | protoc -I"$proto_dir" --encode="$2" "$proto" >"$dir/$1.msg"
  local n
  n=$(stat -c %s "$dir/$1.msg")
  printf "\\x00\\x$(printf %02x $((n >> 24 & 255)))\\x$(printf %02x $((n >> 16 & 255)))\\x$(printf %02x $((n >> 8 & 255)))\\x$(printf %02x $((n & 255)))" >"$dir/$1.body"
  cat "$dir/$1.msg" >>"$dir/$1.body"
}
# call NAME PATH: one call with curl; fails unless grpc-status is 0. Leaves
# the answer's message in $dir/NAME.answer and its frame in $dir/NAME.out.
call() {
  curl -sS --http2-prior-knowledge -H 'content-type: application/grpc' \
    -H 'te: trailers' -H "x-user-id: $user" --data-binary @"$dir/$1.body" \
    -D "$dir/$1.headers" -o "$dir/$1.out" "$url$2"
  if ! grep -qi '^grpc-status: *0' "$dir/$1.headers"; then
    echo "$2 failed:" >&2
    tr -d '\r' <"$dir/$1.headers" >&2
    exit 1
  fi
  tail -c +6 "$dir/$1.out" >"$dir/$1.answer"
}

health=/grpc.health.v1.Health/Check
get=/profile.v1.ProfileService/GetProfile
verify=/profile.v1.ProfileService/UpdatePhoneVerification
body health grpc.health.v1.HealthCheckRequest ''
body get profile.v1.GetProfileRequest ''
# The user's phone: verified and spent through the API like any change.
body first profile.v1.UpdatePhoneVerificationRequest \
  "new_phone_country_code: \"+86\" new_phone_number: \"$old_number\" new_phone_pass_code: \"$code\""
call first "$verify"
token=$(protoc -I"$proto_dir" --decode=profile.v1.UpdatePhoneVerificationResponse \
  profile/v1/profile.proto <"$dir/first.answer" | sed -n 's/.*update_phone_token: "\(.*\)"/\1/p')
body update profile.v1.UpdatePhoneRequest "update_phone_token: \"$token\""
call update /profile.v1.ProfileService/UpdatePhone
body verify profile.v1.UpdatePhoneVerificationRequest \
  "new_phone_country_code: \"+86\" new_phone_number: \"$new_number\" new_phone_pass_code: \"$code\" \
old_phone_country_code: \"+86\" old_phone_number: \"$old_number\" old_phone_pass_code: \"$code\""
declare -A path=([health]=$health [get]=$get [verify]=$verify) answer_bytes=()
for m in health get verify; do
  call "$m" "${path[$m]}"
  answer_bytes[$m]=$(stat -c %s "$dir/$m.out")
done
# Whatever the server logs from here on is about the calls (it warns at
# start-up that --sms_sender=log writes codes to its log).
log_start=$(stat -c %s "$dir/server.log")
# Start-up and the calls above are not counted.
[ "$mode" = callgrind ] && callgrind_control -d setup "$server_pid" >/dev/null 2>&1
grep -q "$old_number" <(protoc -I"$proto_dir" --decode=profile.v1.GetProfileResponse \
  profile/v1/profile.proto <"$dir/get.answer") || { echo "GetProfile shows no phone" >&2; exit 1; }

# run METHOD: one h2load run; prints its requests/s, or (latency mode)
# "p50 p90 p99 p99.9 mean" in microseconds. Fails unless every call of the
# run answered a whole message.
run() {
  local m=$1 out ticks
  ticks=$(server_ticks)
  local perf_pid=
  if [ "${PERF:-0}" = 1 ]; then
    perf record -q -e cpu-clock -g -p "$server_pid" -o "$dir/$m.perf" 2>/dev/null &
    perf_pid=$!
    sleep 0.2
  fi
  out=$(/usr/bin/time -f 'cpu %U %S' h2load "${load[@]}" -n "$requests" \
    -d "$dir/$m.body" -H 'content-type: application/grpc' -H 'te: trailers' \
    -H "x-user-id: $user" --log-file="$dir/$m.log" "$url${path[$m]}" 2>&1)
  ticks=$(($(server_ticks) - ticks))
  if [ -n "$perf_pid" ]; then
    kill -INT "$perf_pid" 2>/dev/null || true  # gone if perf could not attach
    wait "$perf_pid" || true
  fi
  local succeeded failed errored data
  read -r succeeded failed errored < <(sed -n \
    's/^requests: .* \([0-9]*\) succeeded, \([0-9]*\) failed, \([0-9]*\) errored.*/\1 \2 \3/p' <<<"$out")
  data=$(sed -n 's/^traffic: .*(\([0-9]*\)) data$/\1/p' <<<"$out")
  if [ "$succeeded" != "$requests" ] || [ "$failed$errored" != 00 ] ||
     [ "$data" != $((requests * answer_bytes[$m])) ]; then
    echo "$m: not every call succeeded ($succeeded of $requests, $failed failed," \
      "$errored errored; $data bytes of data, $((requests * answer_bytes[$m])) expected)" >&2
    echo "$out" >&2
    exit 1
  fi
  if [ "$mode" = callgrind ]; then
    callgrind_control -d "$m" "$server_pid" >/dev/null 2>&1
    local dump
    dump=$(ls "$dir"/callgrind.out.* | sort -V | tail -1)
    awk -v n="$requests" '/^(summary|totals):/ {printf "%.0f", $2 / n; exit}' "$dump"
  elif [ "$mode" = latency ]; then
    cut -f3 "$dir/$m.log" | sort -n | awk '{a[NR] = $1; s += $1}
      END {printf "%d %d %d %d %.0f", a[int(NR * .5)], a[int(NR * .9)],
           a[int(NR * .99)], a[int(NR * .999)], s / NR}'
  else
    # requests/s, then the CPU per call of the server and of h2load in us.
    echo "$(sed -n 's/^finished in .*, \([0-9.]*\) req\/s.*/\1/p' <<<"$out")" \
      "$(awk -v t="$ticks" -v hz="$(getconf CLK_TCK)" -v n="$requests" \
           'BEGIN {printf "%.1f", t * 1e6 / hz / n}')" \
      "$(awk -v n="$requests" '/^cpu / {printf "%.1f", ($2 + $3) * 1e6 / n}' <<<"$out")"
  fi
}
# The server's CPU time so far (all its threads), in clock ticks.
server_ticks() { awk '{print $14 + $15}' "/proc/$server_pid/stat"; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }

echo "== h2load ${load[*]}, $requests requests per method and round, one user with a phone"
declare -A results=()
get_ratios=(); verify_ratios=(); get_cpu=(); verify_cpu=()
for ((r = 0; r < rounds; r++)); do
  order=(health get verify)
  ((r % 2)) && order=(verify get health)
  for m in "${order[@]}"; do results[$m]=$(run "$m"); done
  if [ "$mode" = callgrind ]; then
    for m in health get verify; do eval "${m}_ir+=(${results[$m]})"; done
    echo "round $r: instructions per call: health ${results[health]}," \
      "get ${results[get]} (+$((results[get] - results[health]))), verify ${results[verify]}" \
      "(+$((results[verify] - results[health])))"
  elif [ "$mode" = latency ]; then
    for m in health get verify; do
      read -r p50 p90 p99 p999 mean <<<"${results[$m]}"
      printf 'round %d %-6s p50 %5d us  p90 %5d us  p99 %5d us  p99.9 %5d us  mean %5d us\n' \
        "$r" "$m" "$p50" "$p90" "$p99" "$p999" "$mean"
      eval "${m}_p99+=($p99)"
    done
    echo "round $r: verify p99 - health p99 = $(( ${verify_p99[-1]} - ${health_p99[-1]} )) us," \
      "get p99 - health p99 = $(( ${get_p99[-1]} - ${health_p99[-1]} )) us"
  else
    declare -A rps=() srv=() cli=()
    for m in health get verify; do read -r rps[$m] srv[$m] cli[$m] <<<"${results[$m]}"; done
    # ratio A B: throughput of A over B; cpu_ratio A B: the ratio the CPU per
    # call predicts when client and server share the cores (B's over A's).
    ratio() { awk -v a="${rps[$1]}" -v b="${rps[$2]}" 'BEGIN {printf "%.3f", a / b}'; }
    cpu_ratio() {
      awk -v a="${srv[$1]}" -v b="${cli[$1]}" -v c="${srv[$2]}" -v d="${cli[$2]}" \
        'BEGIN {printf "%.3f", (c + d) / (a + b)}'
    }
    get_ratios+=("$(ratio get health)"); verify_ratios+=("$(ratio verify health)")
    get_cpu+=("$(cpu_ratio get health)"); verify_cpu+=("$(cpu_ratio verify health)")
    echo "round $r: req/s health ${rps[health]}, get ${rps[get]} (${get_ratios[-1]})," \
      "verify ${rps[verify]} (${verify_ratios[-1]})"
    echo "         CPU per call, server + h2load: health ${srv[health]} + ${cli[health]} us," \
      "get ${srv[get]} + ${cli[get]} us (${get_cpu[-1]}), verify ${srv[verify]} + ${cli[verify]} us" \
      "(${verify_cpu[-1]})"
  fi
done
if [ "$mode" = callgrind ]; then
  echo "median instructions per call: health $(median "${health_ir[@]}")," \
    "get $(median "${get_ir[@]}"), verify $(median "${verify_ir[@]}")"
elif [ "$mode" = latency ]; then
  echo "median p99: health $(median "${health_p99[@]}") us, get $(median "${get_p99[@]}") us," \
    "verify $(median "${verify_p99[@]}") us"
else
  echo "median ratio to health: get $(median "${get_ratios[@]}"), verify $(median "${verify_ratios[@]}")"
  echo "median ratio the CPU per call predicts: get $(median "${get_cpu[@]}")," \
    "verify $(median "${verify_cpu[@]}")"
fi
if [ "$(stat -c %s "$dir/server.log")" != "$log_start" ]; then
  echo "the server logged at warning or above:" >&2
  tail -c +$((log_start + 1)) "$dir/server.log" >&2
  exit 1
fi
echo "every call answered grpc-status 0 with a whole message; server log clean"
