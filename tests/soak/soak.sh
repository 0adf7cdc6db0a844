#!/usr/bin/env bash
# Soak test (issue 6; not part of CI): the real server under mixed load at
# high throughput for DURATION, with hostile input alongside, reporting
# errors, resident memory over time and latency drift.
#
#   tests/soak/soak.sh                     # 10 minutes, build/
#   DURATION=60 BUILD=build-hard tests/soak/soak.sh
#
# Environment: DURATION (seconds, default 600), PHASE (seconds per
# measurement, default 10), BUILD (the build tree, default build),
# IN_FLIGHT (default 64), CHANNELS (default 4).
#
# Load: profile_bench rotating through flow (send-free verify + update),
# verify and get, one PHASE each. Hostile input: a loop of raw gRPC calls
# through curl's HTTP/2 (garbage bodies, oversized bodies, hostile strings in
# fields and metadata, unknown methods) and profilectl calls with hostile
# arguments. Every hostile answer must be a canonical status (never UNKNOWN
# or INTERNAL); the load must see no errors; resident memory, once warm
# (after the first two phases), must stay within 10% + 16 MiB.
# Exit status: 0 if all of that holds.
set -euo pipefail
export LC_ALL=C
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
duration=${DURATION:-600}
phase=${PHASE:-10}
build=${BUILD:-build}
in_flight=${IN_FLIGHT:-64}
channels=${CHANNELS:-4}
server_bin="$build/server/profile_server"
bench="$build/client/profile_bench"
ctl="$build/client/profilectl"
for f in "$server_bin" "$bench" "$ctl"; do
  [[ -x "$f" ]] || { echo "soak: $f is missing; build first" >&2; exit 2; }
done

work=$(mktemp -d /tmp/profile_soak_XXXXXX)
server_pid=""
hostile_pid=""
cleanup() {
  [[ -n "$hostile_pid" ]] && kill "$hostile_pid" 2>/dev/null || true
  [[ -n "$server_pid" ]] && kill -TERM "$server_pid" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap cleanup EXIT

codes=$("$bench" --print_test_phone_codes --scenario=flow)
"$server_bin" --listen=127.0.0.1:0 --log_level=info \
  --test_phone_codes="$codes" --sms_sender="outbox:$work/outbox.jsonl" \
  --max_live_tokens=100000 --max_verifications_per_user_per_hour=1000000 \
  --region_breaker_min_codes=0 2>"$work/server.log" &
server_pid=$!
port=""
for _ in $(seq 1 200); do
  port=$(grep -o '"port":"[0-9]*"' "$work/server.log" | head -1 | tr -dc 0-9) || true
  [[ -n "$port" ]] && break
  sleep 0.1
done
[[ -n "$port" ]] || { echo "soak: the server did not start" >&2; cat "$work/server.log" >&2; exit 1; }
target="127.0.0.1:$port"
echo "soak: server pid $server_pid on $target, ${duration}s, phases of ${phase}s, work dir $work"

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$server_pid/status" 2>/dev/null || echo 0; }

# --- hostile input, in the background ---------------------------------------
hostile() {
  local url="http://$target/profile.v1.ProfileService"
  local i=0
  # gRPC framing: flag byte, 4-byte big-endian length, message.
  frame() {
    local n=${#1}
    printf '\x00'
    printf '\\x%02x' $((n >> 24 & 255)) $((n >> 16 & 255)) $((n >> 8 & 255)) $((n & 255)) |
      xargs -0 printf
    printf '%s' "$1"
  }
  printf '\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff' >"$work/varint"
  printf '\x00\x00\x00\x00\x05\x0a\x05ab' >"$work/overrun"          # framed, truncated string
  printf '\x00\x00\x00\x10\x00\x0a\x02+8' >"$work/short_frame"      # frame says 4096, body is 4
  head -c 100000 /dev/urandom >"$work/random"
  { printf '\x00\x00\x00\x27\x10'; head -c 10000 /dev/zero; } >"$work/oversized"
  frame $'\x0a\x03\xff\xfe\xfd' >"$work/bad_utf8"
  while kill -0 "$server_pid" 2>/dev/null; do
    for body in varint overrun short_frame random oversized bad_utf8; do
      for method in SendPhoneCode UpdatePhoneVerification UpdatePhone GetProfile Nope; do
        curl -s -o /dev/null -D - --http2-prior-knowledge --max-time 10 \
          -H 'content-type: application/grpc' -H 'te: trailers' \
          -H "x-user-id: soak-hostile-$((i % 50))" \
          -H "x-request-id: $(head -c 200 /dev/zero | tr '\0' r)" \
          --data-binary "@$work/$body" "$url/$method" |
          grep -io '^grpc-status: *[0-9]*' | tr -dc '0-9\n' >>"$work/hostile_codes" || true
        i=$((i + 1))
      done
    done
    for args in "send-code +86 1'OR'1'='1 new" "send-code %s%n%x 13800138000 new" \
                "verify +86 13800138000 ０１２３４５" "update $(head -c 300 /dev/zero | tr '\0' A)" \
                "update not-a-token" "send-code +86 $(printf '\u202e')13800138000 new"; do
      # shellcheck disable=SC2086
      "$ctl" --target="$target" --user_id="soak-ctl-$((i % 50))" --timeout=10s $args \
        >/dev/null 2>"$work/ctl.err" || true
      # "error: INVALID_ARGUMENT (api code 1001): ..."
      grep -o '^error: [A-Z_]*\( (api code [0-9]*)\)\?' "$work/ctl.err" |
        sed 's/^error: //; s/ (api code \([0-9]*\))/:\1/' >>"$work/ctl_codes" || true
      i=$((i + 1))
    done
  done
}
hostile &
hostile_pid=$!

# --- mixed load --------------------------------------------------------------
scenarios=(flow verify get)
printf '%6s %-7s %10s %9s %9s %10s %-20s %s\n' time phase ops/s p50_us p99_us rss_kib errors valid
start=$SECONDS
n=0
failed=0
warm_rss=0
: >"$work/phases"
while ((SECONDS - start < duration)); do
  s=${scenarios[$((n % ${#scenarios[@]}))]}
  line=$("$bench" --target="$target" --scenario="$s" --duration="${phase}s" \
    --warmup=0s --in_flight="$in_flight" --channels="$channels" --json |
    grep '"phase"' | tail -1) || line=""
  rss=$(rss_kib)
  if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "soak: the server died" >&2; failed=1; break
  fi
  get() { grep -o "\"$1\":[^,}]*" <<<"$line" | head -1 | cut -d: -f2; }
  errors=$(grep -o '"errors":{[^}]*}' <<<"$line" | cut -d: -f2-)
  printf '%6d %-7s %10s %9s %9s %10s %-20s %s\n' $((SECONDS - start)) "$s" \
    "$(get ops_per_second)" "$(get p50_us)" "$(get p99_us)" "$rss" "${errors:-?}" "$(get valid)"
  echo "$s $(get ops_per_second) $(get p50_us) $(get p99_us) $rss" >>"$work/phases"
  [[ "$(get valid)" == true ]] || failed=1
  n=$((n + 1))
  ((n == 2)) && warm_rss=$rss
done
kill "$hostile_pid" 2>/dev/null || true
wait "$hostile_pid" 2>/dev/null || true
hostile_pid=""

# --- report ------------------------------------------------------------------
final_rss=$(rss_kib)
echo
echo "resident memory: warm ${warm_rss} KiB, final ${final_rss} KiB," \
  "max $(awk '{print $5}' "$work/phases" | sort -n | tail -1) KiB"
if ((warm_rss > 0 && final_rss > warm_rss + warm_rss / 10 + 16384)); then
  echo "soak: FAIL resident memory grew after warm-up" >&2; failed=1
fi
for s in "${scenarios[@]}"; do
  awk -v s="$s" '$1 == s {n++; p50[n]=$3; p99[n]=$4; ops[n]=$2}
    END { if (n >= 2) printf "latency drift %-6s: first p50 %s us p99 %s us (%s ops/s) -> last p50 %s us p99 %s us (%s ops/s)\n",
      s, p50[1], p99[1], ops[1], p50[n], p99[n], ops[n] }' "$work/phases"
done
total=$(wc -l <"$work/hostile_codes" 2>/dev/null || echo 0)
echo "hostile raw calls: $total, grpc-status counts:" \
  "$(sort -n "$work/hostile_codes" 2>/dev/null | uniq -c | awk '{printf "%s=%s ", $2, $1}')"
echo "hostile profilectl answers: $(sort "$work/ctl_codes" 2>/dev/null | uniq -c | awk '{printf "%s=%s ", $2, $1}')"
if grep -q 'UNKNOWN\|INTERNAL' "$work/ctl_codes" 2>/dev/null; then
  echo "soak: FAIL a hostile profilectl call was answered UNKNOWN or INTERNAL" >&2; failed=1
fi
if grep -qx '2\|13' "$work/hostile_codes" 2>/dev/null; then
  echo "soak: FAIL a hostile call was answered UNKNOWN or INTERNAL" >&2; failed=1
fi
if grep -q '"level":"error"' "$work/server.log"; then
  echo "soak: server errors logged:" >&2; grep '"level":"error"' "$work/server.log" | head -5 >&2
fi
if ! kill -0 "$server_pid" 2>/dev/null; then
  echo "soak: FAIL the server is not running" >&2; failed=1
fi
kill -TERM "$server_pid"
if ! wait "$server_pid"; then echo "soak: FAIL the server did not exit 0" >&2; failed=1; fi
server_pid=""
((failed == 0)) && echo "soak: PASS" || echo "soak: FAIL"
rm -rf "$work"
exit "$failed"
