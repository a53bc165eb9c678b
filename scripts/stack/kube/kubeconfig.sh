#!/usr/bin/env bash
# Writes a kubeconfig with embedded certs for one client identity.
# Usage: kubeconfig.sh <pki dir> <client name> <server url> <output>
set -euo pipefail
pki=$1 name=$2 server=$3 out=$4
b64() { base64 -w0 <"$1"; }
umask 077
cat >"$out" <<YAML
apiVersion: v1
kind: Config
clusters:
- name: vcp-local
  cluster:
    server: $server
    certificate-authority-data: $(b64 "$pki/ca.crt")
users:
- name: $name
  user:
    client-certificate-data: $(b64 "$pki/$name.crt")
    client-key-data: $(b64 "$pki/$name.key")
contexts:
- name: vcp-local
  context: {cluster: vcp-local, user: $name}
current-context: vcp-local
YAML
