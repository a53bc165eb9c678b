#!/usr/bin/env bash
# Builds a command from a published Go module through a throwaway module that requires it: modules
# such as github.com/crossplane/crossplane cannot be `go install`ed at a version (the proxy will not
# resolve them that way), but a module that requires them builds from the proxy. The required
# module's go.mod decides every dependency version (the throwaway module requires nothing else, so
# minimal version selection picks exactly upstream's), and its replace directives are copied.
# <command> is a package of the module, or a local main.go built against the module's packages.
# Usage: build-go-module.sh <module> <version> <package | path/to/main.go> <output file> [-X ldflag values...]
set -euo pipefail
module=$1 version=$2 command=$3 out=$4
shift 4
ldflags="-s -w"
for x in "$@"; do ldflags+=" -X $x"; done

gomod=$(go mod download -json "${module}@${version}" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
[ -f "$gomod" ] || { echo "build-go-module: could not download ${module}@${version}" >&2; exit 1; }
go_directive=$(sed -n 's/^go \(.*\)/\1/p' "$gomod")
replaces=$(awk '/^replace \($/{on=1; next} on && /^\)/{on=0} on{print} /^replace [^(]/{sub(/^replace /,""); print}' "$gomod")

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
{
  echo "module vcp-runbooks.local/build"
  echo
  echo "go ${go_directive}"
  echo
  echo "require ${module} ${version}"
  if [ -n "$replaces" ]; then
    echo
    echo "replace ("
    echo "$replaces"
    echo ")"
  fi
} >"$work/go.mod"
if [[ "$command" == *.go ]]; then
  cp "$command" "$work/main.go"
  target=.
else
  printf '//go:build tools\n\npackage tools\n\nimport _ "%s"\n' "$command" >"$work/tools.go"
  target=$command
fi
mkdir -p "$(dirname "$out")"
cd "$work"
GOFLAGS=-mod=mod go mod tidy
echo "build-go-module: building ${command} (${module} ${version})"
go build -trimpath -ldflags "$ldflags" -o "$out" "$target"
