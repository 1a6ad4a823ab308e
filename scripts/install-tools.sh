#!/usr/bin/env bash
# Installs the proto tool chain into ./.tools/ of the repo (gitignored), from the ordinary
# registries only: buf from npm (@bufbuild/buf ships its binary inside the package, so nothing is
# fetched from other sites) and grpcurl through the Go module proxy. Idempotent: a tool that is
# already installed is left alone; set FORCE=1 to reinstall.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$repo_root/.tools"
buf_version="${BUF_VERSION:-1}"   # npm range: any 1.x
mkdir -p "$tools/bin" "$tools/node"

buf_bin="$tools/node/node_modules/.bin/buf"
if [[ -x "$buf_bin" && "${FORCE:-0}" != "1" ]]; then
  echo "buf: already installed"
else
  command -v npm >/dev/null || { echo "npm not found: install Node.js first" >&2; exit 1; }
  npm install --prefix "$tools/node" --no-audit --no-fund --save-exact=false \
    "@bufbuild/buf@${buf_version}"
fi
ln -sf "$buf_bin" "$tools/bin/buf"

grpcurl_bin="$tools/bin/grpcurl"
if [[ -x "$grpcurl_bin" && "${FORCE:-0}" != "1" ]]; then
  echo "grpcurl: already installed"
else
  command -v go >/dev/null || { echo "go not found: install Go first" >&2; exit 1; }
  GOBIN="$tools/bin" go install github.com/fullstorydev/grpcurl/cmd/grpcurl@latest
fi

echo
echo "buf:     $tools/bin/buf ($("$tools/bin/buf" --version))"
echo "grpcurl: $grpcurl_bin ($("$grpcurl_bin" -version 2>&1 | head -n1))"
echo "Add them to PATH with: export PATH=\"$tools/bin:\$PATH\""
