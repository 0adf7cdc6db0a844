#!/bin/sh
# Smoke test of sms_receiver: it says its port, answers with --status after
# --delay, and on SIGTERM reports the requests it received.
#   sms_receiver_smoke.sh BUILD/tests/bench/sms_receiver
set -eu
receiver="$1"
out="$(mktemp)"
trap 'rm -f "$out"' EXIT
"$receiver" --port=0 --delay=10ms --status=202 >"$out" &
pid=$!
port=""
for _ in $(seq 100); do
  port="$(sed -n 's/^listening on \([0-9][0-9]*\)$/\1/p' "$out")"
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || { echo "no 'listening on' line" >&2; kill "$pid"; exit 1; }
for _ in 1 2 3; do
  code="$(curl -s -o /dev/null -w '%{http_code}' -d x "http://127.0.0.1:$port/")"
  [ "$code" = 202 ] || { echo "status $code, want 202" >&2; kill "$pid"; exit 1; }
done
kill -TERM "$pid"
wait "$pid"
grep -qx 'received 3 requests' "$out" || { cat "$out" >&2; exit 1; }
echo ok
