#!/usr/bin/env bash
# Runs every grpcurl example of README.md verbatim against live demos, so that the README's
# examples can never rot. Takes each line that starts with `grpcurl ` inside a ```sh block, starts
# `defender-bridge demo` on 127.0.0.1:50051 and `defender-bridge demo --tls --tls-dir demo-tls`
# on 127.0.0.1:50052 (the addresses and folder the README uses; the script stops if something
# already listens there), runs each line with bash in a scratch folder holding `demo-tls/` (the
# TLS demo's CA, client certificate and key, and API key), and checks that it exits 0 and that
# its output is what that kind of call should print. A line that ends with the comment
# `# fails: <Code>` (a gRPC code as grpcurl names it, e.g. InvalidArgument) must instead fail with
# that code (grpcurl exits with 64 + the code's number) and print its error details decoded: a
# `google.rpc.ErrorInfo` of domain `defenderbridge`, never "is not recognized".
#
# Usage: scripts/readme-grpcurl-test.sh [README]     (default: README.md of the repo)
# Environment: DEFENDER_BRIDGE_BIN (default target/debug/defender-bridge, built when missing).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readme="$(realpath "${1:-$repo_root/README.md}")"
cd "$repo_root"
export PATH="$repo_root/.tools/bin:$PATH"
host=127.0.0.1
port=50051
tls_port=50052

[[ -f "$readme" ]] || { echo "no README at $readme" >&2; exit 1; }
command -v grpcurl >/dev/null || scripts/install-tools.sh
binary="${DEFENDER_BRIDGE_BIN:-$repo_root/target/debug/defender-bridge}"
if [[ ! -x "$binary" ]]; then
  echo "== cargo build (no $binary)"
  cargo build --locked
fi

# The grpcurl lines of ```sh blocks, exactly as written.
mapfile -t commands < <(awk '
  /^```/ { if (in_sh) { in_sh = 0 } else if ($0 ~ /^```(sh|bash|shell)[[:space:]]*$/) { in_sh = 1 }; next }
  in_sh && /^grpcurl / { print }
' "$readme")
if [[ ${#commands[@]} -eq 0 ]]; then
  echo "no grpcurl examples found in the sh code blocks of $readme" >&2
  exit 1
fi

for p in "$port" "$tls_port"; do
  if (exec 3<>"/dev/tcp/$host/$p") 2>/dev/null; then
    echo "$host:$p is already in use: stop what listens there (e.g. a running demo) and retry" >&2
    exit 1
  fi
done

work="$(mktemp -d)"
demo_pids=()
cleanup() {
  for pid in "${demo_pids[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
  rm -rf "$work"
}
trap cleanup EXIT

# start_demo NAME ARGS...: starts `demo ARGS...` and waits for its banner ($work/NAME.out).
start_demo() {
  local name="$1" pid
  shift
  "$binary" demo "$@" >"$work/$name.out" 2>"$work/$name.err" &
  pid=$!
  demo_pids+=("$pid")
  for _ in $(seq 1 600); do
    grep -q "Press Ctrl-C to stop." "$work/$name.out" && return 0
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "defender-bridge demo $* exited before it was ready:" >&2
      cat "$work/$name.out" "$work/$name.err" >&2
      exit 1
    fi
    sleep 0.1
  done
  echo "defender-bridge demo $* not ready after 60s:" >&2
  cat "$work/$name.out" "$work/$name.err" >&2
  exit 1
}

start_demo demo --listen "$host:$port"
# The README's TLS examples read demo-tls/ relative to where they run: $work.
start_demo demo-tls --tls --listen "$host:$tls_port" --tls-dir "$work/demo-tls"

# check_output COMMAND OUTPUT: what a sane answer to this kind of call contains.
check_output() {
  local command="$1" output="$2"
  case "$command" in
    *" list")
      for service in defenderbridge.v1.RiskService defenderbridge.v1.ActionService grpc.health.v1.Health; do
        grep -qx "$service" <<<"$output" || { echo "list does not name $service"; return 1; }
      done
      ;;
    *" describe "*)
      local symbol="${command##* }"
      grep -q "^$symbol is a service:" <<<"$output" || { echo "no '$symbol is a service:'"; return 1; }
      grep -q "rpc " <<<"$output" || { echo "no rpc in the description"; return 1; }
      ;;
    *grpc.health.v1.Health/Check)
      grep -q '"status": "SERVING"' <<<"$output" || { echo "not SERVING"; return 1; }
      ;;
    *defenderbridge.v1.RiskService/CheckConnection)
      grep -q '"ready": true' <<<"$output" || { echo "CheckConnection is not ready"; return 1; }
      grep -q '"Machine.Read.All"' <<<"$output" || { echo "Machine.Read.All not granted"; return 1; }
      ;;
    *)
      # Any other call: a JSON message.
      grep -q '^{' <<<"$output" || { echo "no JSON message in the output"; return 1; }
      ;;
  esac
}

# The numbers of the gRPC codes, by the names grpcurl prints.
grpc_codes=(OK Canceled Unknown InvalidArgument DeadlineExceeded NotFound AlreadyExists
  PermissionDenied ResourceExhausted FailedPrecondition Aborted OutOfRange Unimplemented Internal
  Unavailable DataLoss Unauthenticated)

# check_error COMMAND STATUS OUTPUT: the call failed with the code its `# fails:` comment names
# and every error detail was decoded through reflection.
check_error() {
  local command="$1" status="$2" output="$3" want="${1##*# fails: }" number=""
  want="${want%% *}"
  for i in "${!grpc_codes[@]}"; do
    if [[ "${grpc_codes[$i]}" == "$want" ]]; then number="$i"; fi
  done
  [[ -n "$number" ]] || { echo "unknown gRPC code '$want' in the # fails: comment"; return 1; }
  [[ "$status" -eq $((64 + number)) ]] || { echo "exit status $status, expected $((64 + number)) ($want)"; return 1; }
  grep -q "Code: $want" <<<"$output" || { echo "no 'Code: $want'"; return 1; }
  grep -q '"@type": "type.googleapis.com/google.rpc.ErrorInfo"' <<<"$output" || { echo "no ErrorInfo detail"; return 1; }
  grep -q '"domain": "defenderbridge"' <<<"$output" || { echo "ErrorInfo not decoded (no domain)"; return 1; }
  grep -q '"reason": "[A-Z_]*"' <<<"$output" || { echo "ErrorInfo not decoded (no reason)"; return 1; }
  if grep -q -e "is not recognized" -e '"@value"' <<<"$output"; then
    echo "an error detail was not decoded (reflection lacks its type)"
    return 1
  fi
}

passed=0
failed=0
for command in "${commands[@]}"; do
  echo "\$ $command"
  if [[ "$command" == *"# fails: "* ]]; then
    status=0
    output="$(cd "$work" && bash -c "$command" 2>&1)" || status=$?
    if problem="$(check_error "$command" "$status" "$output")"; then
      passed=$((passed + 1))
      echo "  ok (fails as documented)"
      continue
    fi
  elif output="$(cd "$work" && bash -c "$command" 2>&1)"; then
    if problem="$(check_output "$command" "$output")"; then
      passed=$((passed + 1))
      echo "  ok"
      continue
    fi
  else
    problem="exit status $?"
  fi
  failed=$((failed + 1))
  echo "  FAILED: $problem"
  sed 's/^/  | /' <<<"$output"
done

echo "grpcurl: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
