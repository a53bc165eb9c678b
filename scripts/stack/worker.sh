#!/usr/bin/env bash
# Starts the runbook worker in the background against this profile's stack (stopped by down.sh).
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
[ -f "$ENV_FILE" ] || die "no $ENV_FILE: start the stack first (make stack-up)"
if pid_alive "$STATE_DIR/worker.pid"; then
  log "worker already running (pid $(cat "$STATE_DIR/worker.pid")); restarting it to pick up code changes"
  kill -TERM -- "-$(cat "$STATE_DIR/worker.pid")" 2>/dev/null || true
  while pid_alive "$STATE_DIR/worker.pid"; do sleep 0.2; done
fi
set -a
# shellcheck disable=SC1090
. "$ENV_FILE"
set +a
# The approvers keyring, when the stack has one (make demo writes it).
[ -f "$STATE_DIR/approvers.json" ] && export VCP_APPROVERS_FILE="$STATE_DIR/approvers.json"
cd "$PROJECT_DIR"
setsid node_modules/.bin/tsx worker/main.ts >"$STATE_DIR/logs/worker.log" 2>&1 </dev/null &
echo $! >"$STATE_DIR/worker.pid"
wait_until 60 "worker (metrics http://$VCP_METRICS_ADDRESS/metrics)" curl -sf "http://$VCP_METRICS_ADDRESS/metrics" ||
  { tail -n 30 "$STATE_DIR/logs/worker.log" >&2; die "worker did not start"; }
