# Shared by scripts/soak.sh and scripts/memory.sh (sourced, not run): builds the release binary
# and the load example, starts the simulator and `serve` as separate processes on loopback
# ports, and reads the service's memory from /proc. Needs: sim_port, grpc_port, machines,
# sim_flags (e.g. --no-rate-limits), log (a directory). CARGO_FLAGS passes build flags (e.g.
# `--no-default-features`, to compare allocators); PROFILE=debug uses a debug build; SERVE_FLAGS
# adds flags to `serve` (e.g. `--fleet-sync`, docs/fleet-table.md).

target_dir="${CARGO_TARGET_DIR:-target}"
# PROFILE=debug measures a debug build (quicker to build; slower, same data structures).
profile="${PROFILE:-release}"
profile_flag=--release
[ "$profile" = release ] || profile_flag=
# shellcheck disable=SC2086
cargo build $profile_flag ${CARGO_FLAGS:-} --bin defender-bridge --example load >/dev/null
bin="$target_dir/$profile/defender-bridge"
load="$target_dir/$profile/examples/load"
sim="http://127.0.0.1:$sim_port"
grpc="http://127.0.0.1:$grpc_port"

sim_pid=
serve_pid=
sampler_pid=
cleanup() {
  for pid in $sampler_pid $serve_pid $sim_pid; do kill "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT

# shellcheck disable=SC2086
"$bin" sim --machines "$machines" ${sim_flags:-} --listen "127.0.0.1:$sim_port" >"$log/sim.log" 2>&1 &
sim_pid=$!
until grep -q "listening" "$log/sim.log"; do
  kill -0 "$sim_pid" 2>/dev/null || { cat "$log/sim.log" >&2; exit 1; }
  sleep 0.2
done

DEFENDER_API_URL="$sim" DEFENDER_LOGIN_URL="$sim" DEFENDER_GRAPH_URL="$sim" \
DEFENDER_TENANT_ID=00000000-0000-0000-0000-000000000001 \
DEFENDER_CLIENT_ID=11111111-1111-1111-1111-111111111111 \
DEFENDER_CLIENT_SECRET=sim-secret \
  "$bin" serve --listen "127.0.0.1:$grpc_port" ${SERVE_FLAGS:-} >"$log/serve.log" 2>&1 &
serve_pid=$!
for _ in $(seq 1 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$grpc_port") 2>/dev/null && break
  sleep 0.1
done

# The service's VmRSS / VmHWM in KiB.
kib() { awk -v k="$1" '$1 == k":" { print $2 }' "/proc/$serve_pid/status"; }
mib() { echo $(( $1 / 1024 )); }
# Resets VmHWM to the current RSS (Linux >= 4.0), so the next peak is one step's.
reset_peak() { echo 5 >"/proc/$serve_pid/clear_refs"; }
# Answered Defender API requests so far: "total 429s".
upstream() {
  curl -s "$sim/_sim/stats" | python3 -c \
    'import json,sys; s=json.load(sys.stdin); print(s["apiRequests"], s["apiByStatus"].get("429", 0))'
}
