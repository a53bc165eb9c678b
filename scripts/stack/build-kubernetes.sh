#!/usr/bin/env bash
# Builds kube-apiserver, kube-controller-manager, kube-scheduler and kubectl from the published
# k8s.io/kubernetes module. It cannot be `go install`ed because its go.mod replaces the staging modules
# with local paths, so a throwaway module requires it and points each staging module at its published
# v0.x release (kubernetes/kubernetes#79384). The staging list is read from the published go.mod.
# Usage: build-kubernetes.sh <version, e.g. v1.36.3> <output dir>
set -euo pipefail
version=$1
out=$2
minor=${version#v1.}; minor=${minor%%.*}
patch=${version##*.}
staging_version="v0.${minor}.${patch}"

gomod=$(go mod download -json "k8s.io/kubernetes@${version}" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
[ -f "$gomod" ] || { echo "build-kubernetes: could not download k8s.io/kubernetes@${version}" >&2; exit 1; }
go_directive=$(sed -n 's/^go \(.*\)/\1/p' "$gomod")
staging_modules=$(sed -n 's|^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/.*|\1|p' "$gomod")
[ -n "$staging_modules" ] || { echo "build-kubernetes: no staging replaces found in $gomod" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
{
  echo "module vcp-runbooks.local/kubernetes-build"
  echo
  echo "go ${go_directive}"
  echo
  echo "require k8s.io/kubernetes ${version}"
  echo
  echo "replace ("
  for m in $staging_modules; do echo "	${m} => ${m} ${staging_version}"; done
  echo ")"
} > "$work/go.mod"
commands="kube-apiserver kube-controller-manager kube-scheduler kubectl"
{
  echo "//go:build tools"
  echo
  echo "package tools"
  echo
  echo "import ("
  for c in $commands; do echo "	_ \"k8s.io/kubernetes/cmd/${c}\""; done
  echo ")"
} > "$work/tools.go"

cd "$work"
GOFLAGS=-mod=mod go mod tidy
ldflags="-s -w"
for kv in "gitVersion=${version}" "gitMajor=1" "gitMinor=${minor}" "gitTreeState=clean" "buildDate=1970-01-01T00:00:00Z"; do
  ldflags+=" -X k8s.io/component-base/version.${kv} -X k8s.io/client-go/pkg/version.${kv}"
done
mkdir -p "$out"
for c in $commands; do
  echo "build-kubernetes: building ${c} ${version}"
  go build -trimpath -ldflags "$ldflags" -o "$out/${c}" "k8s.io/kubernetes/cmd/${c}"
done
