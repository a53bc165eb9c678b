#!/usr/bin/env bash
# Registers the runbooks' search attributes on a Temporal server that was not started by this stack
# (production, a shared dev cluster). Uses the temporal CLI and its usual environment:
# TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TLS settings or a --profile.
# Attributes that already exist with the same type are left alone.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/stack/lib.sh"
temporal=${TEMPORAL_CLI:-$(temporal_bin)}
existing=$("$temporal" operator search-attribute list "$@" 2>/dev/null || true)
for sa in $SEARCH_ATTRIBUTES; do
  name=${sa%%=*}
  type=${sa#*=}
  if grep -qw "$name" <<<"$existing"; then
    echo "search attribute $name already exists"
  else
    "$temporal" operator search-attribute create --name "$name" --type "$type" "$@"
    echo "created search attribute $name ($type)"
  fi
done
