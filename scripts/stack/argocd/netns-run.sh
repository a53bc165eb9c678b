#!/usr/bin/env bash
# Runs a command in a network namespace of its own, whose only interface is loopback, for servers
# that listen on every interface with no flag to say otherwise. Inside, each <out port> on 127.0.0.1
# reaches the same port on the host's loopback, and the command's <in port> is reachable from the
# host at <bridge dir>/<in port>.sock; socat forwards both through Unix sockets in <bridge dir>.
# Usage: netns-run.sh <bridge dir> <out port>[,<out port>...] <in port> -- <command...>
set -euo pipefail
bridge=$1 out=$2 in=$3
shift 4
if [ -z "${VCP_IN_NETNS:-}" ]; then
  mkdir -p "$bridge"
  for port in ${out//,/ }; do socat "UNIX-LISTEN:$bridge/$port.sock,fork,unlink-early" "TCP:127.0.0.1:$port" & done
  VCP_IN_NETNS=1 exec unshare --net "$0" "$bridge" "$out" "$in" -- "$@"
fi
ip link set lo up
for port in ${out//,/ }; do socat "TCP-LISTEN:$port,bind=127.0.0.1,fork,reuseaddr" "UNIX-CONNECT:$bridge/$port.sock" & done
socat "UNIX-LISTEN:$bridge/$in.sock,fork,unlink-early" "TCP:127.0.0.1:$in" &
exec "$@"
