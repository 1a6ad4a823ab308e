#!/usr/bin/env bash
# The service's memory per RPC against a 100,000-machine simulator (no rate limits, so no
# step waits on a budget): for each step, the peak RSS (VmHWM, reset before the step), the
# peak above the rest level, the RSS 5 s after (settled) and the upstream calls it made.
# Steps: a cold BatchGetEndpointRisks of 5 ids; four such batches at once; StreamFleetRisk
# once; three at once; then three runs in a row. Usage: scripts/memory.sh [MACHINES=100000]
# (CARGO_FLAGS="--no-default-features --features mimalloc" etc. to compare allocators).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
machines="${1:-100000}"
sim_port="${SIM_PORT:-19480}"
grpc_port="${GRPC_PORT:-19481}"
sim_flags=--no-rate-limits
log="${LOG_DIR:-/tmp/memory-sh}"
mkdir -p "$log"
# shellcheck source=scripts/lib-rss.sh
source scripts/lib-rss.sh

sleep 2
rest=$(kib VmRSS)
echo "build: ${CARGO_FLAGS:-default features}; machines: $machines"
echo "rest: $(mib "$rest") MiB"
printf '%-28s %9s %10s %12s %9s\n' step "peak MiB" "over rest" "settled MiB" upstream
step() {
  local name=$1 mode=$2; shift 2
  local calls_before calls_after peak settled
  read -r calls_before _ < <(upstream)
  reset_peak
  "$load" "$mode" "$grpc" "$sim" "$@" >"$log/step.out" 2>&1 || { cat "$log/step.out" >&2; exit 1; }
  peak=$(kib VmHWM)
  sleep 5
  settled=$(kib VmRSS)
  read -r calls_after _ < <(upstream)
  printf '%-28s %9s %10s %12s %9s\n' "$name" "$(mib "$peak")" "+$(mib $((peak - rest)))" \
    "$(mib "$settled")" "$((calls_after - calls_before))"
}

step "cold batch of 5" batch 5 1
step "4 cold batches of 5 at once" batch 5 4
step "StreamFleetRisk once" fleet 1
step "StreamFleetRisk, 3 at once" fleet 3
step "StreamFleetRisk, run 1 of 3" fleet 1
step "StreamFleetRisk, run 2 of 3" fleet 1
step "StreamFleetRisk, run 3 of 3" fleet 1
echo "final RSS: $(mib "$(kib VmRSS)") MiB (rest was $(mib "$rest") MiB)"
