#!/usr/bin/env bash
# Installs the DynamoDB Table provider: crossplane-contrib/provider-aws's Table and ProviderConfig
# controllers built from the Go module proxy under our main (provider-aws/main.go: why not upstream's
# cmd/provider is said there), and, from the same module version, the CRDs those controllers serve.
# Usage: install-provider-aws.sh <version> <dir>
set -euo pipefail
version=$1 dir=$2
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
"$here/../build-go-module.sh" github.com/crossplane-contrib/provider-aws "$version" "$here/provider-aws/main.go" "$dir/provider-aws"
src=$(go mod download -json "github.com/crossplane-contrib/provider-aws@$version" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
mkdir -p "$dir/crds"
for crd in dynamodb.aws.crossplane.io_tables aws.crossplane.io_providerconfigs aws.crossplane.io_providerconfigusages; do
  cp "$src/package/crds/$crd.yaml" "$dir/crds/"
done
