#!/usr/bin/env bash
# Installs Crossplane core: the `crossplane` binary built from the Go module proxy and, from the same
# module version, its CRDs (cluster/crds).
# Usage: install-crossplane.sh <version> <dir>
set -euo pipefail
version=$1 dir=$2
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
"$here/../build-go-module.sh" github.com/crossplane/crossplane "$version" \
  github.com/crossplane/crossplane/cmd/crossplane "$dir/crossplane" \
  "github.com/crossplane/crossplane/internal/version.version=$version"
src=$(go mod download -json "github.com/crossplane/crossplane@$version" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
mkdir -p "$dir/crds"
cp "$src"/cluster/crds/*.yaml "$dir/crds/"
