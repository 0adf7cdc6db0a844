#!/usr/bin/env bash
# SendPhoneCode through the webhook SMS provider, with a receiver that
# answers every request after 50 ms: sends per second at 256 calls in flight
# (to distinct numbers by distinct users), and the health check's latency
# measured at one call in flight by a second client meanwhile. The point:
# sends wait on the provider on threads of their own, so the callback
# threads stay free and health stays fast.
#
#   tests/bench/sms_send.sh [build-dir] [seconds] [in-flight] [delay]
#
# Starts build/tests/bench/sms_receiver and the server on loopback ports,
# and stops them.
set -euo pipefail
build=${1:-build}
seconds=${2:-10}
in_flight=${3:-256}
delay=${4:-50ms}
bench=$build/client/profile_bench
server=$build/server/profile_server
receiver=$build/tests/bench/sms_receiver
dir=$(mktemp -d /tmp/profile_sms_bench_XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT
source "$(dirname "${BASH_SOURCE[0]}")/bench_lib.sh"

# The receiver stands in for a provider that runs on someone else's machine:
# on ours it gets the CPU only when the server and the clients leave some.
nice -n 10 "$receiver" --port=0 --delay="$delay" >"$dir/receiver.out" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
  grep -q "listening on" "$dir/receiver.out" 2>/dev/null && break
  sleep 0.05
done
receiver_port=$(sed -n 's/^listening on \([0-9]*\).*/\1/p' "$dir/receiver.out")
[ -n "$receiver_port" ] || { cat "$dir/receiver.out"; exit 1; }

# A fixed, throwaway secret: the receiver does not check signatures, but the
# server signs every message as in production.
echo "whsec_$(head -c 32 /dev/urandom | base64 -w0)" >"$dir/secrets"
port=$(free_port)
"$server" --listen=127.0.0.1:$port --sms_sender=webhook \
  --sms_webhook_url=http://127.0.0.1:$receiver_port/sms \
  --sms_webhook_secret_file="$dir/secrets" --sms_max_in_flight=$in_flight \
  --region_breaker_min_codes=0 \
  --log_level=warning 2>"$dir/server.log" &
server_pid=$!
pids+=($server_pid)
sleep 1

echo "== SendPhoneCode via webhook (receiver answers after $delay), $in_flight in flight, ${seconds}s"
"$bench" --target=127.0.0.1:$port --scenario=health --in_flight=1 --channels=1 \
  --duration="${seconds}s" --warmup=1s >"$dir/health.txt" 2>&1 &
health_pid=$!
"$bench" --target=127.0.0.1:$port --scenario=send --in_flight=$in_flight \
  --channels=8 --duration="${seconds}s" --warmup=1s \
  --cpu_pids=server=$server_pid
wait $health_pid
echo "== meanwhile: health at 1 in flight"
cat "$dir/health.txt"
kill "$server_pid"
echo "server log lines at warning or above: $(wc -l <"$dir/server.log")"
