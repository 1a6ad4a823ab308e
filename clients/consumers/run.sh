#!/usr/bin/env bash
# Installs a client into a fresh consumer project, the way its README tells a user to, and runs a
# small program there against a live server (health or CheckConnection, then a failing call's
# google.rpc details). Everything happens in a temporary directory that is removed afterwards.
#
#   python      a new venv; pip install dist/python/*.whl; import defenderbridge.v1 and
#               defender_bridge_client
#   go          a new module; go mod edit -replace <module>=<repo>/clients/go; go mod tidy; go run
#   typescript  npm install dist/typescript/*.tgz, then a TypeScript program compiled against the
#               package's types (it imports @connectrpc/connect as the README does); then a fresh
#               copy of clients/typescript (never built) installed as a folder, twice: linked
#               (`npm install <dir>`, npm's default) and copied (`npm install --install-links <dir>`)
#   java        mvn install:install-file of dist/java (jar, pom, sources jar) into the local Maven
#               repository; a new Maven project that depends on it compiles and runs a class
#
# python, typescript and java need scripts/package-clients.sh to have filled dist/ first.
# The server: DEFENDER_BRIDGE_ADDR=host:port, else a `defender-bridge demo` started here from
# DEFENDER_BRIDGE_BIN (default <repo>/target/debug/defender-bridge) on a free loopback port.
#
# Usage: clients/consumers/run.sh python|go|typescript|java ...
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
consumers="$repo_root/clients/consumers"
dist="${DIST_DIR:-$repo_root/dist}"
go_module="github.com/defender-bridge/defender-bridge/clients/go"

scratch="$(mktemp -d)"
demo_pid=""
cleanup() {
  if [[ -n "$demo_pid" ]]; then
    kill "$demo_pid" 2>/dev/null || true
    wait "$demo_pid" 2>/dev/null || true
  fi
  rm -rf "$scratch"
}
trap cleanup EXIT

log() { printf -- '-- %s\n' "$*"; }

# The one file of a kind in dist/<language>, or a failure that says to package first.
artifact() {
  local found=("$dist/$1"/$2)
  if [[ ${#found[@]} -ne 1 || ! -f "${found[0]}" ]]; then
    echo "no $dist/$1/$2: run scripts/package-clients.sh $1 first" >&2
    return 1
  fi
  printf '%s\n' "${found[0]}"
}

start_demo() {
  local binary="${DEFENDER_BRIDGE_BIN:-$repo_root/target/debug/defender-bridge}"
  local banner="$scratch/demo-banner.txt"
  "$binary" demo --listen 127.0.0.1:0 --machines 300 >"$banner" 2>"$scratch/demo-log.txt" &
  demo_pid=$!
  local waited=0
  until grep -q 'Press Ctrl-C to stop.' "$banner" 2>/dev/null; do
    if ! kill -0 "$demo_pid" 2>/dev/null || [[ $waited -ge 600 ]]; then
      echo "defender-bridge demo ($binary) did not start:" >&2
      cat "$banner" "$scratch/demo-log.txt" >&2
      return 1
    fi
    sleep 0.1
    waited=$((waited + 1))
  done
  address="$(sed -n 's/^ *gRPC service: *\([^ ]*\).*/\1/p' "$banner")"
  [[ -n "$address" ]] || { echo "no address in the demo banner" >&2; return 1; }
}

consumer_python() {
  local wheel
  wheel="$(artifact python '*.whl')"
  log "python: pip install $(basename "$wheel") into a new venv"
  python3 -m venv "$scratch/venv"
  "$scratch/venv/bin/pip" install --quiet --disable-pip-version-check "$wheel"
  # Run from the scratch directory: the clone's sources must not be importable by accident.
  (cd "$scratch" && "$scratch/venv/bin/python" "$consumers/python/consumer.py" "$address")
}

consumer_go() {
  local project="$scratch/go-consumer"
  log "go: new module with replace $go_module => clients/go"
  mkdir -p "$project"
  cp "$consumers/go/main.go" "$project/"
  (
    cd "$project"
    # Only the module's own settings: a go.work of the caller's would bypass the replace.
    export GOWORK=off GOFLAGS=-mod=mod
    go mod init example.com/consumer >/dev/null 2>&1
    go mod edit -replace "$go_module=$repo_root/clients/go"
    go mod tidy >/dev/null 2>&1 || go mod tidy
    go vet .
    go run . "$address"
  )
}

npm_quiet() { npm "$@" --no-audit --no-fund --loglevel=error; }

new_node_project() {
  mkdir -p "$1"
  printf '{ "name": "consumer", "version": "1.0.0", "private": true, "type": "module" }\n' \
    >"$1/package.json"
}

consumer_typescript() {
  local tarball tsc="$repo_root/clients/typescript/node_modules/typescript/bin/tsc"
  tarball="$(artifact typescript '*.tgz')"
  [[ -f "$tsc" ]] || { echo "no $tsc: package the TypeScript client first" >&2; return 1; }

  log "typescript: npm install $(basename "$tarball"), compile and run consumer.ts"
  local project="$scratch/ts-tarball"
  new_node_project "$project"
  cp "$consumers/typescript/consumer.ts" "$consumers/typescript/tsconfig.json" "$project/"
  (cd "$project" && npm_quiet install "$tarball" && node "$tsc" -p tsconfig.json &&
    node consumer.js "$address")

  # The folder as a user's clone has it: committed files only, no node_modules, no dist/.
  local folder="$scratch/clients-typescript"
  mkdir -p "$folder"
  (cd "$repo_root/clients/typescript" &&
    git ls-files -z --cached --others --exclude-standard . | xargs -0 cp --parents -t "$folder")

  log "typescript: npm install <unbuilt folder> (linked)"
  project="$scratch/ts-linked"
  new_node_project "$project"
  (cd "$project" && npm_quiet install "$folder" &&
    [[ -L node_modules/@defender-bridge/client ]] &&
    node --input-type=module -e "
      import { connectDefenderBridge, ConnectError, Code } from '@defender-bridge/client';
      const { risk } = connectDefenderBridge('http://$address');
      const ok = await risk.checkConnection({}, { timeoutMs: 30000 });
      if (!ok.ready) throw new Error('CheckConnection not ready');
      const err = await risk.checkConnection({ tenant: 'other-tenant' }, { timeoutMs: 10000 })
        .then(() => undefined, (e) => e);
      if (!(err instanceof ConnectError) || err.code !== Code.InvalidArgument) throw err;
      console.log('typescript consumer (linked folder): CheckConnection ready, error', Code[err.code]);
    ")

  log "typescript: npm install --install-links <folder>, run consumer.js"
  project="$scratch/ts-folder"
  new_node_project "$project"
  cp "$scratch/ts-tarball/consumer.js" "$project/"
  (cd "$project" && npm_quiet install --install-links "$folder" &&
    [[ ! -L node_modules/@defender-bridge/client ]] && node consumer.js "$address")
}

consumer_java() {
  local jar sources pom version
  jar="$(artifact java 'defender-bridge-client-*[0-9].jar')"
  sources="$(artifact java 'defender-bridge-client-*-sources.jar')"
  pom="$(artifact java 'defender-bridge-client-*.pom')"
  version="$(basename "$pom" .pom)"
  version="${version#defender-bridge-client-}"
  local mvn=(mvn -B -q -Dstyle.color=never)

  log "java: install dist/java (jar, pom, sources) into the local Maven repository"
  # install-file runs outside any project: it needs no pom of its own.
  (cd "$scratch" && "${mvn[@]}" org.apache.maven.plugins:maven-install-plugin:3.1.4:install-file \
    -Dfile="$jar" -DpomFile="$pom" -Dsources="$sources")

  log "java: a new Maven project depending on com.defenderbridge:defender-bridge-client:$version"
  local project="$scratch/java-consumer"
  cp -r "$consumers/java" "$project"
  (
    cd "$project"
    "${mvn[@]}" -Dclient.version="$version" compile dependency:build-classpath \
      -Dmdep.outputFile=classpath.txt
    # The sources jar resolves by its coordinates, as an IDE asks for it.
    "${mvn[@]}" dependency:copy -Dmdep.useBaseVersion=true -DoutputDirectory=sources \
      -Dartifact="com.defenderbridge:defender-bridge-client:$version:jar:sources"
    [[ -f "sources/defender-bridge-client-$version-sources.jar" ]]
    java -cp "target/classes:$(cat classpath.txt)" consumer.Consumer "$address"
  )
}

[[ $# -gt 0 ]] || { echo "usage: $0 python|go|typescript|java ..." >&2; exit 2; }
for language in "$@"; do
  case "$language" in
    python | go | typescript | java) ;;
    *) echo "unknown client '$language' (python, go, typescript, java)" >&2; exit 2 ;;
  esac
done

address="${DEFENDER_BRIDGE_ADDR:-}"
[[ -n "$address" ]] || start_demo
for language in "$@"; do
  "consumer_$language"
done
