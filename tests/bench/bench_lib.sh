# Shell helpers the benchmark scripts in tests/bench source.

# A loopback port nothing answers on, from above the ephemeral-free range.
free_port() {
  local port
  while :; do
    port=$((20000 + RANDOM % 30000))
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { echo "$port"; return; }
  done
}
