#!/usr/bin/env bash
# Builds the real control plane once per machine into .cache/kube-bin/<version>/ (Go's module and build caches stay
# in their usual places outside the repo). A binary already there is kept: delete the folder to rebuild.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
kube_version="$(awk '$1 == "k8s.io/kubernetes" {print $2}' "$root/tools/kube/go.mod")"
etcd_version="$(awk '$1 == "go.etcd.io/etcd/server/v3" {print $2}' "$root/tools/etcd/go.mod")"
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
