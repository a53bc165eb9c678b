#!/usr/bin/env bash
# Prints deploy/worker.yaml for one build: Deployment vcp-runbooks-worker-<build ID>, its pods labelled
# (and selected by) app.kubernetes.io/version=<build ID>, which the worker reads as VCP_BUILD_ID, and
# the image tagged <build ID>. Builds live side by side, each serving its own pinned runs
# (deploy/ROLLOUT.md). Uses kubectl's built-in kustomize ($KUBECTL, else kubectl on PATH).
#   deploy/render-worker.sh <build ID> [image repository] | kubectl apply -f -
set -euo pipefail
build_id=${1:-}
image=${2:-ghcr.io/virtual-coffee/vcp-runbooks}
# A label value, a Deployment name suffix and a Temporal build ID at once (common/config.ts accepts it).
if ! [[ $build_id =~ ^[a-z0-9]([a-z0-9.-]{0,38}[a-z0-9])?$ ]]; then
  echo "usage: $0 <build ID> [image repository]" >&2
  echo "the build ID (the image tag) must be 1-40 lowercase letters, digits, '.' or '-', starting and ending with a letter or digit; got '${build_id}'" >&2
  exit 2
fi
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cp "$(dirname "${BASH_SOURCE[0]}")/worker.yaml" "$dir/worker.yaml"
cat >"$dir/kustomization.yaml" <<YAML
resources: [worker.yaml]
nameSuffix: -${build_id}
labels:
- pairs: {app.kubernetes.io/version: "${build_id}"}
  includeSelectors: true
  includeTemplates: true
images:
- name: ghcr.io/virtual-coffee/vcp-runbooks
  newName: ${image}
  newTag: "${build_id}"
YAML
"${KUBECTL:-kubectl}" kustomize "$dir"
