#!/usr/bin/env bash
# Stops every server of one profile's stack: SIGTERM to each process group, SIGKILL after a grace period.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[ -d "$STATE_DIR" ] || { log "no stack state in $STATE_DIR"; exit 0; }
shopt -s nullglob
pidfiles=("$STATE_DIR"/*.pid)
for pidfile in "${pidfiles[@]}"; do
  if pid_alive "$pidfile"; then
    # Servers were started with setsid, so the pid is also the process group.
    kill -TERM -- "-$(cat "$pidfile")" 2>/dev/null || kill -TERM "$(cat "$pidfile")" 2>/dev/null || true
  fi
done
deadline=$((SECONDS + 15))
for pidfile in "${pidfiles[@]}"; do
  while pid_alive "$pidfile" && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.2; done
  if pid_alive "$pidfile"; then
    log "$(basename "$pidfile" .pid) did not stop in time; killing it"
    kill -KILL -- "-$(cat "$pidfile")" 2>/dev/null || true
  fi
  rm -f "$pidfile"
done
log "stack stopped"
