#!/usr/bin/env bash
# Soak: the release `serve` against a simulated fleet with Defender's rate limits on, both as
# separate processes, loaded by `examples/load.rs` (open loop: 90% GetEndpointRisk of random
# machines of the whole fleet, 10% the other reads, one StreamFleetRisk a minute). Samples the
# service's RSS every second from /proc and prints RSS over time, the maximum, the level after
# a warm-up and after the load, answers and p50/p99 latency by gRPC code, and the upstream
# calls and 429s (the simulator's /_sim/stats).
# Usage: scripts/soak.sh [SECONDS=300] [RATE=500] [DEADLINE_MS=0: none] [MACHINES=100000]
#        [WARMUP_SECONDS=30]   (FLEET_EVERY=secs, SETTLE=secs, CARGO_FLAGS=... also apply;
#        SERVE_FLAGS=--fleet-sync serves from the fleet table, docs/fleet-table.md)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
secs="${1:-300}"
rate="${2:-500}"
deadline="${3:-0}"
machines="${4:-100000}"
warmup="${5:-30}"
sim_port="${SIM_PORT:-19490}"
grpc_port="${GRPC_PORT:-19491}"
sim_flags=
log="${LOG_DIR:-/tmp/soak-sh}"
mkdir -p "$log"
# shellcheck source=scripts/lib-rss.sh
source scripts/lib-rss.sh

: >"$log/rss.txt"
( start=$(date +%s)
  while kill -0 "$serve_pid" 2>/dev/null; do
    echo "$(( $(date +%s) - start )) $(kib VmRSS)" >>"$log/rss.txt"
    sleep 1
  done ) &
sampler_pid=$!

sleep 2
rest=$(kib VmRSS)
read -r calls0 limited0 < <(upstream)
# With the fleet table, the load starts once its first generation is published (before that,
# every call is a cold miss); the first sweep's calls still count in the upstream figures.
case " ${SERVE_FLAGS:-} " in *" --fleet-sync "*)
  until grep -q "fleet sweep published" "$log/serve.log"; do
    kill -0 "$serve_pid" 2>/dev/null || { cat "$log/serve.log" >&2; exit 1; }
    sleep 1
  done ;;
esac
echo "soak: ${secs}s at ${rate}/s, deadline ${deadline} ms (0 = none), $machines machines," \
  "warm-up ${warmup}s; build: ${CARGO_FLAGS:-default features}; serve flags: ${SERVE_FLAGS:-none}"
"$load" soak "$grpc" "$sim" "$warmup" "$rate" "$deadline" 0 >"$log/warmup.txt" 2>&1
sleep 5
warm=$(kib VmRSS)
"$load" soak "$grpc" "$sim" "$secs" "$rate" "$deadline" "${FLEET_EVERY:-60}" \
  >"$log/load.txt" 2>"$log/load.err"
peak=$(kib VmHWM)
sleep "${SETTLE:-30}"
after=$(kib VmRSS)
read -r calls1 limited1 < <(upstream)

echo "RSS over time (MiB, every 10 s from the start of the warm-up):"
awk 'NR % 10 == 1 { printf "%s%ss:%d", (n++ ? "  " : "  "), $1, $2 / 1024 } END { print "" }' \
  "$log/rss.txt" | fold -s -w 100
echo "RSS: rest $(mib "$rest") MiB, after warm-up $(mib "$warm") MiB, max (VmHWM) $(mib "$peak") MiB," \
  "${SETTLE:-30}s after the load $(mib "$after") MiB ($(( (after - warm) * 100 / warm ))% vs after warm-up)"
echo "upstream: $((calls1 - calls0)) Defender API calls, $((limited1 - limited0)) answered 429"
cat "$log/load.txt"
