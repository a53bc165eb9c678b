#!/usr/bin/env bash
# Starts the local stack for one profile on loopback, waits until each server answers, and writes
# $STATE_DIR/env for the worker, the CLI and the tests. Servers already running are left alone.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

"$STACK_DIR/install.sh"
# State written by an older layout of the stack is local and disposable (the seed makes the demo
# instance again): stop that stack and start afresh rather than fail on what it left.
if [ -d "$STATE_DIR/logs" ] && [ "$(cat "$STATE_DIR/layout" 2>/dev/null)" != "$STACK_LAYOUT" ]; then
  log "$STATE_DIR holds an older stack's state (layout $(cat "$STATE_DIR/layout" 2>/dev/null || echo 1), now $STACK_LAYOUT): stopping it and starting afresh"
  "$STACK_DIR/down.sh"
  rm -rf "$STATE_DIR"
fi
mkdir -p "$STATE_DIR/logs"
echo "$STACK_LAYOUT" >"$STATE_DIR/layout"

# start <name> <command...>: starts a server in the background unless its pid is alive.
start() {
  local name=$1
  shift
  if pid_alive "$STATE_DIR/$name.pid"; then
    log "$name already running (pid $(cat "$STATE_DIR/$name.pid"))"
    return 0
  fi
  # The exact command, so scripts/stack/restart.sh starts the server again with the same flags.
  printf '%q ' "$@" >"$STATE_DIR/$name.cmd"
  setsid "$@" >"$STATE_DIR/logs/$name.log" 2>&1 < /dev/null &
  echo $! >"$STATE_DIR/$name.pid"
}

require_port_free() {
  local name=$1 port=$2
  if ! pid_alive "$STATE_DIR/$name.pid" && port_open "$port"; then
    die "port $port for $name is taken by another process; set VCP_PORT_* or VCP_PORT_OFFSET"
  fi
}

require_port_free temporal "$PORT_TEMPORAL"
require_port_free moto "$PORT_MOTO"
require_port_free dynalite "$PORT_DYNALITE"

temporal=$(temporal_bin)
sa_flags=()
for sa in $SEARCH_ATTRIBUTES; do sa_flags+=(--search-attribute "$sa"); done
# A SQLite file keeps runs across restarts of the dev server.
# The dev server has a single history shard, whose transfer queue (what hands every new workflow and
# activity task to matching) reads at most history.transferProcessorMaxPollRPS = 20 times a second:
# about 40 ms on every task dispatch, most of a short runbook's time. The reader only polls when
# tasks arrive, so a higher cap costs nothing when idle. Eager activity execution hands activities
# scheduled by a workflow task straight back to the worker that completed it, as Temporal Cloud does.
# SQLite in WAL mode with synchronous=normal: a commit no longer waits for fsyncs (a crash of the
# server loses nothing; only a crash of the machine can lose the last commits), about half of
# every task's persistence time.
start temporal "$temporal" server start-dev \
  --ip 127.0.0.1 --port "$PORT_TEMPORAL" --http-port "$PORT_TEMPORAL_HTTP" \
  --ui-ip 127.0.0.1 --ui-port "$PORT_TEMPORAL_UI" --metrics-port "$PORT_TEMPORAL_METRICS" \
  --dynamic-config-value history.transferProcessorMaxPollRPS=1000 \
  --dynamic-config-value system.enableActivityEagerExecution=true \
  --sqlite-pragma journal_mode=wal --sqlite-pragma synchronous=normal \
  --db-filename "$STATE_DIR/temporal.db" --namespace default --log-level warn "${sa_flags[@]}"

start moto "$MOTO_DIR/bin/moto_server" -H 127.0.0.1 -p "$PORT_MOTO"

[ -f "$PROJECT_DIR/node_modules/dynalite/package.json" ] || die "dynalite is missing: run 'npm ci' first (make does)"
mkdir -p "$STATE_DIR/dynalite"
# dynalite plus the TTL and point-in-time-recovery settings it lacks (dynamodb-emulator.js).
# --createTableMs 0: tables are ACTIVE at once, as the runbooks wait for them anyway.
start dynalite node "$STACK_DIR/dynamodb-emulator.js" --host 127.0.0.1 --port "$PORT_DYNALITE" --path "$STATE_DIR/dynalite" \
  --createTableMs 0 --deleteTableMs 0 --updateTableMs 0

wait_until 60 "temporal (127.0.0.1:$PORT_TEMPORAL, UI http://127.0.0.1:$PORT_TEMPORAL_UI)" \
  "$temporal" operator cluster health --address "127.0.0.1:$PORT_TEMPORAL" ||
  { tail -n 20 "$STATE_DIR/logs/temporal.log" >&2; die "temporal did not become healthy"; }
wait_until 60 "moto (127.0.0.1:$PORT_MOTO)" curl -sf "http://127.0.0.1:$PORT_MOTO/moto-api/data.json" ||
  { tail -n 20 "$STATE_DIR/logs/moto.log" >&2; die "moto did not start"; }
wait_until 30 "dynalite (127.0.0.1:$PORT_DYNALITE)" port_open "$PORT_DYNALITE" ||
  { tail -n 20 "$STATE_DIR/logs/dynalite.log" >&2; die "dynalite did not start"; }

# shellcheck source=kube/up.sh
. "$STACK_DIR/kube/up.sh"
# shellcheck source=argocd/up.sh
. "$STACK_DIR/argocd/up.sh"

# The ports in use, so scripts/stack/restart.sh checks the same ones whatever overrides were given.
for var in "${!PORT_@}"; do printf '%s=%s\n' "$var" "${!var}"; done >"$STATE_DIR/ports.env"

# Emulator credentials: the emulators accept any; these are not secrets.
cat >"$ENV_FILE" <<ENV
# Written by scripts/stack/up.sh for the '$PROFILE' stack. Source it: set -a; . $ENV_FILE; set +a
VCP_STACK_PROFILE=$PROFILE
VCP_STATE_DIR=$STATE_DIR
TEMPORAL_ADDRESS=127.0.0.1:$PORT_TEMPORAL
TEMPORAL_NAMESPACE=default
TEMPORAL_UI_URL=http://127.0.0.1:$PORT_TEMPORAL_UI
TEMPORAL_CLI=$temporal
AWS_REGION=us-west-2
AWS_ACCESS_KEY_ID=test
AWS_SECRET_ACCESS_KEY=test
AWS_ENDPOINT_URL=http://127.0.0.1:$PORT_MOTO
AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:$PORT_DYNALITE
VCP_BACKUP_BUCKET=vcp-runbooks-backups
VCP_METRICS_ADDRESS=127.0.0.1:$PORT_WORKER_METRICS
KUBECONFIG=$KUBE_DIR/admin.kubeconfig
KUBECTL=$KUBECTL
VCP_PLATFORM_GIT_DIR=$PLATFORM_GIT_DIR
ENV

# Crossplane core and the DynamoDB Table provider, with the platform's XRD and Composition.
# shellcheck source=crossplane/up.sh
. "$STACK_DIR/crossplane/up.sh"

# The simulated pod logs (kwok's pods write none).
mkdir -p "$STATE_DIR/pod-logs"
start platform-sim bash -c "set -a; . '$ENV_FILE'; set +a; export VCP_SIM_LOG_DIR='$STATE_DIR/pod-logs'; cd '$PROJECT_DIR'; exec node_modules/.bin/tsx platform-sim/main.ts"
wait_until 60 "platform simulator" grep -q "platform simulator running" "$STATE_DIR/logs/platform-sim.log" ||
  { tail -n 20 "$STATE_DIR/logs/platform-sim.log" >&2; die "the platform simulator did not start"; }

log "stack is up; environment in $ENV_FILE"
