#!/usr/bin/env bash
# Installs cargo-fuzz into ./.tools/ of the repo (gitignored) with `cargo install` from crates.io,
# and checks that the nightly toolchain cargo-fuzz needs is there (rustup's `nightly`). Idempotent
# like scripts/install-tools.sh: an installed cargo-fuzz is left alone; set FORCE=1 to reinstall.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$repo_root/.tools"
mkdir -p "$tools/bin"

if ! rustup toolchain list | grep -q '^nightly'; then
  echo "installing the nightly toolchain (cargo-fuzz builds with it)"
  rustup toolchain install nightly --profile minimal
fi

fuzz_bin="$tools/bin/cargo-fuzz"
if [[ -x "$fuzz_bin" && "${FORCE:-0}" != "1" ]]; then
  echo "cargo-fuzz: already installed"
else
  # Its own target dir, so the tool's build never mixes with the project's.
  CARGO_TARGET_DIR="$repo_root/target/tools-build" \
    cargo install cargo-fuzz --locked --force --root "$tools"
  rm -rf "$repo_root/target/tools-build"
fi
echo "cargo-fuzz: $fuzz_bin ($("$fuzz_bin" --version))"
