#!/usr/bin/env bash
# Regenerates the four clients (Python, Go, TypeScript, Java) from proto/ into clients/, with
# generators installed from the registries only (no remote buf plugins, no downloads from other
# sites). The output is committed; clients/check-generated.sh reruns this and fails on any diff.
#
#   Python      grpcio-tools (bundles protoc + the gRPC plugin) and mypy-protobuf (.pyi stubs),
#               pinned in clients/python/requirements-generate.txt, in the venv .tools/venv
#   Go          protoc-gen-go (same version as google.golang.org/protobuf in clients/go/go.mod)
#               and protoc-gen-go-grpc, `go install`ed into .tools/bin, run by buf as local plugins
#   TypeScript  @bufbuild/protoc-gen-es (devDependency of clients/typescript, so the generator and
#               the @bufbuild/protobuf runtime are pinned together), run by buf as a local plugin;
#               google/rpc status + error_details come from the npm package google-proto-files,
#               grpc/health/v1 from grpc-health-check (the other runtimes ship both)
#   Java        protoc and protoc-gen-grpc-java as Maven artifacts (protobuf-maven-plugin, profile
#               `generate` of clients/java/pom.xml), copied into src/main/java
#
# Usage: clients/generate.sh [python|go|typescript|java ...]   (default: all four)
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
tools="$repo_root/.tools"
mkdir -p "$tools/bin"
export PATH="$tools/bin:$PATH"

# protoc-gen-go-grpc has its own module and versions; protoc-gen-go follows go.mod.
PROTOC_GEN_GO_GRPC_VERSION="v1.6.2"

proto_files=(proto/defenderbridge/v1/*.proto)

log() { printf '== %s\n' "$*"; }

ensure_buf() {
  [[ -x "$tools/bin/buf" ]] || scripts/install-tools.sh
}

# A venv per repo, shared with scripts/clients-test.sh; reinstalled when the pins change.
ensure_python_generators() {
  local venv="$tools/venv" req="clients/python/requirements-generate.txt"
  [[ -x "$venv/bin/python" ]] || python3 -m venv "$venv"
  local stamp="$venv/.generate-requirements"
  if ! cmp -s "$req" "$stamp"; then
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req"
    cp "$req" "$stamp"
  fi
}

generate_python() {
  ensure_python_generators
  log "python: clients/python/src/defenderbridge"
  local out="clients/python/src"
  rm -rf "$out/defenderbridge"
  mkdir -p "$out"
  # protoc finds protoc-gen-mypy and protoc-gen-mypy_grpc on PATH (the venv's bin).
  # mypy-protobuf reports each file it writes on stderr: show the output only on failure.
  local output
  if ! output="$(PATH="$tools/venv/bin:$PATH" "$tools/venv/bin/python" -m grpc_tools.protoc \
    -I proto \
    --python_out="$out" --grpc_python_out="$out" \
    --mypy_out="$out" --mypy_grpc_out="$out" \
    "${proto_files[@]}" 2>&1)"; then
    echo "$output" >&2
    exit 1
  fi
  # protoc writes modules, not packages: add the (empty) package markers.
  : >"$out/defenderbridge/__init__.py"
  : >"$out/defenderbridge/v1/__init__.py"
  : >"$out/defenderbridge/py.typed"
}

ensure_go_generators() {
  command -v go >/dev/null || { echo "go not found: install Go first" >&2; exit 1; }
  local protobuf_version
  protobuf_version="$(cd clients/go && go list -m -f '{{.Version}}' google.golang.org/protobuf)"
  local want="protoc-gen-go $protobuf_version / protoc-gen-go-grpc $PROTOC_GEN_GO_GRPC_VERSION"
  local stamp="$tools/bin/.go-generators"
  if [[ ! -x "$tools/bin/protoc-gen-go" || ! -x "$tools/bin/protoc-gen-go-grpc" ]] ||
    [[ "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
    GOBIN="$tools/bin" go install "google.golang.org/protobuf/cmd/protoc-gen-go@$protobuf_version"
    GOBIN="$tools/bin" go install \
      "google.golang.org/grpc/cmd/protoc-gen-go-grpc@$PROTOC_GEN_GO_GRPC_VERSION"
    echo "$want" >"$stamp"
  fi
}

generate_go() {
  ensure_buf
  ensure_go_generators
  log "go: clients/go/defenderbridgev1"
  rm -f clients/go/defenderbridgev1/*.pb.go
  buf generate proto --template clients/buf.gen.go.yaml
}

ensure_node_generators() {
  command -v npm >/dev/null || { echo "npm not found: install Node.js first" >&2; exit 1; }
  if [[ ! -x clients/typescript/node_modules/.bin/protoc-gen-es ||
    clients/typescript/package-lock.json -nt clients/typescript/node_modules/.package-lock.json ]]; then
    # --ignore-scripts: the package's `prepare` compiles src/, which is what we are regenerating.
    (cd clients/typescript && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
  fi
}

generate_typescript() {
  ensure_buf
  ensure_node_generators
  log "typescript: clients/typescript/src/gen"
  rm -rf clients/typescript/src/gen
  buf generate proto --template clients/buf.gen.typescript.yaml
  # Protos the other languages get from their runtimes: google.rpc error details (ErrorInfo,
  # RetryInfo, BadRequest, ...) for ConnectError.findDetails, from the npm package
  # google-proto-files, and grpc.health.v1, from the npm package grpc-health-check. Only these
  # files are copied into a scratch module: buf would otherwise build all of googleapis.
  local scratch node_modules=clients/typescript/node_modules
  scratch="$(mktemp -d)"
  mkdir -p "$scratch/google/rpc" "$scratch/grpc/health/v1"
  cp "$node_modules"/google-proto-files/google/rpc/{status,error_details}.proto "$scratch/google/rpc/"
  cp "$node_modules"/grpc-health-check/proto/health/v1/health.proto "$scratch/grpc/health/v1/"
  buf generate "$scratch" --template clients/buf.gen.typescript.yaml
  rm -rf "$scratch"
}

generate_java() {
  command -v mvn >/dev/null || { echo "mvn not found: install Maven first" >&2; exit 1; }
  log "java: clients/java/src/main/java/com/defenderbridge/v1"
  # Maven prints its errors on stdout: show them only when it fails.
  local output
  if ! output="$(cd clients/java && mvn -B -q -Pgenerate generate-sources 2>&1)"; then
    echo "$output" >&2
    exit 1
  fi
  local generated="clients/java/target/generated-sources/protobuf"
  local dest="clients/java/src/main/java/com/defenderbridge/v1"
  rm -rf "$dest"
  mkdir -p "$dest"
  cp "$generated"/java/com/defenderbridge/v1/*.java "$dest/"
  cp "$generated"/grpc-java/com/defenderbridge/v1/*.java "$dest/"
}

languages=("$@")
[[ ${#languages[@]} -gt 0 ]] || languages=(python go typescript java)
for language in "${languages[@]}"; do
  case "$language" in
    python | go | typescript | java) "generate_$language" ;;
    *)
      echo "unknown language '$language' (python, go, typescript, java)" >&2
      exit 2
      ;;
  esac
done
log "done"
