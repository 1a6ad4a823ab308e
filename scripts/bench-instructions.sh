#!/usr/bin/env bash
# Where the server's CPU goes on a cache hit, counted in instructions (valgrind's callgrind),
# which a busy machine does not change: CPU time per call moves with the neighbours' load,
# instruction counts barely do. Runs the hello-world baseline (examples/hello_server.rs) and
# the service (`defender-bridge serve` on `defender-bridge sim`, cache warmed) each under
# callgrind, zeroes the counters once the server is warm, sends CALLS calls with h2load (the
# closed-loop shape of scripts/bench-grpc.sh: 32 in flight over 4 connections), dumps the
# counters, and prints instructions per call for both, their ratio, and the service's most
# expensive functions (self cost, and inclusive cost of the main steps).
#
# Usage: scripts/bench-instructions.sh [CALLS=20000] [TOP=30]
# Environment: PORT_BASE (default 19570), LOG_DIR (default /tmp/bench-instructions),
# PROFILE=debug (a quick check of the script only).
# Needs valgrind (Debian: apt-get install valgrind) and h2load (nghttp2-client; installed by
# scripts/bench-grpc.sh when run as root).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
calls="${1:-20000}"
top="${2:-30}"
port_base="${PORT_BASE:-19570}"
hello_port=$port_base
grpc_port=$((port_base + 1))
sim_port=$((port_base + 2))
log="${LOG_DIR:-/tmp/bench-instructions}"
mkdir -p "$log"
rm -f "$log"/callgrind.*
for tool in valgrind callgrind_control callgrind_annotate h2load nghttp python3 curl; do
  command -v "$tool" >/dev/null || { echo "$tool not found (see the header of $0)" >&2; exit 1; }
done

# PROFILE=debug only checks the script quickly: its figures mean nothing.
profile="${PROFILE:-release}"
profile_flag=--release
[ "$profile" = release ] || profile_flag=
cargo build $profile_flag --bin defender-bridge --example hello_server >"$log/build.log" 2>&1 ||
  { tail -n 30 "$log/build.log" >&2; exit 1; }
bin="${CARGO_TARGET_DIR:-target}/$profile/defender-bridge"
hello_bin="${CARGO_TARGET_DIR:-target}/$profile/examples/hello_server"

pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT
wait_for() { # LOGFILE PID PATTERN
  for _ in $(seq 1 1200); do
    grep -q "$3" "$1" 2>/dev/null && return 0
    kill -0 "$2" 2>/dev/null || { cat "$1" >&2; exit 1; }
    sleep 0.1
  done
  echo "timed out waiting for '$3' in $1" >&2
  exit 1
}
frame() { # HEX_PROTOBUF OUTFILE
  python3 -c 'import sys, struct; b = bytes.fromhex(sys.argv[1]); sys.stdout.buffer.write(b"\0" + struct.pack(">I", len(b)) + b)' "$1" >"$2"
}
grpc_ok() { # PORT PATH BODY
  nghttp -v -d "$3" -H 'content-type: application/grpc' -H 'te: trailers' \
    "http://127.0.0.1:$1$2" 2>&1 | tr -d '\000' | grep -aqE 'recv \(stream_id=[0-9]+\) grpc-status: 0' ||
    { echo "call to $2 on port $1 failed" >&2; exit 1; }
}
h2() { # PORT PATH BODY N
  h2load -c 4 -m 8 -n "$4" -d "$3" -H 'content-type: application/grpc' -H 'te: trailers' \
    "http://127.0.0.1:$1$2" >"$log/h2load.out" 2>&1
  grep -qE "requests: .* $4 succeeded" "$log/h2load.out" || { cat "$log/h2load.out" >&2; exit 1; }
}
vg=(valgrind --tool=callgrind --dump-instr=no --separate-threads=no)

sim="http://127.0.0.1:$sim_port"
"$bin" sim --machines 1000 --no-rate-limits --listen "127.0.0.1:$sim_port" >"$log/sim.log" 2>&1 &
pids+=($!)
wait_for "$log/sim.log" "${pids[-1]}" listening
printf '[defender]\nrate_limits = false\n\n[cache]\nrisk_ttl_secs = 86400\n' >"$log/bench.toml"
DEFENDER_API_URL="$sim" DEFENDER_LOGIN_URL="$sim" DEFENDER_GRAPH_URL="$sim" \
DEFENDER_TENANT_ID=00000000-0000-0000-0000-000000000001 \
DEFENDER_CLIENT_ID=11111111-1111-1111-1111-111111111111 \
DEFENDER_CLIENT_SECRET=sim-secret \
  "${vg[@]}" --callgrind-out-file="$log/callgrind.service" \
  "$bin" serve --config "$log/bench.toml" --listen "127.0.0.1:$grpc_port" >"$log/serve.log" 2>&1 &
serve_pid=$!
pids+=("$serve_pid")
"${vg[@]}" --callgrind-out-file="$log/callgrind.hello" \
  "$hello_bin" "127.0.0.1:$hello_port" >"$log/hello.log" 2>&1 &
hello_pid=$!
pids+=("$hello_pid")
wait_for "$log/serve.log" "$serve_pid" "defender-bridge listening"
wait_for "$log/hello.log" "$hello_pid" "hello_server listening"

machine_id=$(curl -sf "$sim/_sim/info" | python3 -c 'import json,sys; print(json.load(sys.stdin)["sampleMachineId"])')
id_hex=$(printf '%s' "$machine_id" | od -An -tx1 | tr -d ' \n')
frame "0a28$id_hex" "$log/service.bin"
frame "" "$log/hello.bin"
service_path=/defenderbridge.v1.RiskService/GetEndpointRisk
hello_path=/grpc.health.v1.Health/Check

measure() { # NAME PID PORT PATH BODY
  grpc_ok "$3" "$4" "$5" # for the service: the cache miss that warms it
  h2 "$3" "$4" "$5" "${WARM_CALLS:-2000}" # warm: connections, allocator pools, the runtime's threads
  callgrind_control -z "$2" >/dev/null
  h2 "$3" "$4" "$5" "$calls"
  callgrind_control -d "$1" "$2" >/dev/null
  # The dump is written as callgrind.NAME.1 (the part number after the base file name).
  for _ in $(seq 1 100); do
    [ -s "$log/callgrind.$1.1" ] && break
    sleep 0.1
  done
}
echo "callgrind: $calls calls per server after a warm-up; build $(git describe --always --dirty 2>/dev/null || echo '?')"
measure hello "$hello_pid" "$hello_port" "$hello_path" "$log/hello.bin"
measure service "$serve_pid" "$grpc_port" "$service_path" "$log/service.bin"

# Self and inclusive instruction counts per function, read from the callgrind file itself
# (callgrind_annotate 3.19 lists the threads' start frames as self cost after a zeroing).
python3 - "$log/callgrind.hello.1" "$log/callgrind.service.1" "$calls" "$top" <<'PY'
import re, sys
from collections import defaultdict

def costs(path):
    names, selfc, incl = {}, defaultdict(int), defaultdict(int)
    rx = re.compile(r"\((\d+)\)(?:\s+(.*))?")
    fn = cfn = None
    after_calls = False
    def ident(text):
        m = rx.match(text)
        if m.group(2):
            names[m.group(1)] = m.group(2).strip()
        return m.group(1)
    for line in open(path, errors="replace"):
        if line.startswith("fn="):
            fn, after_calls = ident(line[3:]), False
        elif line.startswith("cfn="):
            cfn = ident(line[4:])
        elif line.startswith("calls="):
            after_calls = True
        elif fn is not None and (line[:1].isdigit() or line[:1] in "+-*"):
            parts = line.split()
            if len(parts) < 2:
                continue
            cost = int(parts[-1])
            if after_calls:
                after_calls = False
                if cfn != fn:  # a call's inclusive cost, not a recursion into itself
                    incl[fn] += cost
            else:
                selfc[fn] += cost
                incl[fn] += cost
    by_name = lambda d: {k: v for k, v in _merge(d, names).items()}
    return by_name(selfc), by_name(incl)

def _merge(d, names):
    out = defaultdict(int)
    for k, v in d.items():
        out[names.get(k, k)] += v
    return out

hello_path, service_path, calls, top = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
h_self, _ = costs(hello_path)
s_self, s_incl = costs(service_path)
h, s = sum(h_self.values()), sum(s_self.values())
print(f"instructions per call: hello {h / calls:,.0f}, service {s / calls:,.0f}, ratio {s / h:.2f}")
print(f"\nservice, self cost per call (instructions; hello's for the same function), top {top}:")
for name, c in sorted(s_self.items(), key=lambda kv: -kv[1])[:top]:
    print(f"{c / calls:8.0f} {h_self.get(name, 0) / calls:8.0f}  {name[:140]}")
print(f"\nservice, inclusive cost per call (instructions), top {top} under 90% of the total:")
shown = 0
for name, c in sorted(s_incl.items(), key=lambda kv: -kv[1]):
    if c > 0.9 * s:
        continue
    print(f"{c / calls:8.0f}  {name[:150]}")
    shown += 1
    if shown == top:
        break
PY
echo "callgrind files: $log/callgrind.{hello,service}.1 (open with callgrind_annotate or kcachegrind)"
