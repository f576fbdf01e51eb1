#!/usr/bin/env bash
# Builds the real control plane once per machine into .cache/kube-bin/<version>/ (Go's module and build caches stay
# in their usual places outside the repo). A binary already there is kept: delete the folder to rebuild.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
pinned() {  # pinned <go.mod> <module>: the required version, in a require block or on a one-line require
    awk -v m="$2" '$1 == m && $2 ~ /^v/ {print $2; exit} $1 == "require" && $2 == m {print $3; exit}' "$1"
}
kube_version="$(pinned "$root/tools/kube/go.mod" k8s.io/kubernetes)"
etcd_version="$(pinned "$root/tools/etcd/go.mod" go.etcd.io/etcd/server/v3)"
[[ -n "$kube_version" && -n "$etcd_version" ]] || { echo "build-kube-bin: no pinned versions in tools/*/go.mod" >&2; exit 2; }
out="$root/.cache/kube-bin/$kube_version-etcd$etcd_version"
mkdir -p "$out"

if ! command -v go >/dev/null; then
    echo "build-kube-bin: Go is not installed; the real control plane needs Go 1.25+ (the emulator needs nothing)" >&2
    exit 3
fi

minor="${kube_version#v1.}"; minor="${minor%%.*}"
pkg="k8s.io/component-base/version"
client_pkg="k8s.io/client-go/pkg/version"
ldflags="-s -w"
for p in "$pkg" "$client_pkg"; do
    ldflags+=" -X $p.gitVersion=$kube_version -X $p.gitMajor=1 -X $p.gitMinor=$minor"
    ldflags+=" -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
done

build() {  # build <module dir> <package> <binary name> <ldflags>
    local dir="$1" package="$2" name="$3" flags="$4"
    [[ -x "$out/$name" ]] && return 0
    local started=$SECONDS
    echo "build-kube-bin: building $name ($package) ..." >&2
    (cd "$root/tools/$dir" && CGO_ENABLED=0 go build -trimpath -ldflags "$flags" -o "$out/$name.tmp" "$package")
    mv "$out/$name.tmp" "$out/$name"
    echo "build-kube-bin: $name built in $((SECONDS - started)) s" >&2
}

build kube k8s.io/kubernetes/cmd/kube-apiserver kube-apiserver "$ldflags"
build kube k8s.io/kubernetes/cmd/kube-controller-manager kube-controller-manager "$ldflags"
build kube k8s.io/kubernetes/cmd/kubectl kubectl "$ldflags"
build etcd go.etcd.io/etcd/server/v3 etcd "-s -w"
echo "$out"
