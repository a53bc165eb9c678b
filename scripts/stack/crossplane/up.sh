#!/usr/bin/env bash
# Starts Crossplane core and the DynamoDB Table provider out of cluster against the stack's API
# server, as their own development setups run them: each with a kubeconfig of its own, no package
# manager involvement (nothing installs packages; its controllers idle), and Crossplane's webhooks
# (Composition and XRD validation, and the one that makes a Usage block deletions) served on loopback
# and registered by URL. Then the platform's XRD and Composition for the DynamoDB claim, and a
# ProviderConfig that points the provider at the stack's DynamoDB with the emulator credentials.
# Sourced by up.sh after kube/up.sh (uses its start, require_port_free and kubectl helpers).

require_port_free crossplane "$PORT_CROSSPLANE_WEBHOOK"
require_port_free crossplane "$PORT_CROSSPLANE_HEALTH"

for client in crossplane provider-aws; do
  "$STACK_DIR/kube/kubeconfig.sh" "$pki" "$client" "$server" "$KUBE_DIR/$client.kubeconfig"
done
xp_state="$STATE_DIR/crossplane"
mkdir -p "$xp_state/tls/server" "$xp_state/tls/client" "$xp_state/cache/xpkg" "$xp_state/cache/xfn"
# The file names Crossplane reads from its TLS folders (the Secrets `crossplane core init` would make).
cp "$pki/crossplane-webhook.crt" "$xp_state/tls/server/tls.crt"
cp "$pki/crossplane-webhook.key" "$xp_state/tls/server/tls.key"
cp "$pki/ca.crt" "$xp_state/tls/client/ca.crt"
cp "$pki/crossplane.crt" "$xp_state/tls/client/tls.crt"
cp "$pki/crossplane.key" "$xp_state/tls/client/tls.key"

kubectl apply --server-side -f "$CROSSPLANE_DIR/crds/" -f "$PROVIDER_AWS_DIR/crds/" >/dev/null
kubectl wait --for condition=established --timeout=60s \
  crd/compositeresourcedefinitions.apiextensions.crossplane.io crd/compositions.apiextensions.crossplane.io \
  crd/usages.apiextensions.crossplane.io crd/tables.dynamodb.aws.crossplane.io crd/providerconfigs.aws.crossplane.io >/dev/null
kubectl create namespace crossplane-system --dry-run=client -o yaml | kubectl apply -f - >/dev/null

# Crossplane binds its webhook, metrics and probe ports on every interface (it has no flag for the
# address); nothing but loopback reaches them here.
start crossplane env KUBECONFIG="$KUBE_DIR/crossplane.kubeconfig" "$CROSSPLANE_DIR/crossplane" core start \
  --namespace crossplane-system --webhook-port "$PORT_CROSSPLANE_WEBHOOK" \
  --metrics-port "$PORT_CROSSPLANE_METRICS" --health-probe-port "$PORT_CROSSPLANE_HEALTH" \
  --tls-server-certs-dir "$xp_state/tls/server" --tls-client-certs-dir "$xp_state/tls/client" \
  --xpkg-cache-dir "$xp_state/cache/xpkg" --xfn-cache-dir "$xp_state/cache/xfn"
# Management policies on, so a Table's spec.managementPolicies counts as it does wherever the flag
# is set (crossplane-runtime's ShouldDelete combines them with deletionPolicy).
start provider-aws env KUBECONFIG="$KUBE_DIR/provider-aws.kubeconfig" "$PROVIDER_AWS_DIR/provider-aws" --enable-management-policies

wait_until 90 "crossplane (webhooks https://127.0.0.1:$PORT_CROSSPLANE_WEBHOOK)" \
  curl -sf "http://127.0.0.1:$PORT_CROSSPLANE_HEALTH/readyz" ||
  { tail -n 30 "$STATE_DIR/logs/crossplane.log" >&2; die "crossplane did not become ready"; }
wait_until 30 "crossplane webhook server" port_open "$PORT_CROSSPLANE_WEBHOOK" ||
  { tail -n 30 "$STATE_DIR/logs/crossplane.log" >&2; die "crossplane's webhook server did not start"; }

# Upstream's webhook configurations (cluster/webhookconfigurations in the module), reaching the
# webhook server by URL instead of through an in-cluster Service.
ca_bundle=$(base64 -w0 <"$pki/ca.crt")
webhook_url="https://127.0.0.1:$PORT_CROSSPLANE_WEBHOOK"
kubectl apply -f - >/dev/null <<YAML
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {name: crossplane}
webhooks:
- name: compositeresourcedefinitions.apiextensions.crossplane.io
  admissionReviewVersions: [v1]
  clientConfig: {url: "$webhook_url/validate-apiextensions-crossplane-io-v1-compositeresourcedefinition", caBundle: "$ca_bundle"}
  failurePolicy: Fail
  sideEffects: None
  rules: [{apiGroups: [apiextensions.crossplane.io], apiVersions: [v1], operations: [CREATE, UPDATE], resources: [compositeresourcedefinitions]}]
- name: compositions.apiextensions.crossplane.io
  admissionReviewVersions: [v1]
  clientConfig: {url: "$webhook_url/validate-apiextensions-crossplane-io-v1-composition", caBundle: "$ca_bundle"}
  failurePolicy: Fail
  sideEffects: None
  rules: [{apiGroups: [apiextensions.crossplane.io], apiVersions: [v1], operations: [CREATE, UPDATE], resources: [compositions]}]
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {name: crossplane-no-usages}
webhooks:
- name: nousages.apiextensions.crossplane.io
  admissionReviewVersions: [v1]
  clientConfig: {url: "$webhook_url/validate-no-usages", caBundle: "$ca_bundle"}
  failurePolicy: Fail
  sideEffects: None
  objectSelector: {matchLabels: {crossplane.io/in-use: "true"}}
  rules: [{apiGroups: ['*'], apiVersions: ['*'], operations: [DELETE], resources: ['*']}]
YAML

# The stack's DynamoDB, with the emulator credentials (not secrets: the emulators accept any).
kubectl apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Secret
metadata: {name: dynamodb-emulator-credentials, namespace: crossplane-system}
stringData:
  credentials: |
    [default]
    aws_access_key_id = test
    aws_secret_access_key = test
---
apiVersion: aws.crossplane.io/v1beta1
kind: ProviderConfig
metadata: {name: default}
spec:
  credentials:
    source: Secret
    secretRef: {namespace: crossplane-system, name: dynamodb-emulator-credentials, key: credentials}
  endpoint:
    url: {type: Static, static: "http://127.0.0.1:$PORT_DYNALITE"}
    hostnameImmutable: true
YAML

# The platform's claim: Crossplane generates the claim's and the composite's CRDs from the XRD; the
# Composition after them (the webhook validates it against the composite's schema).
kubectl apply -f "$PROJECT_DIR/platform-sim/crossplane/definition.yaml" >/dev/null
wait_until 90 "the platform's DynamoDB claim (XRD offered)" \
  kubectl wait --for condition=Offered --timeout=2s compositeresourcedefinition/xvirtualcoffeedynamodbs.virtualcoffee.io ||
  { tail -n 30 "$STATE_DIR/logs/crossplane.log" >&2; die "Crossplane did not offer the platform's claim"; }
kubectl wait --for condition=established --timeout=60s crd/virtualcoffeedynamodbclaims.virtualcoffee.io crd/xvirtualcoffeedynamodbs.virtualcoffee.io >/dev/null
kubectl apply -f "$PROJECT_DIR/platform-sim/crossplane/composition.yaml" >/dev/null
