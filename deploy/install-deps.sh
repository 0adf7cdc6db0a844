#!/usr/bin/env bash
# Installs the Debian 12 packages profile-service needs: to build and run
# (default), or also to run every test (--test). Run as root.
set -euo pipefail

build_packages=(
  ca-certificates cmake g++ make pkg-config
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev libphonenumber-dev libssl-dev nlohmann-json3-dev
  libhiredis-dev libpq-dev libcurl4-openssl-dev
  prometheus-cpp-dev
  # ICU's static archives: profile_server links libphonenumber's ICU
  # statically (PROFILE_STATIC_DEPS in server/CMakeLists.txt).
  libicu-dev
)
test_packages=(
  googletest libgtest-dev libgmock-dev libbenchmark-dev
  redis-server postgresql
  openssl curl
  # tests/e2e/encrypted_backends_e2e_test: the TLS tunnel to Redis that
  # production runs as a sidecar (Debian's hiredis has no TLS).
  stunnel4
  # tests/monitoring: promtool (check and unit-test the alert rules) and a
  # real Prometheus scraping the server. The package also installs a
  # systemd service on :9090 that no test uses.
  prometheus
  # tests/run_all.sh: Ninja builds its trees; clang with libFuzzer
  # (-fsanitize=fuzzer) and its runtimes, the sanitizer and fuzz tree.
  ninja-build clang libclang-rt-14-dev
)

packages=("${build_packages[@]}")
case "${1:-}" in
  --test)
    packages+=("${test_packages[@]}")
    # tests/deploy runs on Node.js; Debian's when the machine has none.
    command -v node >/dev/null || packages+=(nodejs)
    command -v npm >/dev/null || packages+=(npm)
    ;;
  "") ;;
  *) echo "usage: $0 [--test]" >&2; exit 2 ;;
esac

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if [[ "${1:-}" == --test ]]; then
  # The offline Kubernetes schema checks (tests/deploy): npm packages pinned
  # by tests/deploy/package-lock.json, into tests/deploy/node_modules.
  repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  npm ci --prefix "$repo_root/tests/deploy" --no-audit --no-fund \
    --loglevel=error
  # The proto contract checks (tests/contract): buf, pinned by
  # tests/contract/package-lock.json (its binary comes in the npm package).
  npm ci --prefix "$repo_root/tests/contract" --no-audit --no-fund \
    --loglevel=error
  # The independent Standard Webhooks check (tests/webhooks): the
  # standardwebhooks package, pinned by tests/webhooks/package-lock.json.
  npm ci --prefix "$repo_root/tests/webhooks" --no-audit --no-fund \
    --loglevel=error
  # The monitoring checks (tests/monitoring): the yaml package, pinned by
  # tests/monitoring/package-lock.json.
  npm ci --prefix "$repo_root/tests/monitoring" --no-audit --no-fund \
    --loglevel=error
  # `kubectl kustomize` renders the overlays. Debian 12 has no kubectl recent
  # enough (kustomize v5): it must come with the machine.
  if ! kubectl kustomize --help >/dev/null 2>&1; then
    echo "warning: kubectl with kustomize is not on PATH; the deploy_* tests" \
      "will fail" >&2
  fi
fi
