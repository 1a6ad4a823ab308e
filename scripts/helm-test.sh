#!/usr/bin/env bash
# The Helm chart (deploy/helm/defender-bridge): `helm lint`, then `helm template` rendered with
# several value sets, checked by scripts/helm_chart_check.py: probes, security context, secret
# and TLS files mounted (never env), each replica's rate share, PDB, ServiceMonitor,
# NetworkPolicy; and the settings the service would refuse are refused at render time.
# Prints "helm: N passed, M failed" (counted by scripts/test.sh).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PATH="$PWD/.tools/bin:$PATH"
command -v helm >/dev/null || { echo "helm not found: run scripts/install-tools.sh" >&2; exit 1; }
chart=deploy/helm/defender-bridge
values="$chart/ci/test-values.yaml"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

helm lint --strict "$chart" -f "$values"
helm template t "$chart" -f "$values" --namespace sec >"$work/default.yaml"
helm template t "$chart" -f "$values" --namespace sec --set replicaCount=4 >"$work/four.yaml"
helm template t "$chart" -f "$values" --namespace sec --set replicaCount=3,rateShare=0.5 >"$work/override.yaml"
helm template t "$chart" -f "$values" --namespace sec \
  --set tls.enabled=false,insecurePlaintext=true,probes.type=grpc >"$work/mesh.yaml"
# Settings the service refuses must not render.
refused=0
for bad in "tls.enabled=true,probes.type=grpc" \
           "tls.enabled=false,insecurePlaintext=false" \
           "defender.existingSecret=" \
           "replicaCount=0"; do
  if helm template t "$chart" -f "$values" --set "$bad" >/dev/null 2>"$work/err.txt"; then
    echo "FAIL: rendered with $bad" >&2
    refused=1
  fi
done
python3 scripts/helm_chart_check.py "$work" "$refused"
