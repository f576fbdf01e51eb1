#!/usr/bin/env bash
# Builds the real control plane (and aws-iam-authenticator, its token webhook) once per machine into .cache/kube-bin/<version>/ (Go's module and build caches stay
# in their usual places outside the repo). A binary already there is kept: delete the folder to rebuild.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
pinned() {  # pinned <go.mod> <module>: the required version, in a require block or on a one-line require
    awk -v m="$2" '$1 == m && $2 ~ /^v/ {print $2; exit} $1 == "require" && $2 == m {print $3; exit}' "$1"
}
kube_version="$(pinned "$root/tools/kube/go.mod" k8s.io/kubernetes)"
etcd_version="$(pinned "$root/tools/etcd/go.mod" go.etcd.io/etcd/server/v3)"
auth_version="$(pinned "$root/tools/authenticator/go.mod" sigs.k8s.io/aws-iam-authenticator)"
[[ -n "$kube_version" && -n "$etcd_version" && -n "$auth_version" ]] || {
    echo "build-kube-bin: no pinned versions in tools/*/go.mod" >&2; exit 2; }
# The authenticator also carries local_sts.go: a change of it must build a new binary, like a new pin.
auth_shim="$(sha256sum "$root/tools/authenticator/local_sts.go" | cut -c1-8)"
out="$root/.cache/kube-bin/$kube_version-etcd$etcd_version-iamauth$auth_version-$auth_shim"
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

# aws-iam-authenticator: its command is package main (not importable), so its files are copied beside
# local_sts.go into a scratch copy of the wrapper module and built there, with the same go.mod and go.sum.
if [[ ! -x "$out/aws-iam-authenticator" ]]; then
    started=$SECONDS
    echo "build-kube-bin: building aws-iam-authenticator $auth_version ..." >&2
    upstream="$(cd "$root/tools/authenticator" && go mod download -json sigs.k8s.io/aws-iam-authenticator \
        | awk -F'"' '$2 == "Dir" {print $4}')"
    scratch="$(mktemp -d)"
    trap 'rm -rf "$scratch"' EXIT
    cp "$root/tools/authenticator/go.mod" "$root/tools/authenticator/go.sum" "$root/tools/authenticator/local_sts.go" "$scratch/"
    find "$upstream/cmd/aws-iam-authenticator" -maxdepth 1 -name '*.go' ! -name '*_test.go' -exec cp {} "$scratch/" \;
    chmod u+w "$scratch"/*
    (cd "$scratch" && CGO_ENABLED=0 go build -trimpath \
        -ldflags "-s -w -X sigs.k8s.io/aws-iam-authenticator/pkg.Version=$auth_version" \
        -o "$out/aws-iam-authenticator.tmp" .)
    mv "$out/aws-iam-authenticator.tmp" "$out/aws-iam-authenticator"
    echo "build-kube-bin: aws-iam-authenticator built in $((SECONDS - started)) s" >&2
fi
echo "$out"
