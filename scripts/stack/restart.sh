#!/usr/bin/env bash
# Restarts one server of a running stack with the command up.sh started it with (same flags, same
# state on disk), and waits until it answers again. For tests that prove a runbook in flight survives
# a restart of a server it depends on.
#
#   scripts/stack/restart.sh [--stop | --start] <server>
#
# --stop stops it and leaves it down; --start starts a stopped one; neither does both. The stack is
# the one VCP_STATE_DIR names (the env file sets it) or VCP_STACK_PROFILE's. moto is refused: it keeps
# its state only in memory, so a restart would lose every bucket (cut its traffic with a proxy instead).
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() { echo "usage: $0 [--stop | --start] <server>" >&2; exit 2; }
action=restart
case "${1:-}" in
  --stop) action=stop; shift ;;
  --start) action=start; shift ;;
  -*) usage ;;
esac
[ $# -eq 1 ] || usage
name=$1
case "$name" in
  moto) die "moto keeps its state only in memory: a restart loses every bucket; cut its traffic with a proxy instead" ;;
  */* | .*) usage ;;
esac
pidfile="$STATE_DIR/$name.pid"
cmdfile="$STATE_DIR/$name.cmd"
[ -f "$cmdfile" ] || die "no $cmdfile: $name is not a server of the stack in $STATE_DIR, or the stack was started by an older up.sh (restart the stack)"
# The ports the stack was started on (overrides included), not the ones this shell would compute.
# shellcheck disable=SC1091
[ -f "$STATE_DIR/ports.env" ] && . "$STATE_DIR/ports.env"
server_log="$STATE_DIR/logs/$name.log"

# The port a server listens on, which must be free before it starts again.
server_port() {
  case "$1" in
    temporal) echo "$PORT_TEMPORAL" ;;
    dynalite) echo "$PORT_DYNALITE" ;;
    kine) echo "$PORT_KINE" ;;
    kube-apiserver) echo "$PORT_APISERVER" ;;
    kube-controller-manager) echo "$PORT_CONTROLLER_MANAGER" ;;
    kube-scheduler) echo "$PORT_SCHEDULER" ;;
    kwok) echo "$PORT_KWOK" ;;
  esac
}

kubectl_ready() { "$KUBERNETES_DIR/kubectl" --kubeconfig "$KUBE_DIR/admin.kubeconfig" get --raw /readyz; }
healthz() { curl -skf "https://127.0.0.1:$1/healthz"; }
# The log line a server prints once running, looked for after the restart marker only.
started_since() { tail -n "+$(($1 + 1))" "$server_log" | grep -q "$2"; }

# Answers as up.sh waits for it: each server's own readiness, not just an open port.
wait_ready() {
  local log_lines=$1
  case "$name" in
    temporal) wait_until 120 "temporal" "$(temporal_bin)" operator cluster health --address "127.0.0.1:$PORT_TEMPORAL" ;;
    dynalite | kine | kwok) wait_until 60 "$name" port_open "$(server_port "$name")" ;;
    kube-apiserver) wait_until 120 "kube-apiserver" kubectl_ready ;;
    kube-controller-manager | kube-scheduler) wait_until 120 "$name" healthz "$(server_port "$name")" ;;
    platform-sim) wait_until 120 "platform simulator" started_since "$log_lines" "platform simulator running" ;;
    # Its metrics answer through the bridge of its network namespace (argocd/up.sh) once it serves.
    argocd-application-controller) wait_until 60 "$name" curl -sf --unix-socket "$STATE_DIR/argocd/bridge/$PORT_ARGOCD_CONTROLLER_METRICS.sock" http://localhost/metrics ;;
    *) wait_until 30 "$name" pid_alive "$pidfile" ;;
  esac
}

stop_server() {
  if ! pid_alive "$pidfile"; then
    log "$name is not running"
    return 0
  fi
  local pid
  pid=$(cat "$pidfile")
  # Servers were started with setsid, so the pid is also the process group (as down.sh stops them).
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  # As down.sh, 20 s to exit; but once a server has stopped listening, 3 s more: kube-apiserver
  # stops serving at once and then lingers for its whole grace period.
  local port deadline=$((SECONDS + 20)) closed_at=''
  port=$(server_port "$name")
  while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do
    if [ -n "$port" ] && [ -z "$closed_at" ] && ! port_open "$port"; then
      closed_at=$SECONDS
      deadline=$((SECONDS + 3 < deadline ? SECONDS + 3 : deadline))
    fi
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "$name did not stop in time; killing it"
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  fi
  deadline=$((SECONDS + 30))
  while [ -n "$port" ] && port_open "$port"; do
    [ "$SECONDS" -lt "$deadline" ] || die "port $port of $name is still taken after it stopped"
    sleep 0.1
  done
  log "$name stopped"
}

start_server() {
  if pid_alive "$pidfile"; then
    log "$name already running (pid $(cat "$pidfile"))"
    return 0
  fi
  local port
  port=$(server_port "$name")
  if [ -n "$port" ] && port_open "$port"; then
    die "port $port for $name is taken by another process"
  fi
  local log_lines
  log_lines=$(wc -l <"$server_log" 2>/dev/null || echo 0)
  printf '\n--- restarted by scripts/stack/restart.sh at %s ---\n' "$(date -u +%FT%TZ)" >>"$server_log"
  log_lines=$((log_lines + 2))
  # The recorded command was written by up.sh's start with printf %q, so eval restores its words.
  local cmd
  cmd=$(cat "$cmdfile")
  eval "setsid $cmd >>\"\$server_log\" 2>&1 </dev/null &"
  echo $! >"$pidfile"
  wait_ready "$log_lines" || { tail -n 20 "$server_log" >&2; die "$name did not come back"; }
}

case "$action" in
  stop) stop_server ;;
  start) start_server ;;
  restart) stop_server; start_server ;;
esac
