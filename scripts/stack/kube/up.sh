#!/usr/bin/env bash
# Starts the Kubernetes control plane on loopback: kine (SQLite) as storage, kube-apiserver (RBAC,
# self-signed PKI), kube-controller-manager, kube-scheduler, and kwok for a fake node whose kubelet
# serves pod logs. Sourced by up.sh (uses its start/require_port_free helpers).

require_port_free kine "$PORT_KINE"
require_port_free kube-apiserver "$PORT_APISERVER"
require_port_free kwok "$PORT_KWOK"

"$STACK_DIR/kube/certs.sh" "$KUBE_DIR/pki"
server="https://127.0.0.1:$PORT_APISERVER"
for client in admin controller-manager scheduler kwok; do
  "$STACK_DIR/kube/kubeconfig.sh" "$KUBE_DIR/pki" "$client" "$server" "$KUBE_DIR/$client.kubeconfig"
done
KUBECTL="$KUBERNETES_DIR/kubectl"
kubectl() { "$KUBECTL" --kubeconfig "$KUBE_DIR/admin.kubeconfig" "$@"; }
pki="$KUBE_DIR/pki"

start kine "$KINE_DIR/kine" --endpoint "sqlite://$KUBE_DIR/kine.db?_journal=WAL&cache=shared&_busy_timeout=30000" \
  --listen-address "127.0.0.1:$PORT_KINE" --metrics-bind-address 0
wait_until 30 "kine (127.0.0.1:$PORT_KINE)" port_open "$PORT_KINE" ||
  { tail -n 20 "$STATE_DIR/logs/kine.log" >&2; die "kine did not start"; }

# The service range is never routed to: no kube-proxy runs, and the endpoint reconciler is off
# because the API server advertises a loopback address.
start kube-apiserver "$KUBERNETES_DIR/kube-apiserver" \
  --etcd-servers "http://127.0.0.1:$PORT_KINE" \
  --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$PORT_APISERVER" \
  --endpoint-reconciler-type none --service-cluster-ip-range 10.96.0.0/16 \
  --authorization-mode RBAC --anonymous-auth=false \
  --client-ca-file "$pki/ca.crt" --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
  --service-account-issuer https://kubernetes.default.svc --service-account-key-file "$pki/sa.pub" \
  --service-account-signing-key-file "$pki/sa.key" \
  --kubelet-client-certificate "$pki/apiserver-kubelet-client.crt" --kubelet-client-key "$pki/apiserver-kubelet-client.key" \
  --kubelet-preferred-address-types InternalIP \
  --enable-priority-and-fairness=false --profiling=false --watch-cache=false
wait_until 90 "kube-apiserver ($server)" kubectl get --raw /readyz ||
  { tail -n 30 "$STATE_DIR/logs/kube-apiserver.log" >&2; die "kube-apiserver did not become ready"; }

# No node lifecycle controller: kwok's fake node has no real kubelet to heartbeat through it.
start kube-controller-manager "$KUBERNETES_DIR/kube-controller-manager" \
  --kubeconfig "$KUBE_DIR/controller-manager.kubeconfig" \
  --authentication-kubeconfig "$KUBE_DIR/controller-manager.kubeconfig" \
  --authorization-kubeconfig "$KUBE_DIR/controller-manager.kubeconfig" \
  --bind-address 127.0.0.1 --secure-port "$PORT_CONTROLLER_MANAGER" --leader-elect=false \
  --service-account-private-key-file "$pki/sa.key" --root-ca-file "$pki/ca.crt" --use-service-account-credentials \
  --controllers '*,-nodelifecycle,-nodeipam,-cloud-node-lifecycle,-service-lb-controller,-node-route-controller' \
  --concurrent-gc-syncs 5
start kube-scheduler "$KUBERNETES_DIR/kube-scheduler" \
  --kubeconfig "$KUBE_DIR/scheduler.kubeconfig" \
  --authentication-kubeconfig "$KUBE_DIR/scheduler.kubeconfig" \
  --authorization-kubeconfig "$KUBE_DIR/scheduler.kubeconfig" \
  --bind-address 127.0.0.1 --secure-port "$PORT_SCHEDULER" --leader-elect=false

kubectl apply -f "$KWOK_DIR/logs-crd.yaml" >/dev/null
kubectl wait --for condition=established --timeout=60s crd/logs.kwok.x-k8s.io >/dev/null
start kwok "$KWOK_DIR/kwok" --kubeconfig "$KUBE_DIR/kwok.kubeconfig" \
  --manage-all-nodes=false --manage-nodes-with-annotation-selector kwok.x-k8s.io/node=fake \
  --node-ip 127.0.0.1 --node-port "$PORT_KWOK" --server-address "127.0.0.1:$PORT_KWOK" \
  --tls-cert-file "$pki/kubelet.crt" --tls-private-key-file "$pki/kubelet.key" \
  --cidr 127.10.0.0/16 --node-lease-duration-seconds 40 --enable-crds Logs \
  --config "$STACK_DIR/kube/kwok-stages.yaml"

kubectl apply -f - >/dev/null <<'YAML'
apiVersion: v1
kind: Node
metadata:
  name: kwok-node-0
  annotations: {kwok.x-k8s.io/node: fake, node.alpha.kubernetes.io/ttl: "0"}
  labels: {kubernetes.io/hostname: kwok-node-0, kubernetes.io/os: linux, kubernetes.io/arch: amd64, type: kwok}
YAML
wait_until 60 "kwok node kwok-node-0" kubectl wait --for condition=Ready --timeout=2s node/kwok-node-0 ||
  { tail -n 30 "$STATE_DIR/logs/kwok.log" >&2; die "kwok did not bring up its node"; }
# Admission taints a new node not-ready; the node lifecycle controller (off, see above) would lift it.
kubectl taint node kwok-node-0 node.kubernetes.io/not-ready:NoSchedule- >/dev/null 2>&1 || true
