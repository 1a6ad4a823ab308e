#!/usr/bin/env bash
# Runs the buf that scripts/install-tools.sh installed, from the repo root, with the given
# arguments, e.g. `scripts/buf.sh lint proto` or `scripts/buf.sh format -d proto`.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
buf_bin="$repo_root/.tools/bin/buf"
if [[ ! -x "$buf_bin" ]]; then
  echo "buf is not installed: run scripts/install-tools.sh first" >&2
  exit 1
fi
cd "$repo_root"
exec "$buf_bin" "$@"
