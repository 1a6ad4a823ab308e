#!/usr/bin/env bash
# Regenerates the server's Rust code from proto/ into src/proto/gen/ (committed, so that building
# defender-bridge compiles no protobuf compiler: see docs/build-time.md). The generator is the
# small cargo project tools/protogen (protox + tonic-prost-build, pinned in its Cargo.lock),
# built into target/protogen.
#
#   scripts/generate-rust-proto.sh           rewrite src/proto/gen/ from proto/
#   scripts/generate-rust-proto.sh --check   fail (and show the difference) when the committed
#                                            src/proto/gen/ is not what proto/ generates today
#
# Run it after editing proto/, then commit src/proto/gen/ with the .proto change.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
gen="src/proto/gen"

check=0
case "${1:-}" in
  "") ;;
  --check) check=1 ;;
  *)
    echo "usage: scripts/generate-rust-proto.sh [--check]" >&2
    exit 2
    ;;
esac

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

# --quiet: cargo's progress is noise here; a failed build still prints its errors.
CARGO_TARGET_DIR="$repo_root/target/protogen" cargo run --quiet --locked \
  --manifest-path tools/protogen/Cargo.toml -- "$scratch"

if [[ $check -eq 0 ]]; then
  rm -rf "$gen"
  mkdir -p "$gen"
  cp "$scratch"/* "$gen/"
  echo "regenerated $gen from proto/ (commit it with the .proto change)"
  exit 0
fi

# -q lists every file that differs or exists on one side only (a new package, a removed one);
# then the code's own diff, to show what changed (the descriptor sets are binary).
if ! changed="$(diff -rq "$gen" "$scratch" 2>&1)"; then
  echo "$changed" >&2
  diff -ruN --exclude='*.bin' "$gen" "$scratch" | head -n 200 >&2 || true
  echo "$gen differs from what proto/ generates: run scripts/generate-rust-proto.sh and commit" >&2
  exit 1
fi
echo "$gen is up to date with proto/"
