#!/usr/bin/env bash
# Runs every test: proto lint (buf), then the Rust unit and integration tests (real sockets, the
# real gRPC stack, the simulator over HTTP). The last line printed is cargo's test summary.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PATH="$PWD/.tools/bin:$PATH"

if ! command -v buf >/dev/null; then
  scripts/install-tools.sh
fi
echo "== buf lint"
buf lint proto
buf format -d --exit-code proto

echo "== cargo test"
cargo build --locked --all-targets
cargo test --locked --all-targets 2>&1 | tee target/test-output.txt
# One summary line for the whole run, from cargo's per-binary lines.
awk '/^test result:/ { p += $4; f += $6; i += $8 } END { printf "%d passed, %d failed, %d skipped\n", p, f, i }' target/test-output.txt
