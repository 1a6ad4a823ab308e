#!/usr/bin/env bash
# Runs the four client test suites (Python/pytest, Go/go test, TypeScript/node --test,
# Java/JUnit via Maven) against live `defender-bridge demo` servers that each suite starts on free
# loopback ports, and prints each suite's time. Dependencies come from the registries only (PyPI
# into .tools/venv, the Go module proxy, npm, Maven Central).
#
# Environment:
#   DEFENDER_BRIDGE_BIN           server binary (default target/debug/defender-bridge, built with
#                                 `cargo build` when missing)
#   DEFENDER_BRIDGE_ADDR          host:port of a running server: the suites use it and start none
#   DEFENDER_BRIDGE_PENDING_RPCS  default 1 (the RPCs now exist); 0 runs only the basic tests
#                                 (GetEndpointRisk, StreamFleetRisk, IsolateMachine,
#                                 WatchMachineAction); each language keeps them apart
#   CLIENTS                       the suites to run, e.g. "python go" (default: all four)
#   CLIENTS_CHECK_GENERATED       1: first fail if the committed clients are stale
#                                 (clients/check-generated.sh)
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
tools="$repo_root/.tools"
export PATH="$tools/bin:$PATH"
pending="${DEFENDER_BRIDGE_PENDING_RPCS:-1}"
read -r -a suites <<<"${CLIENTS:-python go typescript java}"

if [[ -z "${DEFENDER_BRIDGE_ADDR:-}" ]]; then
  export DEFENDER_BRIDGE_BIN="${DEFENDER_BRIDGE_BIN:-$repo_root/target/debug/defender-bridge}"
  if [[ ! -x "$DEFENDER_BRIDGE_BIN" ]]; then
    echo "== cargo build (no $DEFENDER_BRIDGE_BIN)"
    cargo build --locked
  fi
fi

if [[ "${CLIENTS_CHECK_GENERATED:-0}" == "1" ]]; then
  echo "== clients/check-generated.sh"
  clients/check-generated.sh
fi

suite_python() {
  local venv="$tools/venv"
  [[ -x "$venv/bin/python" ]] || python3 -m venv "$venv"
  # Installed (not editable) from clients/python, so the test also checks the packaging.
  "$venv/bin/pip" install --quiet --disable-pip-version-check "./clients/python[test]"
  local args=(clients/python/tests -p no:cacheprovider)
  [[ "$pending" == "1" ]] || args+=(--ignore=clients/python/tests/test_pending_rpcs.py)
  "$venv/bin/python" -m pytest "${args[@]}"
}

suite_go() {
  local args=(-count=1)
  [[ "$pending" == "1" ]] && args+=(-tags pendingrpcs)
  (cd clients/go && go vet "${args[@]:1}" ./... && go test "${args[@]}" ./...)
}

suite_typescript() {
  local files=(dist/test/live.test.js)
  [[ "$pending" == "1" ]] && files+=(dist/test/pending-rpcs.test.js)
  # npm ci runs the package's `prepare`, which compiles src/ and test/ into dist/.
  (cd clients/typescript && npm ci --no-audit --no-fund --loglevel=error && node --test "${files[@]}")
}

suite_java() {
  local args=(-B --no-transfer-progress -Dstyle.color=never test)
  # Surefire excludes the JUnit tag "pending-rpcs" unless the property is emptied.
  [[ "$pending" == "1" ]] && args+=(-Dclients.excludedGroups=)
  (cd clients/java && mvn "${args[@]}")
}

results=()
failed=0
for suite in "${suites[@]}"; do
  case "$suite" in
    python | go | typescript | java) ;;
    *) echo "unknown suite '$suite' (python, go, typescript, java)" >&2; exit 2 ;;
  esac
  echo "== $suite"
  start=$SECONDS
  if "suite_$suite"; then
    results+=("$(printf '%-11s ok      %4ds' "$suite" $((SECONDS - start)))")
  else
    results+=("$(printf '%-11s FAILED  %4ds' "$suite" $((SECONDS - start)))")
    failed=$((failed + 1))
  fi
done

echo
echo "== client suites$([[ "$pending" == "1" ]] && echo " (with pending RPC tests)")"
printf '%s\n' "${results[@]}"
echo "clients: $(( ${#suites[@]} - failed )) passed, $failed failed"
[[ $failed -eq 0 ]]
