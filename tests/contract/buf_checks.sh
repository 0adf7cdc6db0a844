#!/usr/bin/env bash
# The proto contract checks, run by ctest as `contract_buf_test`:
#   1. `buf lint` of proto/ is clean (STANDARD rules, exceptions in
#      proto/buf.yaml with their reasons);
#   2. `buf breaking` finds nothing against the last released contract,
#      proto/released/profile-v1.binpb (an image made with `buf build -o`);
#   3. the check has teeth: a scratch copy of proto/ with one field renamed
#      must fail `buf breaking`, naming the rule.
# buf is the one pinned by tests/contract/package-lock.json, installed by
# `deploy/install-deps.sh --test` (npm ci); nothing here needs the network.
#
# Usage: buf_checks.sh [REPO_ROOT]
set -euo pipefail

repo_root="${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
buf="$repo_root/tests/contract/node_modules/.bin/buf"
if [[ ! -x "$buf" ]]; then
  echo "FAIL: $buf is missing; run deploy/install-deps.sh --test" >&2
  exit 1
fi
proto="$repo_root/proto"
image="$proto/released/profile-v1.binpb"

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
export BUF_CACHE_DIR="$scratch/cache"

echo "== buf $("$buf" --version): lint"
(cd "$proto" && "$buf" lint)

echo "== breaking against $image"
(cd "$proto" && "$buf" breaking --against "$image")

echo "== a renamed field must break the contract"
cp -r "$proto" "$scratch/proto"
file="$scratch/proto/profile/v1/profile.proto"
sed -i 's/string update_phone_token = 1 \[json_name = "updatePhoneToken"\];/string phone_change_token = 1 [json_name = "updatePhoneToken"];/' "$file"
if [[ "$(grep -c 'phone_change_token = 1' "$file")" -eq 0 ]]; then
  echo "FAIL: the scratch rename did not apply" >&2
  exit 1
fi
set +e
out="$(cd "$scratch/proto" && "$buf" breaking --against "$image" --error-format=json 2>&1)"
rc=$?
set -e
echo "$out"
if [[ $rc -eq 0 ]]; then
  echo "FAIL: buf breaking accepted a renamed field" >&2
  exit 1
fi
if ! grep -q '"type":"FIELD_SAME_NAME"' <<<"$out"; then
  echo "FAIL: buf breaking failed (exit $rc) without naming FIELD_SAME_NAME" >&2
  exit 1
fi
echo "PASS"
