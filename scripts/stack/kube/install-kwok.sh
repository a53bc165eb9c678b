#!/usr/bin/env bash
# Installs kwok and, from the same module version, the Logs CRD it reads pod logs from.
# Usage: install-kwok.sh <version> <dir>
set -euo pipefail
version=$1 dir=$2
GOBIN="$dir" go install "sigs.k8s.io/kwok/cmd/kwok@$version"
src=$(go mod download -json "sigs.k8s.io/kwok@$version" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
cp "$src/kustomize/crd/bases/kwok.x-k8s.io_logs.yaml" "$dir/logs-crd.yaml"
