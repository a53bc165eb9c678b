#!/usr/bin/env bash
# Stops every server of one profile's stack: SIGTERM to each process group, SIGKILL after a grace period.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[ -d "$STATE_DIR" ] || { log "no stack state in $STATE_DIR"; exit 0; }
shopt -s nullglob
# Clients before servers, the API server before its storage, so nothing logs a storm of errors.
order="worker platform-sim provider-aws crossplane argocd-application-controller argocd-repo-server redis kwok kube-scheduler kube-controller-manager kube-apiserver kine temporal moto dynalite"
pidfiles=()
for name in $order; do [ -f "$STATE_DIR/$name.pid" ] && pidfiles+=("$STATE_DIR/$name.pid"); done
for pidfile in "$STATE_DIR"/*.pid; do [[ " ${pidfiles[*]} " == *" $pidfile "* ]] || pidfiles+=("$pidfile"); done
for pidfile in "${pidfiles[@]}"; do
  if pid_alive "$pidfile"; then
    # Servers were started with setsid, so the pid is also the process group.
    kill -TERM -- "-$(cat "$pidfile")" 2>/dev/null || kill -TERM "$(cat "$pidfile")" 2>/dev/null || true
  fi
done
deadline=$((SECONDS + 20))
for pidfile in "${pidfiles[@]}"; do
  while pid_alive "$pidfile" && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.2; done
  if pid_alive "$pidfile"; then
    log "$(basename "$pidfile" .pid) did not stop in time; killing it"
    kill -KILL -- "-$(cat "$pidfile")" 2>/dev/null || true
  fi
  rm -f "$pidfile"
done
log "stack stopped"
