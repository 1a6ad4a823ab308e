#!/usr/bin/env bash
# The fleet table's memory (docs/fleet-table.md): the service with `--fleet-sync` against a
# simulator of MACHINES machines (no rate limits), measured from /proc: RSS before the first
# sweep ends is not observable (it starts at once), so a second `serve` without the table gives
# the rest level. Prints the rest RSS, the RSS and peak (VmHWM) once the first generation is
# published, the same after a second generation replaced it (the swap), and the bytes per
# machine. Usage: scripts/fleet-memory.sh [MACHINES=100000]   (PROFILE=debug: debug build)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
machines="${1:-100000}"
sim_port="${SIM_PORT:-19470}"
grpc_port="${GRPC_PORT:-19471}"
rest_port="${REST_PORT:-19472}"
sim_flags=--no-rate-limits
log="${LOG_DIR:-/tmp/fleet-memory-sh}"
interval="${SWEEP_SECS:-120}"
mkdir -p "$log"
# No admin listener: another service on this machine may hold its default port.
export DEFENDER_BRIDGE_ADMIN_LISTEN="${DEFENDER_BRIDGE_ADMIN_LISTEN:-off}"
SERVE_FLAGS="--fleet-sync --fleet-sync-interval $interval --fleet-refresh-interval 0"
# shellcheck source=scripts/lib-rss.sh
source scripts/lib-rss.sh

# The rest level: the same service without the table.
DEFENDER_API_URL="$sim" DEFENDER_LOGIN_URL="$sim" DEFENDER_GRAPH_URL="$sim" \
DEFENDER_TENANT_ID=00000000-0000-0000-0000-000000000001 \
DEFENDER_CLIENT_ID=11111111-1111-1111-1111-111111111111 \
DEFENDER_CLIENT_SECRET=sim-secret \
  "$bin" serve --listen "127.0.0.1:$rest_port" >"$log/rest.log" 2>&1 &
rest_pid=$!
sleep 3
rest=$(awk '$1 == "VmRSS:" { print $2 }' "/proc/$rest_pid/status")
kill "$rest_pid"

published() { grep -c "fleet sweep published" "$log/serve.log" || true; }
wait_for_generation() {
  until [ "$(published)" -ge "$1" ]; do
    kill -0 "$serve_pid" 2>/dev/null || { cat "$log/serve.log" >&2; exit 1; }
    if grep -q "fleet sweep failed" "$log/serve.log"; then grep "fleet sweep failed" "$log/serve.log" >&2; fi
    sleep 1
  done
}
echo "profile: $profile; machines: $machines; rest (no table): $(mib "$rest") MiB"
wait_for_generation 1
sleep 2
one=$(kib VmRSS); peak1=$(kib VmHWM)
grep "fleet sweep published" "$log/serve.log" | tail -n 1
echo "generation 1: RSS $(mib "$one") MiB, peak $(mib "$peak1") MiB," \
  "$(( (one - rest) * 1024 / machines )) bytes per machine over rest"
reset_peak
wait_for_generation 2
sleep 2
two=$(kib VmRSS); peak2=$(kib VmHWM)
echo "generation 2 (after the swap): RSS $(mib "$two") MiB, peak during the second sweep" \
  "$(mib "$peak2") MiB, $(( (two - rest) * 1024 / machines )) bytes per machine over rest"
