#!/usr/bin/env bash
# Builds aws-node-termination-handler, the one `make bench` runs beside our Spot handler, once per machine into
# .cache/nth-bin/<version>/ from the pinned module in tools/nth (Go's module and build caches stay in their usual
# places outside the repo). A binary already there is kept: delete the folder to rebuild.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
module=github.com/aws/aws-node-termination-handler
version="$(awk -v m="$module" '$1 == m && $2 ~ /^v/ {print $2; exit} $1 == "require" && $2 == m {print $3; exit}' \
    "$root/tools/nth/go.mod")"
[[ -n "$version" ]] || { echo "build-nth: no pinned version of $module in tools/nth/go.mod" >&2; exit 2; }
out="$root/.cache/nth-bin/$version"
binary="$out/node-termination-handler"
if [[ ! -x "$binary" ]]; then
    command -v go >/dev/null || { echo "build-nth: Go is not installed (needs Go 1.25+)" >&2; exit 3; }
    mkdir -p "$out"
    started=$SECONDS
    echo "build-nth: building node-termination-handler $version ..." >&2
    (cd "$root/tools/nth" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$binary.tmp" "$module/cmd")
    mv "$binary.tmp" "$binary"
    echo "build-nth: node-termination-handler built in $((SECONDS - started)) s" >&2
fi
echo "$binary"
