#!/usr/bin/env bash
# Fails when the committed clients are not what clients/generate.sh makes from proto/ today: it
# regenerates into the tree, then any changed, deleted or new (untracked, not ignored) file under
# clients/ is drift. Run it after editing proto/, then commit the regenerated code.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
clients/generate.sh "$@"

status=0
if ! git diff --exit-code --stat -- clients/; then
  echo "generated clients differ from the committed ones (diff above)" >&2
  status=1
fi
untracked="$(git ls-files --others --exclude-standard -- clients/)"
if [[ -n "$untracked" ]]; then
  echo "generated files not committed:" >&2
  echo "$untracked" >&2
  status=1
fi
if [[ $status -ne 0 ]]; then
  echo "run clients/generate.sh and commit the result" >&2
  exit 1
fi
echo "generated clients are up to date with proto/"
