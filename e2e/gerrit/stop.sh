#!/usr/bin/env bash
# Stop the Gerrit started by e2e/gerrit/start.sh and remove its site.
#
# Finds it through GERRIT_ENV_FILE, else the state file of GERRIT_HTTP_PORT
# (default 18080). Exits 0 when nothing is running. GERRIT_KEEP_SITE=1 keeps
# the site directory (logs) after stopping.
set -euo pipefail

log() { printf 'gerrit/stop: %s\n' "$*" >&2; }

HTTP_PORT=${GERRIT_HTTP_PORT:-18080}
STATE=${TMPDIR:-/tmp}/gerritgate-gerrit-$HTTP_PORT.env
ENV=${GERRIT_ENV_FILE:-$STATE}

if [ ! -f "$ENV" ]; then
  log "nothing to stop (no $ENV)"
  exit 0
fi
val() { sed -n "s/^export $1='\(.*\)'$/\1/p" "$ENV" | head -n1; }
PID=$(val GERRIT_PID)
SITE=$(val GERRIT_SITE)
[ -n "$SITE" ] || { log "no GERRIT_SITE in $ENV"; exit 1; }

# Only signal the process if it is our Gerrit daemon for this site.
ours() {
  [ -n "$PID" ] && [ -r "/proc/$PID/cmdline" ] &&
    tr '\0' ' ' <"/proc/$PID/cmdline" | grep -q -- "daemon -d $SITE"
}
if ours; then
  log "stopping pid $PID"
  kill "$PID" 2>/dev/null || true
  for _ in $(seq 1 60); do
    kill -0 "$PID" 2>/dev/null || break
    sleep 0.5
  done
  if kill -0 "$PID" 2>/dev/null; then
    log "pid $PID still alive after 30s: SIGKILL"
    kill -9 "$PID" 2>/dev/null || true
    sleep 1
  fi
else
  log "pid ${PID:-?} is not running (or not our daemon)"
fi

if [ -n "${GERRIT_KEEP_SITE:-}" ]; then
  log "site kept at $SITE"
elif [ -f "$SITE/gerritgate.env" ] && [ -f "$SITE/etc/gerrit.config" ]; then
  rm -rf "$SITE"
  log "removed $SITE"
else
  log "not removing $SITE: does not look like a site made by start.sh"
fi
# Remove the state file if it points at this site.
if [ -f "$STATE" ] && grep -qF "GERRIT_SITE='$SITE'" "$STATE"; then
  rm -f "$STATE"
fi
