#!/usr/bin/env bash
# Measures the service's peak memory while it streams a 100,000-row hunting result, and sets it
# against the size of that result. Starts the simulator with 100,000 machines and the release
# `serve` on loopback ports, streams `DeviceInfo` (100,000 rows) through the `hunt` example
# client (which refuses messages over 4 MiB), then reads VmHWM (peak resident set) of the
# service from /proc. Usage: scripts/hunting-rss.sh [graph|defender] [batch_rows] [query]
# (query defaults to `DeviceInfo`; e.g. "DeviceInfo | take 10000" shows that the peak does not
# grow with the result).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
backend="${1:-graph}"
batch_rows="${2:-0}"
query="${3:-DeviceInfo}"
sim_port=19480
grpc_port=19481

cargo build --release --bin defender-bridge --example hunt >/dev/null
bin=target/release/defender-bridge

"$bin" sim --machines 100000 --no-rate-limits --listen "127.0.0.1:$sim_port" >/tmp/hunting-rss-sim.log 2>&1 &
sim_pid=$!
serve_pid=
trap 'kill "$sim_pid" ${serve_pid:+"$serve_pid"} 2>/dev/null || true' EXIT
until grep -q "listening" /tmp/hunting-rss-sim.log; do sleep 0.2; done

sim="http://127.0.0.1:$sim_port"
DEFENDER_API_URL="$sim" DEFENDER_LOGIN_URL="$sim" DEFENDER_GRAPH_URL="$sim" \
DEFENDER_TENANT_ID=00000000-0000-0000-0000-000000000001 \
DEFENDER_CLIENT_ID=11111111-1111-1111-1111-111111111111 \
DEFENDER_CLIENT_SECRET=sim-secret DEFENDER_HUNTING_BACKEND="$backend" \
  "$bin" serve --listen "127.0.0.1:$grpc_port" >/tmp/hunting-rss-serve.log 2>&1 &
serve_pid=$!
for _ in $(seq 1 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$grpc_port") 2>/dev/null && break
  sleep 0.1
done

kib() { awk -v k="$1" '$1 == k":" { print $2 }' "/proc/$serve_pid/status"; }
idle_hwm=$(kib VmHWM)
# The size of the result on the wire from the backend (the same query, straight at the simulator).
if [ "$backend" = graph ]; then
  scope=https://graph.microsoft.com/.default; path=/v1.0/security/runHuntingQuery
else
  scope=https://api.securitycenter.microsoft.com/.default; path=/api/advancedqueries/run
fi
token=$(curl -s "$sim/00000000-0000-0000-0000-000000000001/oauth2/v2.0/token" \
  -d grant_type=client_credentials -d client_id=11111111-1111-1111-1111-111111111111 \
  -d client_secret=sim-secret -d "scope=$scope" | sed 's/.*"access_token":"\([^"]*\)".*/\1/')
json_bytes=$(curl -s -o /dev/null -w '%{size_download}' -X POST "$sim$path" \
  -H "Authorization: Bearer $token" -H 'Content-Type: application/json' -d "{\"Query\":\"$query\"}")

result=$(target/release/examples/hunt "http://127.0.0.1:$grpc_port" "$query" "$batch_rows")
peak_hwm=$(kib VmHWM)
echo "backend=$backend batch_rows=$batch_rows query=$query"
echo "client: $result"
echo "result JSON from the backend: $((json_bytes / 1024)) KiB"
echo "service VmHWM idle (after start-up): ${idle_hwm} KiB"
echo "service VmHWM after streaming: ${peak_hwm} KiB (+$((peak_hwm - idle_hwm)) KiB)"
