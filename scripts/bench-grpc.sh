#!/usr/bin/env bash
# The read-side benchmark measured from outside: the service and a tonic hello-world run as
# separate processes, an external load generator (h2load, from nghttp2) drives them over
# loopback, and each server's own CPU time is read from /proc/PID/stat. Prints, per round and
# as medians: requests per second, p50/p99/p99.9 latency, errors, server CPU per call, the load
# generator's CPU per call, and the ratios service / hello-world.
#
#   closed loop (throughput): IN_FLIGHT calls in flight over CONNECTIONS connections, each
#     answer followed at once by the next request, for SECS seconds;
#   open loop (latency): RATE requests a second on a fixed schedule whatever the answers, for
#     SECS seconds, plus how late h2load itself sent them (its own tail, not the server's).
#
# Targets, alternated in every round (the order flips each round, so a trend in the host's
# load hits both alike):
#   hello    examples/hello_server.rs: grpc.health.v1.Health/Check on a plain tonic server
#            with the service's tonic, runtime, allocator and server settings;
#   service  `defender-bridge serve` against `defender-bridge sim` (its own process, so the
#            simulator's CPU is not counted), cache warmed first, then GetEndpointRisk by
#            machine id: every call a cache hit (checked: 0 Defender calls during the load).
#
# Environment: SERVE_ADMIN_LISTEN (default 127.0.0.1:0: metrics recorded and served on a free
# port; `off` records none) and SERVE_RUST_LOG (default info: one access line per call, to the
# serve log) set what the measured service pays for observability; compare runs with
# SERVE_ADMIN_LISTEN=off SERVE_RUST_LOG=warn to see that cost.
#
# Usage: scripts/bench-grpc.sh [--quick] [--rounds N] [--secs T] [--rate R] [--connections C]
#          [--in-flight N] [--view basic|full] [--extra-hex HEX] [--no-closed] [--no-open]
#   --quick          1 round of 2 s (a smoke run)
#   --rounds N       rounds per mode (default 5)       --secs T     seconds per round (8)
#   --rate R         open-loop requests/s, total (2000)
#   --connections C  HTTP/2 connections (4)           --in-flight N  closed-loop calls in flight (32)
#   --view V         the RiskView asked for: basic (RISK_VIEW_BASIC, about 670 bytes answered)
#                    or full (RISK_VIEW_FULL); default: none set, which is the full answer
#   --extra-hex HEX  protobuf bytes appended to every GetEndpointRiskRequest after the machine id
#                    (e.g. a field the service adds later; `3802` is field 7 = 2)
#   --machine-id ID  the machine asked for (default: the simulator's sample machine)
#   --secure         also TLS and caller authentication: three more targets (hello-tls: the
#                    hello-world over TLS; service-tls: the service over TLS, no callers file;
#                    service-key: the service over TLS with a callers file, every call carrying
#                    an API key) and a summary of what TLS and authentication add per call
#                    (needs openssl for a throw-away certificate)
#   --ids N          also a rotation variant: the service alone, driven by ghz (grpc-go; it can
#                    send a different request each call, h2load cannot), closed loop, the first
#                    N machines of the fleet in turn (all cached) against the one machine
#                    (default 0: skipped). ghz is installed into .tools/bin with `go install`
#                    when missing (needs Go).
# Environment: PORT_BASE (default 19560: hello, service, simulator on +0, +1, +2; with --secure
# hello-tls, service-tls, service-key on +3, +4, +5), LOG_DIR
# (default /tmp/bench-grpc), CARGO_FLAGS (extra build flags, e.g. --no-default-features for
# both binaries), H2LOAD_THREADS (1), PROFILE=debug (a quick check of the script only).
#
# Tools: h2load and nghttp (Debian/Ubuntu package `nghttp2-client`). If h2load is missing and
# this runs as root with apt-get, it installs that package (idempotent: nothing is done when
# h2load is present); otherwise it says what to install. Also needs cargo, python3 and curl.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

rounds=5
secs=8
rate=2000
conns=4
in_flight=32
extra_hex=
view=
machine_id=
ids=0
secure=0
do_closed=1
do_open=1
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) rounds=1; secs=2 ;;
    --rounds) rounds="$2"; shift ;;
    --secs) secs="$2"; shift ;;
    --rate) rate="$2"; shift ;;
    --connections) conns="$2"; shift ;;
    --in-flight) in_flight="$2"; shift ;;
    --extra-hex) extra_hex="$2"; shift ;;
    --view) view="$2"; shift ;;
    --machine-id) machine_id="$2"; shift ;;
    --ids) ids="$2"; shift ;;
    --secure) secure=1 ;;
    --no-closed) do_closed=0 ;;
    --no-open) do_open=0 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
[ $((in_flight % conns)) -eq 0 ] || { echo "--in-flight must be a multiple of --connections" >&2; exit 2; }
[ $((rate % conns)) -eq 0 ] || { echo "--rate must be a multiple of --connections" >&2; exit 2; }
[[ "$extra_hex" =~ ^([0-9a-fA-F]{2})*$ ]] || { echo "--extra-hex: an even number of hex digits" >&2; exit 2; }
# GetEndpointRiskRequest.view is field 7 (varint): tag 0x38, then the RiskView number.
case "$view" in
  "") view_hex= view_name= ;;
  basic) view_hex=3801 view_name=RISK_VIEW_BASIC ;;
  full) view_hex=3802 view_name=RISK_VIEW_FULL ;;
  *) echo "--view: basic or full" >&2; exit 2 ;;
esac

port_base="${PORT_BASE:-19560}"
hello_port=$port_base
grpc_port=$((port_base + 1))
sim_port=$((port_base + 2))
hello_tls_port=$((port_base + 3))
tls_port=$((port_base + 4))
key_port=$((port_base + 5))
log="${LOG_DIR:-/tmp/bench-grpc}"
threads="${H2LOAD_THREADS:-1}"
mkdir -p "$log"
rm -f "$log"/*.tsv "$log/results.jsonl"

# --- tools -------------------------------------------------------------------------------
if ! command -v h2load >/dev/null || ! command -v nghttp >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing nghttp2-client (h2load, nghttp) with apt-get"
    DEBIAN_FRONTEND=noninteractive apt-get install -y nghttp2-client >"$log/apt.log" 2>&1 ||
      { apt-get update >>"$log/apt.log" 2>&1 &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y nghttp2-client >>"$log/apt.log" 2>&1; } ||
      { cat "$log/apt.log" >&2; exit 1; }
  else
    echo "h2load not found: install nghttp2 (Debian/Ubuntu: apt-get install nghttp2-client;" \
      "Fedora: dnf install nghttp2; macOS: brew install nghttp2)" >&2
    exit 1
  fi
fi
ghz=
if [ "$ids" -gt 0 ]; then
  ghz=$(command -v ghz || echo "$PWD/.tools/bin/ghz")
  if [ ! -x "$ghz" ]; then
    command -v go >/dev/null || { echo "--ids needs ghz: install Go, or ghz itself" >&2; exit 1; }
    echo "installing ghz into .tools/bin with go install"
    mkdir -p .tools/bin
    GOBIN="$PWD/.tools/bin" go install github.com/bojand/ghz/cmd/ghz@latest
  fi
fi
need=(cargo python3 curl)
[ "$secure" = 1 ] && need+=(openssl)
for tool in "${need[@]}"; do
  command -v "$tool" >/dev/null || { echo "$tool not found" >&2; exit 1; }
done

# --- build and start ---------------------------------------------------------------------
target_dir="${CARGO_TARGET_DIR:-target}"
# PROFILE=debug only checks the script quickly: its figures mean nothing.
profile="${PROFILE:-release}"
profile_flag=--release
[ "$profile" = release ] || profile_flag=
echo "building ($profile): defender-bridge, examples/hello_server ${CARGO_FLAGS:-}"
# shellcheck disable=SC2086
cargo build $profile_flag ${CARGO_FLAGS:-} --bin defender-bridge --example hello_server \
  >"$log/build.log" 2>&1 || { tail -n 30 "$log/build.log" >&2; exit 1; }
bin="$target_dir/$profile/defender-bridge"
hello_bin="$target_dir/$profile/examples/hello_server"

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT

wait_for() { # LOGFILE PID PATTERN
  for _ in $(seq 1 300); do
    grep -q "$3" "$1" 2>/dev/null && return 0
    kill -0 "$2" 2>/dev/null || { cat "$1" >&2; exit 1; }
    sleep 0.1
  done
  echo "timed out waiting for '$3' in $1" >&2
  exit 1
}

sim="http://127.0.0.1:$sim_port"
"$bin" sim --machines 1000 --no-rate-limits --listen "127.0.0.1:$sim_port" >"$log/sim.log" 2>&1 &
sim_pid=$!
pids+=("$sim_pid")
wait_for "$log/sim.log" "$sim_pid" listening

# No local rate budget (the simulator enforces none) and a cache that outlives the run: every
# measured call must be a cache hit.
cat >"$log/bench.toml" <<'EOF'
[defender]
rate_limits = false

[cache]
risk_ttl_secs = 86400
lookup_ttl_secs = 86400
EOF
start_serve() { # NAME PORT [serve flags...]: the service against the simulator
  local name=$1 port=$2
  shift 2
  DEFENDER_API_URL="$sim" DEFENDER_LOGIN_URL="$sim" DEFENDER_GRAPH_URL="$sim" \
  DEFENDER_TENANT_ID=00000000-0000-0000-0000-000000000001 \
  DEFENDER_CLIENT_ID=11111111-1111-1111-1111-111111111111 \
  DEFENDER_CLIENT_SECRET=sim-secret \
  DEFENDER_BRIDGE_ADMIN_LISTEN="${SERVE_ADMIN_LISTEN:-127.0.0.1:0}" RUST_LOG="${SERVE_RUST_LOG:-info}" \
    "$bin" serve --config "$log/bench.toml" --listen "127.0.0.1:$port" "$@" >"$log/$name.log" 2>&1 &
  pid_of[$name]=$!
  pids+=("$!")
  wait_for "$log/$name.log" "$!" "defender-bridge listening"
}
declare -A pid_of port_of url_of auth_of
start_serve service "$grpc_port"
serve_pid=${pid_of[service]}

"$hello_bin" "127.0.0.1:$hello_port" >"$log/hello.log" 2>&1 &
hello_pid=$!
pids+=("$hello_pid")
pid_of[hello]=$hello_pid
wait_for "$log/hello.log" "$hello_pid" "hello_server listening"

targets="hello service"
port_of[hello]=$hello_port port_of[service]=$grpc_port
if [ "$secure" = 1 ]; then
  # A throw-away certificate for 127.0.0.1 (P-256, as `demo --tls` makes) and an API key.
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
    -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
    -keyout "$log/tls.key" -out "$log/tls.pem" >"$log/openssl.log" 2>&1 ||
    { cat "$log/openssl.log" >&2; exit 1; }
  "$bin" keygen --name bench --roles reader >"$log/keygen.txt"
  api_key=$(head -n1 "$log/keygen.txt")
  # The key's own limits far above the load: the per-caller limiter still runs on every call
  # (what is measured), but never refuses one.
  { tail -n +2 "$log/keygen.txt"; echo "rate_per_minute = 1000000000"; echo "max_concurrent = 100000"; } \
    >"$log/callers.toml"
  start_serve service-tls "$tls_port" --tls-cert "$log/tls.pem" --tls-key "$log/tls.key"
  start_serve service-key "$key_port" --tls-cert "$log/tls.pem" --tls-key "$log/tls.key" \
    --callers "$log/callers.toml"
  "$hello_bin" "127.0.0.1:$hello_tls_port" "$log/tls.pem" "$log/tls.key" >"$log/hello-tls.log" 2>&1 &
  pid_of[hello-tls]=$!
  pids+=("$!")
  wait_for "$log/hello-tls.log" "$!" "hello_server listening"
  port_of[hello-tls]=$hello_tls_port port_of[service-tls]=$tls_port port_of[service-key]=$key_port
  auth_of[service-key]="authorization: Bearer $api_key"
  targets="hello hello-tls service service-tls service-key"
fi
for t in $targets; do
  case $t in *-tls|*-key) url_of[$t]="https://127.0.0.1:${port_of[$t]}" ;; *) url_of[$t]="http://127.0.0.1:${port_of[$t]}" ;; esac
done
path_of() { case $1 in hello*) echo "/grpc.health.v1.Health/Check" ;; *) echo "/defenderbridge.v1.RiskService/GetEndpointRisk" ;; esac; }
body_of() { case $1 in hello*) echo "$log/hello.bin" ;; *) echo "$log/service.bin" ;; esac; }
# Extra h2load/nghttp header arguments of a target (the API key of service-key).
hdr_of() { [ -n "${auth_of[$1]:-}" ] && printf '%s\n' -H "${auth_of[$1]}"; return 0; }

# --- request bodies (gRPC frame: flag byte 0, 4-byte big-endian length, protobuf) ------------
if [ -z "$machine_id" ]; then
  machine_id=$(curl -sf "$sim/_sim/info" | python3 -c 'import json,sys; print(json.load(sys.stdin)["sampleMachineId"])')
fi
frame() { # HEX_PROTOBUF OUTFILE
  python3 -c 'import sys, struct; b = bytes.fromhex(sys.argv[1]); sys.stdout.buffer.write(b"\0" + struct.pack(">I", len(b)) + b)' "$1" >"$2"
}
# GetEndpointRiskRequest: field 1 (machine_id, string) = tag 0x0a, length, the id's bytes.
id_hex=$(printf '%s' "$machine_id" | od -An -tx1 | tr -d ' \n')
frame "0a$(printf '%02x' ${#machine_id})${id_hex}${view_hex}${extra_hex}" "$log/service.bin"
# HealthCheckRequest with the empty service name: an empty message.
frame "" "$log/hello.bin"
service_path=/defenderbridge.v1.RiskService/GetEndpointRisk
hello_path=/grpc.health.v1.Health/Check

# One call through nghttp: checks grpc-status 0 and prints the answer's DATA bytes (gRPC frame
# included), which every answer of the round must match: h2load counts HTTP statuses only, and
# a gRPC error is an HTTP 200 whose answer has no message, so short DATA totals reveal errors.
sample() { # TARGET
  local out t=$1 hdr
  mapfile -t hdr < <(hdr_of "$t")
  out=$(nghttp -v -d "$(body_of "$t")" -H 'content-type: application/grpc' -H 'te: trailers' \
    "${hdr[@]}" "${url_of[$t]}$(path_of "$t")" 2>&1 | tr -d '\000')
  if ! grep -aqE '^ *\[ *[0-9.]+\] recv \(stream_id=[0-9]+\) grpc-status: 0' <<<"$out"; then
    echo "call to $t (${url_of[$t]}) failed:" >&2
    grep -aE 'grpc-status|grpc-message' <<<"$out" >&2 || echo "$out" | tail -n 20 >&2
    exit 1
  fi
  grep -aoE 'recv DATA frame <length=[0-9]+' <<<"$out" | awk -F= '{ n += $2 } END { print n + 0 }'
}
declare -A len_of
for t in $targets; do
  [[ $t == service* ]] && sample "$t" >/dev/null # the cache miss that warms it
  len_of[$t]=$(sample "$t")
done
service_len=${len_of[service]}
hello_len=${len_of[hello]}
upstream_calls() { curl -sf "$sim/_sim/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["apiRequests"])'; }

ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }
sys_ticks() { awk '{ sub(/^.*\) /, ""); print $13 }' "/proc/$1/stat"; }
clk_tck=$(getconf CLK_TCK)

# --- one round: one h2load run against one target ------------------------------------------
run() { # MODE ROUND TARGET
  local mode=$1 round=$2 target=$3 pid len out tsv hdr
  pid=${pid_of[$target]} len=${len_of[$target]}
  mapfile -t hdr < <(hdr_of "$target")
  out="$log/$mode-$round-$target.out"
  tsv="$log/$mode-$round-$target.tsv"
  local flow=(-c "$conns" -m $((in_flight / conns)))
  # Open loop: a fixed rate per connection, and room for many more streams than the rate
  # needs, so a slow answer never holds the next request back.
  [ "$mode" = open ] && flow=(-c "$conns" -m 256 --rps $((rate / conns)))
  local load0 cpu0 cpu1 sys0 sys1
  load0=$(cut -d' ' -f1 /proc/loadavg)
  cpu0=$(ticks "$pid")
  sys0=$(sys_ticks "$pid")
  local TIMEFORMAT='%U %S'
  { time h2load "${flow[@]}" -t "$threads" -D "$secs" -d "$(body_of "$target")" \
      -H 'content-type: application/grpc' -H 'te: trailers' "${hdr[@]}" --log-file="$tsv" \
      "${url_of[$target]}$(path_of "$target")" >"$out" 2>&1; } 2>"$out.time"
  cpu1=$(ticks "$pid")
  sys1=$(sys_ticks "$pid")
  python3 - "$mode" "$round" "$target" "$out" "$tsv" "$len" $((cpu1 - cpu0)) "$clk_tck" \
    "$load0" "$rate" "$conns" "$log/results.jsonl" $((sys1 - sys0)) <<'PY'
import json, re, sys
mode, rnd, target, out, tsv, ln, dticks, tck, load, rate, conns, results, dsys = sys.argv[1:]
ln, dticks, tck, rate, conns, dsys = int(ln), int(dticks), int(tck), int(rate), int(conns), int(dsys)
text = open(out).read()
def num(pattern):
    m = re.search(pattern, text)
    if not m:
        sys.exit(f"h2load output lacks {pattern!r}:\n{text}")
    return float(m.group(1))
done = int(num(r"requests: .*?(\d+) done"))
succeeded = int(num(r"(\d+) succeeded"))
failed = int(num(r"(\d+) failed")) + int(num(r"(\d+) errored")) + int(num(r"(\d+) timeout"))
non2xx = sum(int(num(rf"(\d+) {c}xx")) for c in (3, 4, 5))
data = int(num(r"\((\d+)\) data"))
secs = num(r"finished in ([\d.]+)s")
# A gRPC error answer carries no message: count the answers missing from the DATA total.
grpc_errors = max(0, round((succeeded * ln - data) / ln))
gen_user, gen_sys = (float(x) for x in open(out + ".time").read().split())
rows = [line.split("\t") for line in open(tsv) if line.strip()]
lat = sorted(int(r[2]) for r in rows)
def pct(values, p):
    return values[min(len(values) - 1, int(p / 100 * len(values)))] / 1000 if values else float("nan")
rec = dict(mode=mode, round=int(rnd), target=target, rps=done / secs, done=done,
           errors=failed + non2xx + grpc_errors, grpc_errors=grpc_errors,
           p50=pct(lat, 50), p99=pct(lat, 99), p999=pct(lat, 99.9),
           server_us=dticks / tck / max(done, 1) * 1e6,
           server_sys_us=dsys / tck / max(done, 1) * 1e6,
           gen_us=(gen_user + gen_sys) / max(done, 1) * 1e6,
           server_cores=dticks / tck / secs, load=float(load))
if mode == "open":
    # How late h2load sent each request against its own schedule: every connection sends one
    # request each conns/rate seconds, all starting together, so the k-th send (in time
    # order) is due at start + (k // conns) * conns / rate. The lag's floor is subtracted
    # (the connections' start offsets); what remains is h2load's own tail.
    starts = sorted(int(r[0]) for r in rows)
    if starts:
        lags = sorted(s - starts[0] - (k // conns) * conns * 1e6 / rate for k, s in enumerate(starts))
        floor = lags[0]
        lags = [x - floor for x in lags]
        rec.update(lag_p50=pct(lags, 50), lag_p99=pct(lags, 99), lag_p999=pct(lags, 99.9))
with open(results, "a") as f:
    f.write(json.dumps(rec) + "\n")
line = (f"{mode:6} round {rnd}  {target:11}  {rec['rps']:9,.0f} rps  p50 {rec['p50']:6.3f} ms"
        f"  p99 {rec['p99']:6.3f} ms  p99.9 {rec['p999']:6.3f} ms  errors {rec['errors']}"
        f"  server {rec['server_us']:5.1f} us/call (kernel {rec['server_sys_us']:4.1f};"
        f" {rec['server_cores']:.2f} cores)  h2load {rec['gen_us']:5.1f} us/call  load {rec['load']:.2f}")
if "lag_p99" in rec:
    line += f"  send lag p99 {rec['lag_p99']:.3f} ms"
print(line)
PY
}

# --- rotation variant (ghz): one machine against N machines in turn, all cached ----------------
ghz_call() { # DATA_FILE ghz-flags...
  local data=$1
  shift
  "$ghz" --insecure --call defenderbridge.v1.RiskService.GetEndpointRisk -D "$data" \
    --connections "$conns" "$@" "127.0.0.1:$grpc_port"
}
run_ghz() { # ROUND VARIANT(one|many)
  local round=$1 variant=$2 out="$log/rotate-$1-$2.json" cpu0 cpu1 load0
  load0=$(cut -d' ' -f1 /proc/loadavg)
  cpu0=$(ticks "$serve_pid")
  local TIMEFORMAT='%U %S'
  { time ghz_call "$log/$variant.json" -c "$in_flight" -z "${secs}s" --duration-stop=wait \
      -O json >"$out" 2>"$out.err"; } 2>"$out.time"
  cpu1=$(ticks "$serve_pid")
  python3 - "$round" "$variant" "$out" $((cpu1 - cpu0)) "$clk_tck" "$load0" "$log/results.jsonl" <<'PY'
import json, sys
rnd, variant, out, dticks, tck, load, results = sys.argv[1:]
dticks, tck = int(dticks), int(tck)
r = json.load(open(out))
count = r["count"]
secs = r["total"] / 1e9
lat = {int(p["percentage"]): p["latency"] / 1e6 for p in r.get("latencyDistribution") or []}
ok = (r.get("statusCodeDistribution") or {}).get("OK", 0)
gen_user, gen_sys = (float(x) for x in open(out + ".time").read().split())
rec = dict(mode="rotate", round=int(rnd), target=variant, rps=count / secs, done=count,
           errors=count - ok, p50=lat.get(50, float("nan")), p99=lat.get(99, float("nan")),
           server_us=dticks / tck / max(count, 1) * 1e6,
           gen_us=(gen_user + gen_sys) / max(count, 1) * 1e6,
           server_cores=dticks / tck / secs, load=float(load))
with open(results, "a") as f:
    f.write(json.dumps(rec) + "\n")
print(f"rotate round {rnd}  {variant:7}  {rec['rps']:9,.0f} rps  p50 {rec['p50']:6.3f} ms"
      f"  p99 {rec['p99']:6.3f} ms  errors {rec['errors']}"
      f"  server {rec['server_us']:5.1f} us/call ({rec['server_cores']:.2f} cores)"
      f"  ghz {rec['gen_us']:5.1f} us/call  load {rec['load']:.2f}")
PY
}
if [ "$ids" -gt 0 ]; then
  curl -sf "$sim/_sim/fleet?top=$ids" | python3 -c '
import json, sys
ids = [m["id"] for m in json.load(sys.stdin)]
view = sys.argv[2]
json.dump([dict({"machine_id": i}, **({"view": view} if view else {})) for i in ids],
          open(sys.argv[1], "w"))
print(len(ids))' "$log/many.json" "$view_name" >"$log/many.count"
  python3 -c 'import json, sys; json.dump([dict({"machine_id": sys.argv[1]}, **({"view": sys.argv[2]} if sys.argv[2] else {}))], open(sys.argv[3], "w"))' \
    "$machine_id" "$view_name" "$log/one.json"
  ids=$(cat "$log/many.count")
  # Warm: each of the N machines once (ghz sends the array's messages in turn).
  ghz_call "$log/many.json" -n "$ids" -c 8 -O json >"$log/rotate-warm.json" 2>&1
  python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); d=r.get("statusCodeDistribution") or {}; sys.exit(0 if set(d)=={"OK"} else f"warming failed: {d}")' \
    "$log/rotate-warm.json"
fi

# --- the rounds ------------------------------------------------------------------------------
upstream0=$(upstream_calls)
echo "defender-bridge $(git describe --always --dirty 2>/dev/null || echo '?')," \
  "$(nproc) cores, $(h2load --version | head -n1), host load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "service: GetEndpointRisk machine $machine_id, view ${view:-unset (full)} (answer $service_len bytes framed), cache warm;" \
  "hello: Health/Check (answer $hello_len bytes)"
echo "$rounds round(s) of ${secs}s per target and mode, $conns connections;" \
  "closed loop $in_flight in flight, open loop $rate requests/s"
for mode in closed open; do
  [ "$mode" = closed ] && [ "$do_closed" = 0 ] && continue
  [ "$mode" = open ] && [ "$do_open" = 0 ] && continue
  # An unmeasured second per target first: connections, caches and the CPU's clocks settle.
  for t in $targets; do
    mapfile -t hdr < <(hdr_of "$t")
    h2load -c "$conns" -m 8 -D 1 -d "$(body_of "$t")" -H 'content-type: application/grpc' \
      -H 'te: trailers' "${hdr[@]}" "${url_of[$t]}$(path_of "$t")" >/dev/null 2>&1
  done
  for round in $(seq 1 "$rounds"); do
    # The order flips every round, so a trend in the host's load hits every target alike.
    order=$targets
    [ $((round % 2)) = 0 ] && order=$(tr ' ' '\n' <<<"$targets" | tac | tr '\n' ' ')
    for target in $order; do run "$mode" "$round" "$target"; done
  done
done
if [ "$ids" -gt 0 ]; then
  echo "rotation: ghz, $in_flight in flight over $conns connections; one = machine $machine_id," \
    "many = $ids machines in turn"
  ghz_call "$log/many.json" -c "$in_flight" -z 1s -O json >/dev/null 2>&1
  for round in $(seq 1 "$rounds"); do
    if [ $((round % 2)) = 1 ]; then order="one many"; else order="many one"; fi
    for variant in $order; do run_ghz "$round" "$variant"; done
  done
fi
upstream1=$(upstream_calls)
# Answers still correct after the load (same size, grpc-status 0).
for t in $targets; do
  [ "$(sample "$t")" = "${len_of[$t]}" ] ||
    { echo "the answer of $t changed size during the run" >&2; exit 1; }
done
echo "Defender calls during the load: $((upstream1 - upstream0)) (0: every call was a cache hit);" \
  "host load after: $(cut -d' ' -f1-3 /proc/loadavg)"

# --- summary ---------------------------------------------------------------------------------
python3 - "$log/results.jsonl" <<'PY'
import json, statistics, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
def med(xs):
    return statistics.median(xs) if xs else float("nan")
titles = {"closed": ("closed loop (throughput)", "hello", "service"),
          "open": ("open loop (latency at a fixed rate)", "hello", "service"),
          "rotate": ("rotation (ghz, service only: one cached machine vs many in turn)", "one", "many")}
for mode, (title, a, b) in titles.items():
    rs = [r for r in recs if r["mode"] == mode]
    if not rs:
        continue
    rounds = sorted({r["round"] for r in rs})
    get = lambda rnd, t: next(r for r in rs if r["round"] == rnd and r["target"] == t)
    print(f"\n{title}: medians over {len(rounds)} round(s); ratio = {b} / {a}, per round")
    keys = [("rps", "RPS", "{:,.0f}"), ("p50", "p50 ms", "{:.3f}"), ("p99", "p99 ms", "{:.3f}"),
            ("p999", "p99.9 ms", "{:.3f}"), ("errors", "errors", "{:.0f}"),
            ("server_us", "server CPU us/call", "{:.1f}"),
            ("server_sys_us", "  of which kernel", "{:.1f}"),
            ("gen_us", ("ghz" if mode == "rotate" else "h2load") + " CPU us/call", "{:.1f}")]
    if mode == "rotate":
        keys = [k for k in keys if k[0] not in ("p999", "server_sys_us")]
    if mode == "open":
        keys.append(("lag_p99", "h2load send lag p99 ms", "{:.3f}"))
    print(f"  {'':24}{a:>12}{b:>12}{'ratio':>8}   per-round ratios")
    for key, label, fmt in keys:
        h = [get(n, a)[key] for n in rounds]
        s = [get(n, b)[key] for n in rounds]
        ratios = [b / a for a, b in zip(h, s) if a]
        per = " ".join(f"{x:.2f}" for x in ratios) if key not in ("errors",) else ""
        ratio = f"{med(ratios):.2f}" if ratios and key != "errors" else ""
        print(f"  {label:24}{fmt.format(med(h)):>12}{fmt.format(med(s)):>12}{ratio:>8}   {per}")
    loads = [r["load"] for r in rs]
    print(f"  host load (1-min average) during the rounds: {min(loads):.2f}-{max(loads):.2f}")
secure = ["hello", "hello-tls", "service", "service-tls", "service-key"]
for mode in ("closed", "open"):
    rs = [r for r in recs if r["mode"] == mode and r["target"] in secure]
    if {r["target"] for r in rs} != set(secure):
        continue
    rounds = sorted({r["round"] for r in rs})
    get = lambda rnd, t, k: next(r[k] for r in rs if r["round"] == rnd and r["target"] == t)
    print(f"\nTLS and caller authentication, {mode} loop: medians over {len(rounds)} round(s)")
    print(f"  {'target':13}{'RPS':>10}{'p99 ms':>9}{'errors':>8}{'server us/call':>16}")
    for t in secure:
        print(f"  {t:13}{med([get(n, t, 'rps') for n in rounds]):>10,.0f}"
              f"{med([get(n, t, 'p99') for n in rounds]):>9.3f}"
              f"{sum(get(n, t, 'errors') for n in rounds):>8.0f}"
              f"{med([get(n, t, 'server_us') for n in rounds]):>16.1f}")
    # Differences per round (same round, so the same host load), then their median.
    def delta(a, b):
        return med([get(n, b, "server_us") - get(n, a, "server_us") for n in rounds])
    def ratio(a, b, k):
        return med([get(n, b, k) / get(n, a, k) for n in rounds if get(n, a, k)])
    print(f"  server CPU added per call: TLS to hello {delta('hello', 'hello-tls'):+.1f} us,"
          f" TLS to the service {delta('service', 'service-tls'):+.1f} us,"
          f" authentication (API key) {delta('service-tls', 'service-key'):+.1f} us")
    print(f"  service-key / hello-tls: RPS {ratio('hello-tls', 'service-key', 'rps'):.2f}x,"
          f" server CPU per call {ratio('hello-tls', 'service-key', 'server_us'):.2f}x;"
          f" service-key / service (plaintext, no callers): RPS"
          f" {ratio('service', 'service-key', 'rps'):.2f}x")
PY
echo "raw h2load output and per-request logs: $log"
