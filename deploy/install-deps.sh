#!/usr/bin/env bash
# Installs the Debian 12 packages profile-service needs: to build and run
# (default), or also to run every test (--test). Run as root.
set -euo pipefail

build_packages=(
  ca-certificates cmake g++ make pkg-config
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev libphonenumber-dev libssl-dev nlohmann-json3-dev
)
test_packages=(
  googletest libgtest-dev libgmock-dev
)

packages=("${build_packages[@]}")
case "${1:-}" in
  --test) packages+=("${test_packages[@]}") ;;
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
