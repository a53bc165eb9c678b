#!/usr/bin/env bash
# Starts Argo CD out of cluster on loopback, as upstream's own development setup runs it (its
# Procfile): Redis, the repo server and the application controller (one `argocd` binary, its role
# picked by ARGOCD_BINARY_NAME; ARGOCD_FAKE_IN_CLUSTER makes the in-cluster destination the admin
# kubeconfig's API server), Argo CD's CRDs from the module it was built from, its settings, an
# AppProject for the platform's instances, and the platform's deploy repository (a bare git
# repository served over file://, platform-sim/platform-repo.ts). No API server, UI or Dex: the
# runbooks talk to the Application objects only. Sourced by up.sh after the Kubernetes control plane.

require_port_free redis "$PORT_REDIS"
require_port_free argocd-repo-server "$PORT_ARGOCD_REPO_SERVER"

argocd_state="$STATE_DIR/argocd"
PLATFORM_GIT_DIR="$STATE_DIR/platform.git"
mkdir -p "$argocd_state/tmp" "$argocd_state/tls" "$argocd_state/ssh" "$argocd_state/gpg"

# The same manifests always give the same commits, so rebuilding under a running repo server is harmless.
(cd "$PROJECT_DIR" && node_modules/.bin/tsx platform-sim/platform-repo.ts "$PLATFORM_GIT_DIR") >"$STATE_DIR/logs/platform-repo.log" 2>&1 ||
  { cat "$STATE_DIR/logs/platform-repo.log" >&2; die "could not build the platform repository"; }

start redis redis-server --bind 127.0.0.1 --port "$PORT_REDIS" --save '' --appendonly no --protected-mode yes
wait_until 30 "redis (127.0.0.1:$PORT_REDIS)" port_open "$PORT_REDIS" ||
  { tail -n 20 "$STATE_DIR/logs/redis.log" >&2; die "redis did not start"; }

# The CRDs are too large for a client-side apply's last-applied annotation.
kubectl apply --server-side --force-conflicts -f "$ARGOCD_DIR/crds/" >/dev/null
# (kubectl wait fails rather than waits while a new CRD has no status yet.)
wait_until 60 "Argo CD's CRDs" kubectl wait --for condition=established --timeout=5s crd/applications.argoproj.io crd/appprojects.argoproj.io ||
  die "Argo CD's CRDs were not established"
# Settings are read from objects labelled part-of=argocd. The project lets instance Applications use
# only the platform repository and namespaced resources outside Argo CD's and the system's namespaces.
kubectl apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Namespace
metadata: {name: argocd}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: argocd-cm, namespace: argocd, labels: {app.kubernetes.io/part-of: argocd}}
---
apiVersion: v1
kind: Secret
metadata: {name: argocd-secret, namespace: argocd, labels: {app.kubernetes.io/part-of: argocd}}
---
apiVersion: argoproj.io/v1alpha1
kind: AppProject
metadata: {name: virtual-coffee, namespace: argocd}
spec:
  description: Virtual Coffee Platform instances
  sourceRepos: ['file://$PLATFORM_GIT_DIR']
  destinations:
  - {server: https://kubernetes.default.svc, namespace: '!argocd'}
  - {server: https://kubernetes.default.svc, namespace: '!kube-*'}
  - {server: https://kubernetes.default.svc, namespace: '*'}
  clusterResourceWhitelist: []
YAML

# A Unix socket's path is limited to 107 bytes.
[ "${#argocd_state}" -le 90 ] || die "the stack's state directory path is too long for a Unix socket: $argocd_state"
argocd_env=(
  ARGOCD_FAKE_IN_CLUSTER=true "KUBECONFIG=$KUBE_DIR/admin.kubeconfig" "TMPDIR=$argocd_state/tmp"
  "ARGOCD_TLS_DATA_PATH=$argocd_state/tls" "ARGOCD_SSH_DATA_PATH=$argocd_state/ssh" "ARGOCD_GNUPGHOME=$argocd_state/gpg"
  ARGOCD_GPG_ENABLED=false
  # The repo server's git credential socket defaults to one fixed path in /tmp; two stacks starting
  # together then unlink each other's socket and one fails with "address already in use".
  "ARGOCD_ASK_PASS_SOCK=$argocd_state/askpass.sock"
)
# Plain gRPC on loopback. Branch heads are re-resolved after 10 s instead of 3 min, so a commit
# pushed in a test is seen at the next refresh.
start argocd-repo-server env "${argocd_env[@]}" ARGOCD_BINARY_NAME=argocd-repo-server "PATH=$ARGOCD_DIR/bin:$PATH" "$ARGOCD_DIR/argocd" \
  --address 127.0.0.1 --port "$PORT_ARGOCD_REPO_SERVER" --disable-tls --client-ca-path= \
  --metrics-address 127.0.0.1 --metrics-port "$PORT_ARGOCD_REPO_SERVER_METRICS" \
  --redis "127.0.0.1:$PORT_REDIS" --revision-cache-expiration 10s --logformat text --loglevel info
wait_until 60 "argocd-repo-server (127.0.0.1:$PORT_ARGOCD_REPO_SERVER)" port_open "$PORT_ARGOCD_REPO_SERVER" ||
  { tail -n 20 "$STATE_DIR/logs/argocd-repo-server.log" >&2; die "the Argo CD repo server did not start"; }

# The controller serves metrics and health on 0.0.0.0 (its port is a flag, its address is not), so it
# runs in a network namespace of its own whose only interface is loopback, reaching the API server,
# Redis and the repo server at their usual addresses through forwards (netns-run.sh).
bridge="$argocd_state/bridge"
start argocd-application-controller "$STACK_DIR/argocd/netns-run.sh" "$bridge" \
  "$PORT_APISERVER,$PORT_REDIS,$PORT_ARGOCD_REPO_SERVER" "$PORT_ARGOCD_CONTROLLER_METRICS" -- \
  env "${argocd_env[@]}" ARGOCD_BINARY_NAME=argocd-application-controller "$ARGOCD_DIR/argocd" \
  --namespace argocd --redis "127.0.0.1:$PORT_REDIS" \
  --repo-server "127.0.0.1:$PORT_ARGOCD_REPO_SERVER" --repo-server-plaintext \
  --metrics-port "$PORT_ARGOCD_CONTROLLER_METRICS" --logformat text --loglevel info
wait_until 60 "argocd-application-controller (own network namespace; metrics at $bridge/$PORT_ARGOCD_CONTROLLER_METRICS.sock)" \
  curl -sf --unix-socket "$bridge/$PORT_ARGOCD_CONTROLLER_METRICS.sock" http://localhost/metrics ||
  { tail -n 20 "$STATE_DIR/logs/argocd-application-controller.log" >&2; die "the Argo CD application controller did not start"; }
