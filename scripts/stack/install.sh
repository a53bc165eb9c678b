#!/usr/bin/env bash
# Installs every tool the local stack runs, once, into a versioned cache outside the clone
# ($VCP_CACHE_DIR/<tool>-<version>/). Independent installs run in parallel; a finished install is
# marked complete, so an interrupted one is redone rather than trusted.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

mkdir -p "$VCP_CACHE_DIR/logs"

# install_once <dir> <name> <command...>: runs the command (which fills <dir>) unless <dir> is complete.
install_once() {
  local dir=$1 name=$2
  shift 2
  [ -f "$dir/.complete" ] && return 0
  exec 9>"$dir.lock"
  flock 9
  [ -f "$dir/.complete" ] && return 0
  rm -rf "$dir"
  mkdir -p "$dir"
  log "installing $name into $dir (log: $VCP_CACHE_DIR/logs/$name.log)"
  local started=$SECONDS
  if "$@" >"$VCP_CACHE_DIR/logs/$name.log" 2>&1; then
    touch "$dir/.complete"
    log "installed $name in $((SECONDS - started))s"
  else
    tail -n 30 "$VCP_CACHE_DIR/logs/$name.log" >&2
    die "installing $name failed; full log: $VCP_CACHE_DIR/logs/$name.log"
  fi
}

install_temporal() {
  if [ "$(temporal_bin)" != "$TEMPORAL_BIN_DIR/temporal" ]; then
    log "using temporal on PATH: $(temporal_bin)"
    return 0
  fi
  # Later CLI versions carry a replace directive and cannot be `go install`ed.
  install_once "$TEMPORAL_BIN_DIR" "temporal-cli-$TEMPORAL_CLI_VERSION" \
    env GOBIN="$TEMPORAL_BIN_DIR" go install "github.com/temporalio/cli/cmd/temporal@$TEMPORAL_CLI_VERSION"
}

install_moto() {
  install_once "$MOTO_DIR" "moto-$MOTO_VERSION" \
    bash -c "python3 -m venv '$MOTO_DIR' && '$MOTO_DIR/bin/pip' install --disable-pip-version-check 'moto[server]==$MOTO_VERSION'"
}

install_kubernetes() {
  install_once "$KUBERNETES_DIR" "kubernetes-$KUBERNETES_VERSION" \
    "$STACK_DIR/build-kubernetes.sh" "$KUBERNETES_VERSION" "$KUBERNETES_DIR"
}

install_kine() {
  install_once "$KINE_DIR" "kine-$KINE_VERSION" env GOBIN="$KINE_DIR" go install "github.com/k3s-io/kine@$KINE_VERSION"
}

install_kwok() {
  install_once "$KWOK_DIR" "kwok-$KWOK_VERSION" "$STACK_DIR/kube/install-kwok.sh" "$KWOK_VERSION" "$KWOK_DIR"
}

install_crossplane() {
  install_once "$CROSSPLANE_DIR" "crossplane-$CROSSPLANE_VERSION" "$STACK_DIR/crossplane/install-crossplane.sh" "$CROSSPLANE_VERSION" "$CROSSPLANE_DIR"
}

install_provider_aws() {
  install_once "$PROVIDER_AWS_DIR" "provider-aws-$PROVIDER_AWS_VERSION" "$STACK_DIR/crossplane/install-provider-aws.sh" "$PROVIDER_AWS_VERSION" "$PROVIDER_AWS_DIR"
}

install_argocd() {
  install_once "$ARGOCD_DIR" "argocd-$ARGOCD_VERSION" \
    "$STACK_DIR/build-argocd.sh" "$ARGOCD_VERSION" "$ARGOCD_GO_TOOLCHAIN" "$ARGOCD_DIR"
}

# Argo CD's repo server runs git; its controller caches in Redis and runs in a network namespace of
# its own (unshare, ip), reached through socat (scripts/stack/argocd/up.sh). From Debian, once.
install_debian_packages() {
  local missing=()
  command -v git >/dev/null || missing+=(git)
  command -v redis-server >/dev/null || missing+=(redis-server)
  command -v socat >/dev/null || missing+=(socat)
  command -v ip >/dev/null || missing+=(iproute2)
  command -v unshare >/dev/null || missing+=(util-linux)
  [ "${#missing[@]}" = 0 ] && return 0
  command -v apt-get >/dev/null || die "install ${missing[*]} (Debian packages) first"
  local sudo=()
  [ "$(id -u)" = 0 ] || sudo=(sudo)
  log "installing ${missing[*]} with apt-get"
  exec 8>"$VCP_CACHE_DIR/apt.lock"
  flock 8
  "${sudo[@]}" apt-get update -qq >"$VCP_CACHE_DIR/logs/apt.log" 2>&1 &&
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >>"$VCP_CACHE_DIR/logs/apt.log" 2>&1 ||
    { tail -n 20 "$VCP_CACHE_DIR/logs/apt.log" >&2; die "apt-get install ${missing[*]} failed"; }
}

command -v go >/dev/null || die "go is required to build the Temporal CLI and the Kubernetes control plane"
command -v python3 >/dev/null || die "python3 is required for moto"

install_debian_packages
pids=()
install_temporal & pids+=($!)
install_moto & pids+=($!)
install_kine & pids+=($!)
install_kwok & pids+=($!)
install_kubernetes & pids+=($!)
# One after the other: large Go builds at once only compete for the same cores.
{ install_argocd && install_crossplane && install_provider_aws; } & pids+=($!)
failed=0
for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
[ "$failed" = 0 ] || die "some tools failed to install (see above)"
