#!/usr/bin/env bash
# Run the e2e suite against a real Gerrit: start a throwaway Gerrit
# (start.sh), set it up (setup.sh), run the TestRealGerrit* tests (build tag
# realgerrit) with GERRITGATE_GERRIT_ENV pointing at it, and always stop it
# again. Exits with the tests' status; prints how long each step took.
#
#   bash e2e/gerrit/ci.sh [go test flags...]    # e.g. -run RealGerritPaging
#
# Needs no stdin and nothing but loopback and Maven Central (start.sh fetches
# Gerrit's jars once into its cache). It always starts its own Gerrit: when
# GERRIT_HTTP_PORT / GERRIT_SSH_PORT are not set it takes the first free
# ports from 18080 / 29419 up, so a Gerrit someone else runs on this machine
# is neither reused nor stopped. Other start.sh settings (GERRIT_CACHE_DIR,
# GERRIT_KEEP_SITE, ...) pass through.
set -euo pipefail

log() { printf 'gerrit/ci: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 2; }

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
for t in go git curl jq mvn ssh-keygen; do
  command -v "$t" >/dev/null || die "$t is required but not on PATH"
done

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
T0=$(now)
TIMES=()
timed() { TIMES+=("$(printf '%-8s %6ss' "$1" "$2")"); }

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() { # first port from $1 up with no listener and no start.sh state file
  local p=$1
  while listening "$p" || [ -e "${TMPDIR:-/tmp}/gerritgate-gerrit-$p.env" ]; do
    p=$((p + 1))
    [ "$p" -lt $(($1 + 100)) ] || die "no free port in $1..$((p - 1))"
  done
  printf '%s\n' "$p"
}
if [ -z "${GERRIT_HTTP_PORT:-}" ]; then
  GERRIT_HTTP_PORT=$(free_port 18080)
elif [ -e "${TMPDIR:-/tmp}/gerritgate-gerrit-$GERRIT_HTTP_PORT.env" ]; then
  die "a Gerrit from start.sh may already run on $GERRIT_HTTP_PORT; ci.sh starts its own (unset GERRIT_HTTP_PORT)"
fi
if [ -z "${GERRIT_SSH_PORT:-}" ]; then
  GERRIT_SSH_PORT=$(free_port 29419)
  [ "$GERRIT_SSH_PORT" != "$GERRIT_HTTP_PORT" ] || GERRIT_SSH_PORT=$(free_port $((GERRIT_SSH_PORT + 1)))
fi
export GERRIT_HTTP_PORT GERRIT_SSH_PORT

ENV=
RC=
finish() {
  local rc=$? t
  [ -z "$RC" ] || rc=$RC
  if [ -n "$ENV" ]; then
    if [ "$rc" -ne 0 ] && [ -f "$ENV" ]; then
      # shellcheck disable=SC1090
      site=$(. "$ENV" && printf '%s' "$GERRIT_SITE")
      log "last lines of Gerrit's log ($site/daemon.log):"
      grep -v '^WARNING' "$site/daemon.log" 2>/dev/null | tail -n 30 >&2 || true
    fi
    t=$(now)
    GERRIT_ENV_FILE=$ENV "$HERE/stop.sh" </dev/null || log "stop.sh failed"
    timed stop "$(since "$t")"
  fi
  timed total "$(since "$T0")"
  log "timings:"
  printf '  %s\n' "${TIMES[@]}" >&2
  log "exit $rc"
  exit "$rc"
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

t=$(now)
log "starting Gerrit on 127.0.0.1:$GERRIT_HTTP_PORT (ssh $GERRIT_SSH_PORT)"
ENV=$("$HERE/start.sh" </dev/null)
timed start "$(since "$t")"

t=$(now)
"$HERE/setup.sh" "$ENV" </dev/null
timed setup "$(since "$t")"

t=$(now)
log "go test -tags realgerrit -count=1 -run RealGerrit ./e2e/ -v $*"
set +e
(cd "$ROOT" && GERRITGATE_GERRIT_ENV=$ENV go test -tags realgerrit -count=1 -run RealGerrit ./e2e/ -v "$@" </dev/null)
RC=$?
set -e
timed tests "$(since "$t")"
