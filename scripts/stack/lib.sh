# Shared by the stack scripts: versions, cache and state locations, ports per profile, helpers.
# Profiles keep stacks apart: `demo` on the usual ports, `test` offset by 10000, so `make test`
# never collides with a running `make demo`. Every port can be overridden by its VCP_PORT_* variable.
set -euo pipefail

STACK_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PROJECT_DIR=$(cd "$STACK_DIR/../.." && pwd)
# shellcheck source=versions.env
. "$STACK_DIR/versions.env"

VCP_CACHE_DIR=${VCP_CACHE_DIR:-$HOME/.cache/vcp-runbooks}
PROFILE=${VCP_STACK_PROFILE:-demo}
case "$PROFILE" in
  demo) default_offset=0 ;;
  test) default_offset=10000 ;;
  # Where make test runs test/server-faults.test.ts, beside the test stack (none of their ports meet).
  test-faults) default_offset=15000 ;;
  *) default_offset=${VCP_PORT_OFFSET:-20000} ;;
esac
PORT_OFFSET=${VCP_PORT_OFFSET:-$default_offset}
STATE_DIR=${VCP_STATE_DIR:-$PROJECT_DIR/.stack/$PROFILE}
ENV_FILE="$STATE_DIR/env"
# Bumped when the stack runs different servers, whose state the new ones cannot reuse (2: real Argo CD
# and Crossplane instead of the simulators, whose CRDs and objects the real controllers refuse).
STACK_LAYOUT=2

PORT_TEMPORAL=${VCP_PORT_TEMPORAL:-$((7233 + PORT_OFFSET))}
PORT_TEMPORAL_HTTP=${VCP_PORT_TEMPORAL_HTTP:-$((7243 + PORT_OFFSET))}
PORT_TEMPORAL_UI=${VCP_PORT_TEMPORAL_UI:-$((8233 + PORT_OFFSET))}
PORT_TEMPORAL_METRICS=${VCP_PORT_TEMPORAL_METRICS:-$((7235 + PORT_OFFSET))}
PORT_MOTO=${VCP_PORT_MOTO:-$((5000 + PORT_OFFSET))}
PORT_DYNALITE=${VCP_PORT_DYNALITE:-$((4567 + PORT_OFFSET))}
PORT_WORKER_METRICS=${VCP_PORT_WORKER_METRICS:-$((9464 + PORT_OFFSET))}
PORT_KINE=${VCP_PORT_KINE:-$((2379 + PORT_OFFSET))}
PORT_APISERVER=${VCP_PORT_APISERVER:-$((6443 + PORT_OFFSET))}
PORT_KWOK=${VCP_PORT_KWOK:-$((10250 + PORT_OFFSET))}
PORT_CONTROLLER_MANAGER=${VCP_PORT_CONTROLLER_MANAGER:-$((10257 + PORT_OFFSET))}
PORT_SCHEDULER=${VCP_PORT_SCHEDULER:-$((10259 + PORT_OFFSET))}
PORT_CROSSPLANE_WEBHOOK=${VCP_PORT_CROSSPLANE_WEBHOOK:-$((9543 + PORT_OFFSET))}
PORT_CROSSPLANE_METRICS=${VCP_PORT_CROSSPLANE_METRICS:-$((9544 + PORT_OFFSET))}
PORT_CROSSPLANE_HEALTH=${VCP_PORT_CROSSPLANE_HEALTH:-$((9545 + PORT_OFFSET))}
# Argo CD: its Redis (not 6379, which a system Redis may hold), repo server, and both metrics endpoints
# (the controller's inside its own network namespace).
PORT_REDIS=${VCP_PORT_REDIS:-$((6380 + PORT_OFFSET))}
PORT_ARGOCD_REPO_SERVER=${VCP_PORT_ARGOCD_REPO_SERVER:-$((8081 + PORT_OFFSET))}
PORT_ARGOCD_REPO_SERVER_METRICS=${VCP_PORT_ARGOCD_REPO_SERVER_METRICS:-$((8084 + PORT_OFFSET))}
PORT_ARGOCD_CONTROLLER_METRICS=${VCP_PORT_ARGOCD_CONTROLLER_METRICS:-$((8082 + PORT_OFFSET))}
for port_var in "${!PORT_@}"; do
  [ "$port_var" = PORT_OFFSET ] && continue
  if ! [ "${!port_var}" -ge 1 ] 2>/dev/null || [ "${!port_var}" -gt 65535 ]; then
    printf '[stack:%s] ERROR: %s=%s is not a TCP port (offset %s); set VCP_%s or a smaller VCP_PORT_OFFSET\n' \
      "$PROFILE" "$port_var" "${!port_var}" "$PORT_OFFSET" "$port_var" >&2
    exit 1
  fi
done

TEMPORAL_BIN_DIR="$VCP_CACHE_DIR/temporal-cli-$TEMPORAL_CLI_VERSION"
MOTO_DIR="$VCP_CACHE_DIR/moto-$MOTO_VERSION"
KUBERNETES_DIR="$VCP_CACHE_DIR/kubernetes-$KUBERNETES_VERSION"
KINE_DIR="$VCP_CACHE_DIR/kine-$KINE_VERSION"
KWOK_DIR="$VCP_CACHE_DIR/kwok-$KWOK_VERSION"
CROSSPLANE_DIR="$VCP_CACHE_DIR/crossplane-$CROSSPLANE_VERSION"
PROVIDER_AWS_DIR="$VCP_CACHE_DIR/provider-aws-$PROVIDER_AWS_VERSION"
ARGOCD_DIR="$VCP_CACHE_DIR/argocd-$ARGOCD_VERSION"
KUBE_DIR="$STATE_DIR/kube"

# The search attributes the workflows set (common/definitions.ts); name=Type as the CLI takes them.
SEARCH_ATTRIBUTES="RunbookName=Keyword RunbookInstance=Keyword RunbookStatus=Keyword RunbookStep=Keyword RunbookTrigger=Keyword"

log() { printf '[stack:%s] %s\n' "$PROFILE" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# Path of the temporal CLI at the pinned version: one on PATH if it matches, else the cached build.
temporal_bin() {
  if command -v temporal >/dev/null 2>&1 && temporal --version 2>/dev/null | grep -q "${TEMPORAL_CLI_VERSION#v}"; then
    command -v temporal
  else
    echo "$TEMPORAL_BIN_DIR/temporal"
  fi
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_until <seconds> <description> <command...>: polls the command until it succeeds.
wait_until() {
  local deadline=$((SECONDS + $1)) what=$2
  shift 2
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.3
  done
  log "$what is up"
}

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
