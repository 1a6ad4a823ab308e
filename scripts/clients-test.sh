#!/usr/bin/env bash
# Runs the four client test suites (Python/pytest, Go/go test, TypeScript/node --test,
# Java/JUnit via Maven) against live `defender-bridge demo` servers that each suite starts on free
# loopback ports, then packages the clients (scripts/package-clients.sh: wheel, npm tarball, jars
# into dist/) and installs each into a fresh consumer project that calls a live server
# (clients/consumers/run.sh), and prints each step's time. Every suite, the packaging and each
# consumer count as one in the summary line. Dependencies come from the registries only (PyPI
# into .tools/venv, the Go module proxy, npm, Maven Central).
#
# Environment:
#   DEFENDER_BRIDGE_BIN           server binary (default target/debug/defender-bridge, built with
#                                 `cargo build` when missing)
#   DEFENDER_BRIDGE_ADDR          host:port of a running server: the suites use it and start none
#   CLIENTS                       the steps to run, e.g. "python go" (default: all of python go
#                                 typescript java package consumer-python consumer-go
#                                 consumer-typescript consumer-java)
#   CLIENTS_CHECK_GENERATED       1: first fail if the committed clients are stale
#                                 (clients/check-generated.sh)
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
tools="$repo_root/.tools"
export PATH="$tools/bin:$PATH"
all_steps="python go typescript java package consumer-python consumer-go consumer-typescript consumer-java"
read -r -a suites <<<"${CLIENTS:-$all_steps}"

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
  "$venv/bin/python" -m pytest clients/python/tests -p no:cacheprovider
}

suite_go() {
  (cd clients/go && go vet ./... && go test -count=1 ./...)
}

suite_typescript() {
  # npm ci runs the package's `prepare`, which compiles src/ and test/ into dist/.
  (cd clients/typescript && npm ci --no-audit --no-fund --loglevel=error &&
    node --test dist/test/live.test.js dist/test/risk-actions.test.js dist/test/tls.test.js)
}

suite_java() {
  (cd clients/java && mvn -B --no-transfer-progress -Dstyle.color=never test)
}

# The wheel, the npm tarball and the jars into dist/, and the Go module's publishing checks.
suite_package() {
  scripts/package-clients.sh
}

# Each installs what `package` put in dist/ (Go: the clone's clients/go) into a new project.
consumer() {
  clients/consumers/run.sh "$1"
}

results=()
failed=0
for suite in "${suites[@]}"; do
  case "$suite" in
    python | go | typescript | java | package) run=("suite_$suite") ;;
    consumer-python | consumer-go | consumer-typescript | consumer-java) run=(consumer "${suite#consumer-}") ;;
    *) echo "unknown step '$suite' (one of: $all_steps)" >&2; exit 2 ;;
  esac
  echo "== $suite"
  start=$SECONDS
  if "${run[@]}"; then
    results+=("$(printf '%-19s ok      %4ds' "$suite" $((SECONDS - start)))")
  else
    results+=("$(printf '%-19s FAILED  %4ds' "$suite" $((SECONDS - start)))")
    failed=$((failed + 1))
  fi
done

echo
echo "== client suites"
printf '%s\n' "${results[@]}"
echo "clients: $(( ${#suites[@]} - failed )) passed, $failed failed"
[[ $failed -eq 0 ]]
