#!/usr/bin/env bash
# Creates the control plane's PKI once per stack: a CA, the API server's serving cert (loopback SANs),
# client certs for the admin, the controllers and the API server's kubelet client, the kwok kubelet's
# serving cert, the service-account signing key, and Crossplane's client and webhook certs.
# Usage: certs.sh <dir>
set -euo pipefail
dir=$1
mkdir -p "$dir"
cd "$dir"

days=3650
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:prime256v1 -out "$1.key" 2>/dev/null; }
# cert <name> <subject> [subjectAltName]
cert() {
  key "$1"
  openssl req -new -key "$1.key" -subj "$2" -out "$1.csr" 2>/dev/null
  local ext
  ext=$(mktemp)
  {
    echo "basicConstraints=CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    if [ -n "${3:-}" ]; then echo "extendedKeyUsage=serverAuth,clientAuth"; echo "subjectAltName=$3"; else echo "extendedKeyUsage=clientAuth"; fi
  } >"$ext"
  openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days "$days" -extfile "$ext" -out "$1.crt" 2>/dev/null
  rm -f "$1.csr" "$ext"
}

if [ ! -f .complete ]; then
  key ca
  openssl req -x509 -new -key ca.key -subj "/CN=vcp-runbooks-local-ca" -days "$days" -out ca.crt 2>/dev/null
  cert apiserver "/CN=kube-apiserver" "IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc"
  cert kubelet "/CN=kwok-kubelet" "IP:127.0.0.1,DNS:localhost"
  cert admin "/O=system:masters/CN=vcp-admin"
  cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client"
  cert controller-manager "/CN=system:kube-controller-manager"
  cert scheduler "/CN=system:kube-scheduler"
  cert kwok "/O=system:masters/CN=kwok-controller"
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out sa.key 2>/dev/null
  openssl pkey -in sa.key -pubout -out sa.pub 2>/dev/null
  chmod 600 ./*.key
  touch .complete
fi

# Crossplane core, its webhook server (the API server calls it on loopback) and the Table provider,
# each made on its own so that a stack created before them gains them.
[ -f crossplane.crt ] || cert crossplane "/O=system:masters/CN=crossplane"
[ -f crossplane-webhook.crt ] || cert crossplane-webhook "/CN=crossplane-webhook" "IP:127.0.0.1,DNS:localhost"
[ -f provider-aws.crt ] || cert provider-aws "/O=system:masters/CN=provider-aws"
chmod 600 ./*.key
