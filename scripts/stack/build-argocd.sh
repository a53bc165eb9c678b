#!/usr/bin/env bash
# Builds the `argocd` binary (application controller, repo server, CLI: it picks its role from
# ARGOCD_BINARY_NAME) from the published github.com/argoproj/argo-cd/v3 module, and copies beside it
# Argo CD's CRDs and the helper scripts its image puts on the repo server's PATH (bin/: the repo
# server runs git-verify-wrapper.sh on every revision it generates manifests for). It cannot be `go install`ed: upstream's go.mod replaces its gitops-engine with a
# local path. A throwaway module requires both modules at the release and copies upstream's other
# replace directives (the k8s.io pins), read from the published go.mod.
# Usage: build-argocd.sh <version, e.g. v3.6.1> <go toolchain, e.g. go1.27.0> <output dir>
set -euo pipefail
version=$1
toolchain=$2
out=$3
export GOTOOLCHAIN=$toolchain

module=github.com/argoproj/argo-cd/v3
engine=github.com/argoproj/argo-cd/gitops-engine/v3
gomod=$(go mod download -json "${module}@${version}" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
[ -f "$gomod" ] || { echo "build-argocd: could not download ${module}@${version}" >&2; exit 1; }
go_directive=$(sed -n 's/^go \(.*\)/\1/p' "$gomod")
# Every replace line of upstream's go.mod (block or single) except the ones pointing at a local path.
replaces=$(awk '
  /^replace \($/ { block = 1; next }
  block && /^\)$/ { block = 0; next }
  block && /=>/ { print; next }
  /^replace [^(]/ { sub(/^replace /, ""); print }
' "$gomod" | grep -v '=> \./' | sed 's/^[[:space:]]*//')
[ -n "$replaces" ] || { echo "build-argocd: no replace directives found in $gomod" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
{
  echo "module vcp-runbooks.local/argocd-build"
  echo
  echo "go ${go_directive}"
  echo
  echo "require ("
  echo "	${module} ${version}"
  echo "	${engine} ${version}"
  echo ")"
  echo
  echo "replace ("
  while IFS= read -r line; do echo "	${line}"; done <<<"$replaces"
  echo ")"
} > "$work/go.mod"
{
  echo "//go:build tools"
  echo
  echo "package tools"
  echo
  echo "import _ \"${module}/cmd\""
} > "$work/tools.go"

cd "$work"
GOFLAGS=-mod=mod go mod tidy
ldflags="-s -w -X ${module}/common.version=${version#v} -X ${module}/common.buildDate=1970-01-01T00:00:00Z"
ldflags+=" -X ${module}/common.gitTag=${version} -X ${module}/common.gitTreeState=clean"
mkdir -p "$out"
echo "build-argocd: building argocd ${version} with ${toolchain}"
go build -trimpath -ldflags "$ldflags" -o "$out/argocd" "${module}/cmd"
mkdir -p "$out/crds"
src=$(go list -m -f '{{.Dir}}' "$module")
cp "$src"/manifests/crds/application-crd.yaml "$src"/manifests/crds/appproject-crd.yaml "$out/crds/"
mkdir -p "$out/bin"
cp "$src"/hack/git-verify-wrapper.sh "$src"/hack/gpg-wrapper.sh "$out/bin/"
chmod u+w,a+x "$out"/crds/*.yaml "$out"/bin/*.sh
chmod a-x "$out"/crds/*.yaml
