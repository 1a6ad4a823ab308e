#!/usr/bin/env bash
# Runs every cargo-fuzz target (docs/fuzzing.md) for SECONDS_PER_TARGET seconds each (default
# 60), or only the targets named after it: `scripts/fuzz.sh 300 hunting_json`. Each run starts by
# replaying the committed seeds (fuzz/corpus/<target>/); inputs the fuzzer finds go to
# target/fuzz/corpus/<target>/ and a crashing input to target/fuzz/artifacts/<target>/, never
# into the repo. Ends with one line, `fuzz: N passed, M failed` (one per target).
#
# FUZZ_SANITIZER (default none): the crate forbids `unsafe`, so what the fuzzer hunts is panics
# (index out of range, overflow: debug assertions are on) and broken properties; `address`
# also checks the dependencies' unsafe code, at about twice the time and a separate build.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PATH="$PWD/.tools/bin:$PATH"
export CARGO_TERM_COLOR=never
seconds="${1:-60}"
shift || true
if ! command -v cargo-fuzz >/dev/null; then
  scripts/install-fuzz.sh
fi
work="$PWD/target/fuzz"
flags=(+nightly fuzz)
build_flags=(--release --debug-assertions --codegen-units 16 --sanitizer "${FUZZ_SANITIZER:-none}" --target-dir "$work/build")

targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
  mapfile -t targets < <(cargo "${flags[@]}" list)
fi

started=$SECONDS
cargo "${flags[@]}" build "${build_flags[@]}"
echo "fuzz build: $((SECONDS - started))s"

passed=0
failed=0
for target in "${targets[@]}"; do
  mkdir -p "$work/corpus/$target" "$work/artifacts/$target"
  echo "== fuzz $target (${seconds}s)"
  # The first corpus directory receives new inputs; the seeds are only read.
  set +e
  cargo "${flags[@]}" run "${build_flags[@]}" "$target" \
    "$work/corpus/$target" "fuzz/corpus/$target" -- \
    -max_total_time="$seconds" -artifact_prefix="$work/artifacts/$target/" \
    -print_final_stats=1 >"$work/$target.log" 2>&1
  status=$?
  set -e
  grep -E '^(#[0-9]+ +DONE|stat::number_of_executed_units|SUMMARY)' "$work/$target.log" || true
  if [[ $status -eq 0 ]]; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "fuzz $target FAILED: see $work/$target.log and $work/artifacts/$target/"
    tail -n 30 "$work/$target.log"
  fi
done
echo "fuzz: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
