#!/usr/bin/env bash
# Builds the installable packages of the clients into dist/ (or $DIST_DIR), each with its
# ecosystem's own tool, from the registries only:
#
#   dist/python/       defender_bridge_client-V-py3-none-any.whl and defender_bridge_client-V.tar.gz
#                      (python -m build: the wheel is built from the sdist, so both are checked)
#   dist/typescript/   defender-bridge-client-V.tgz (npm pack; `prepare` compiles dist/ into it)
#   dist/java/         defender-bridge-client-V.jar, -sources.jar and .pom (mvn package)
#   go                 nothing to build: a Go module is published by a git tag. This checks that
#                      the module is ready for one (module path, go.mod and go.sum tidy) and
#                      prints the tag name, clients/go/vV.
#
# The four clients share one version V: this fails when pyproject.toml, package.json and pom.xml
# disagree. clients/consumers/run.sh installs these files into fresh consumer projects.
#
# Usage: scripts/package-clients.sh [python|typescript|java|go ...]   (default: all four)
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
tools="$repo_root/.tools"
dist="${DIST_DIR:-$repo_root/dist}"
go_module="github.com/defender-bridge/defender-bridge/clients/go"

log() { printf '== %s\n' "$*"; }

python_version() {
  sed -n 's/^version = "\(.*\)"$/\1/p' clients/python/pyproject.toml | head -n 1
}
typescript_version() {
  node -p 'require("./clients/typescript/package.json").version'
}
java_version() {
  # The project's own <version>: the first one after </parent>-less <artifactId>.
  sed -n '/<artifactId>defender-bridge-client<\/artifactId>/{n;s/.*<version>\(.*\)<\/version>.*/\1/p;q}' \
    clients/java/pom.xml
}

version="$(python_version)"
if [[ -z "$version" || "$(typescript_version)" != "$version" || "$(java_version)" != "$version" ]]; then
  echo "client versions differ: python '$version', typescript '$(typescript_version)'," \
    "java '$(java_version)' (pyproject.toml, package.json, pom.xml): release them together" >&2
  exit 1
fi

package_python() {
  local venv="$tools/venv" out="$dist/python"
  [[ -x "$venv/bin/python" ]] || python3 -m venv "$venv"
  "$venv/bin/python" -c 'import build' 2>/dev/null ||
    "$venv/bin/pip" install --quiet --disable-pip-version-check 'build>=1.2'
  rm -rf "$out" clients/python/build
  "$venv/bin/python" -m build --outdir "$out" clients/python >"$dist/.python-build.log" 2>&1 ||
    { cat "$dist/.python-build.log" >&2; return 1; }
  rm -f "$dist/.python-build.log"
}

package_typescript() {
  local out="$dist/typescript"
  rm -rf "$out"
  mkdir -p "$out"
  # `prepare` (scripts/prepare.mjs) compiles dist/ first, installing the devDependencies when
  # node_modules has none; the tarball then needs no build where it is installed.
  (cd clients/typescript && npm pack --pack-destination "$out" --loglevel=error >/dev/null)
}

package_java() {
  local out="$dist/java" name="defender-bridge-client-$version"
  rm -rf "$out"
  mkdir -p "$out"
  # Maven prints its errors on stdout: show them only when it fails.
  local output
  if ! output="$(cd clients/java && mvn -B -q -Dstyle.color=never package -DskipTests 2>&1)"; then
    echo "$output" >&2
    return 1
  fi
  cp "clients/java/target/$name.jar" "clients/java/target/$name-sources.jar" "$out/"
  cp clients/java/pom.xml "$out/$name.pom"
  # The sources jar must hold the generated stubs and the helper, not just the manifest.
  local listing
  listing="$(jar tf "$out/$name-sources.jar")"
  grep -qx 'com/defenderbridge/v1/RiskServiceGrpc.java' <<<"$listing" &&
    grep -qx 'com/defenderbridge/client/ErrorDetails.java' <<<"$listing" ||
    { echo "$name-sources.jar lacks the stubs or ErrorDetails" >&2; return 1; }
}

package_go() {
  local module
  module="$(cd clients/go && go list -m)"
  if [[ "$module" != "$go_module" ]]; then
    echo "clients/go/go.mod declares '$module', the tags are made for '$go_module'" >&2
    return 1
  fi
  # A published module must carry no replace directives and a tidy go.mod/go.sum.
  if (cd clients/go && go mod edit -json | grep -q '"Replace": \['); then
    echo "clients/go/go.mod has replace directives: a published module must not" >&2
    return 1
  fi
  (cd clients/go && go mod tidy -diff) ||
    { echo "clients/go: go.mod/go.sum are not tidy (go mod tidy)" >&2; return 1; }
  echo "go: module $go_module is ready; publish it with the tag clients/go/v$version"
}

languages=("$@")
[[ ${#languages[@]} -gt 0 ]] || languages=(python typescript java go)
mkdir -p "$dist"
for language in "${languages[@]}"; do
  case "$language" in
    python | typescript | java | go) ;;
    *) echo "unknown client '$language' (python, typescript, java, go)" >&2; exit 2 ;;
  esac
  log "package $language $version"
  "package_$language"
done
for language in "${languages[@]}"; do
  if [[ -d "$dist/$language" ]]; then
    find "$dist/$language" -type f | sort | sed "s|^$repo_root/||"
  fi
done
