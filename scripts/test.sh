#!/usr/bin/env bash
# Runs every test: the proto checks (buf lint, format, breaking against the first published v1),
# formatting and clippy (warnings are errors), the drift checks of the generated clients and of
# the server's generated Rust code (src/proto/gen), the four client test suites and the README's
# grpcurl examples against live demos, the Helm chart (lint, template, assertions), a short
# libFuzzer pass over every fuzz target, then the Rust
# unit and integration tests (real sockets,
# the real gRPC stack, the simulator over HTTP). The last line is the summary of the whole run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PATH="$PWD/.tools/bin:$PATH"
export CARGO_TERM_COLOR=never
mkdir -p target
started=$SECONDS
phase() { echo; echo "== $1 ($((SECONDS - started))s)"; }

if ! command -v buf >/dev/null || ! command -v grpcurl >/dev/null \
  || ! command -v helm >/dev/null || ! command -v promtool >/dev/null; then
  scripts/install-tools.sh
fi

phase "buf lint, format, breaking"
buf lint proto
buf format -d --exit-code proto
# v1 is a published contract: compare with the commit that first published it (buf.yaml added).
baseline="$(git log --diff-filter=A --format=%H -- proto/buf.yaml | tail -n 1)"
if [[ -n "$baseline" ]]; then
  buf breaking proto --against ".git#ref=${baseline},subdir=proto"
fi

phase "cargo fmt --check"
cargo fmt --all -- --check

phase "cargo build"
cargo build --locked --all-targets

phase "cargo clippy"
cargo clippy --locked --all-targets -- -D warnings

phase "generated clients are up to date"
clients/check-generated.sh

phase "generated Rust proto code is up to date"
scripts/generate-rust-proto.sh --check

phase "client suites"
scripts/clients-test.sh 2>&1 | tee target/clients-output.txt

phase "README grpcurl examples"
scripts/readme-grpcurl-test.sh 2>&1 | tee target/grpcurl-output.txt

phase "Helm chart: lint, template, assertions"
scripts/helm-test.sh 2>&1 | tee target/helm-output.txt

# The fuzz targets' seed corpora also replay on stable inside `cargo test` (tests/fuzz_corpus.rs).
# This is the smoke pass of libFuzzer itself: every target for FUZZ_SMOKE_SECONDS (default 10)
# from its seeds, on nightly; it costs an instrumented build of its own (docs/fuzzing.md).
phase "fuzz smoke pass"
scripts/fuzz.sh "${FUZZ_SMOKE_SECONDS:-10}" 2>&1 | tee target/fuzz-output.txt

phase "cargo test"
# --lib --bins --tests: `--all-targets` would also run the benchmark.
cargo test --locked --lib --bins --tests 2>&1 | tee target/test-output.txt

echo
echo "== done in $((SECONDS - started))s"
# One summary line for the whole run: cargo's tests, the client suites, the grpcurl examples,
# the chart's checks and the fuzz targets.
awk '
  /^test result:/ { p += $4; f += $6; i += $8 }
  /^(clients|grpcurl|helm|fuzz): [0-9]+ passed, [0-9]+ failed/ { p += $2; f += $4 }
  END { printf "%d passed, %d failed, %d skipped\n", p, f, i }
' target/test-output.txt target/clients-output.txt target/grpcurl-output.txt target/helm-output.txt \
  target/fuzz-output.txt
