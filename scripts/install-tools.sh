#!/usr/bin/env bash
# Installs the test tool chain into ./.tools/ of the repo (gitignored), from the ordinary
# registries only: buf from npm (@bufbuild/buf ships its binary inside the package, so nothing is
# fetched from other sites), grpcurl and helm through the Go module proxy, and promtool from
# Debian's `prometheus` package (tests/operations.rs checks /metrics with it). Idempotent: a tool
# that is already installed is left alone; set FORCE=1 to reinstall.
#
# Cost on a cold machine (two shared cores, 2026-12-02): helm compiles in about 4.5 min of CPU
# (6 min wall under load); the prometheus package installs in under a minute. CI should keep
# .tools/ (and Go's module/build caches) between runs.
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

helm_version="${HELM_VERSION:-v3.22.0}"
helm_bin="$tools/bin/helm"
if [[ -x "$helm_bin" && "${FORCE:-0}" != "1" ]]; then
  echo "helm: already installed"
else
  command -v go >/dev/null || { echo "go not found: install Go first" >&2; exit 1; }
  GOBIN="$tools/bin" go install "helm.sh/helm/v3/cmd/helm@${helm_version}"
fi

# promtool: Debian's package (the Go module of Prometheus is large and slow to compile).
promtool_bin="$tools/bin/promtool"
if [[ -x "$promtool_bin" && "${FORCE:-0}" != "1" ]]; then
  echo "promtool: already installed"
else
  if ! command -v promtool >/dev/null; then
    if [[ "$(id -u)" == "0" ]]; then sudo=(); else sudo=(sudo); fi
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus \
      || { "${sudo[@]}" apt-get update && "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
             apt-get install -y --no-install-recommends prometheus; }
  fi
  ln -sf "$(command -v promtool)" "$promtool_bin"
fi

# The chart test (scripts/helm_chart_check.py) reads the rendered YAML with PyYAML.
python3 -c 'import yaml' 2>/dev/null || python3 -m pip install --user pyyaml

echo
echo "buf:      $tools/bin/buf ($("$tools/bin/buf" --version))"
echo "grpcurl:  $grpcurl_bin ($("$grpcurl_bin" -version 2>&1 | head -n1))"
echo "helm:     $helm_bin ($("$helm_bin" version --short 2>&1))"
echo "promtool: $promtool_bin ($("$promtool_bin" --version 2>&1 | head -n1))"
echo "Add them to PATH with: export PATH=\"$tools/bin:\$PATH\""
