#!/usr/bin/env bash
# Start a real, throwaway Gerrit on loopback for end-to-end tests.
#
# Prints the path of an env file (and nothing else on stdout); `. "$that"`
# exports GERRIT_URL, GERRIT_SSH, GERRIT_SITE, GERRIT_PID, ... (see
# e2e/gerrit/README.md). Idempotent: if a Gerrit started by this script is
# already answering on GERRIT_HTTP_PORT, it prints that one's env file.
#
# Where Gerrit comes from: com.google.gerrit:gerrit-war is not served by the
# Maven Central this project reaches (404 for every version, no
# maven-metadata.xml). Gerrit also publishes two fat jars there that together
# hold the whole server minus the web UI: gerrit-plugin-api (server, JGit,
# Lucene, SSHD, ...) and gerrit-acceptance-framework (pgm.Init, pgm.Daemon,
# Jetty, H2, ...). Plus Bouncy Castle, which the war ships separately. We run
# com.google.gerrit.launcher.GerritLauncher from that class path. Set
# GERRIT_WAR=/path/to/gerrit.war to run a real war instead.
#
# Env (all optional):
#   GERRIT_HTTP_PORT   (18080)   GERRIT_SSH_PORT (29419)
#   GERRIT_VERSION     (3.13.5)  GERRIT_BC_VERSION (1.80)
#   GERRIT_CACHE_DIR   (${XDG_CACHE_HOME:-$HOME/.cache}/gerritgate/gerrit)
#   GERRIT_SITE_DIR    (a new mktemp -d dir; must be absent or empty)
#   GERRIT_HEAP        (768m)
#   GERRIT_JAVA_HOME   (first JDK >= 21 found: $JAVA_HOME, /usr/lib/jvm/*)
#   GERRIT_START_TIMEOUT seconds (180)
#   GERRIT_WAR         (unset: use the jars above)
set -euo pipefail

log() { printf 'gerrit/start: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

HTTP_PORT=${GERRIT_HTTP_PORT:-18080}
SSH_PORT=${GERRIT_SSH_PORT:-29419}
VERSION=${GERRIT_VERSION:-3.13.5}
BC_VERSION=${GERRIT_BC_VERSION:-1.80}
CACHE=${GERRIT_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/gerritgate/gerrit}
HEAP=${GERRIT_HEAP:-768m}
TIMEOUT=${GERRIT_START_TIMEOUT:-180}
STATE=${TMPDIR:-/tmp}/gerritgate-gerrit-$HTTP_PORT.env
URL=http://127.0.0.1:$HTTP_PORT

for t in curl git mvn; do
  command -v "$t" >/dev/null || die "$t is required but not on PATH"
done
case $HTTP_PORT$SSH_PORT in *[!0-9]*) die "ports must be numbers";; esac

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# --- already running? ---------------------------------------------------------
if [ -f "$STATE" ]; then
  old_pid=$(sed -n "s/^export GERRIT_PID='\(.*\)'$/\1/p" "$STATE")
  old_env=$(sed -n "s/^export GERRIT_ENV_FILE='\(.*\)'$/\1/p" "$STATE")
  if [ -n "$old_pid" ] && kill -0 "$old_pid" 2>/dev/null &&
     curl -fsS -m 5 "$URL/config/server/version" >/dev/null 2>&1 &&
     [ -f "$old_env" ]; then
    log "already running (pid $old_pid) at $URL"
    printf '%s\n' "$old_env"
    exit 0
  fi
  log "stale state file $STATE: cleaning up"
  GERRIT_ENV_FILE=$STATE GERRIT_HTTP_PORT=$HTTP_PORT "$(dirname "$0")/stop.sh" >&2 || true
fi
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
if listening "$HTTP_PORT"; then
  die "something already listens on 127.0.0.1:$HTTP_PORT (not started by this script); set GERRIT_HTTP_PORT"
fi
if listening "$SSH_PORT"; then
  die "something already listens on 127.0.0.1:$SSH_PORT; set GERRIT_SSH_PORT"
fi

# --- Java ---------------------------------------------------------------------
java_major() { # $1 = java binary; prints the feature version or nothing
  "$1" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n1
}
need_java=21
case $VERSION in 3.[0-9].*|3.1[01].*) need_java=17;; esac
JAVA=
if [ -n "${GERRIT_JAVA_HOME:-}" ]; then
  v=$(java_major "$GERRIT_JAVA_HOME/bin/java" 2>/dev/null || true)
  if [ -z "$v" ] || [ "$v" -lt "$need_java" ]; then
    die "GERRIT_JAVA_HOME=$GERRIT_JAVA_HOME is not a JDK >= $need_java"
  fi
fi
for home in ${GERRIT_JAVA_HOME:-} ${JAVA_HOME:-} /usr/lib/jvm/temurin-25-jdk-amd64 /usr/lib/jvm/*; do
  [ -x "$home/bin/java" ] || continue
  v=$(java_major "$home/bin/java")
  if [ -n "$v" ] && [ "$v" -ge "$need_java" ]; then JAVA=$home/bin/java; break; fi
done
[ -n "$JAVA" ] || die "Gerrit $VERSION needs Java >= $need_java; none found (set GERRIT_JAVA_HOME)"
log "java: $JAVA ($(java_major "$JAVA"))"

# --- download (cached) --------------------------------------------------------
mkdir -p "$CACHE"
fetch() { # group:artifact:version:type -> path of the cached file
  local coord=$1 a v t file
  IFS=: read -r _ a v t <<<"$coord"
  file=$CACHE/$a-$v.$t
  if [ ! -s "$file" ]; then
    log "downloading $coord"
    local tmp
    tmp=$(mktemp -d "$CACHE/.dl.XXXXXX")
    if ! mvn -q -B dependency:copy -Dartifact="$coord" -DoutputDirectory="$tmp" >"$tmp/mvn.log" 2>&1; then
      tail -n 20 "$tmp/mvn.log" >&2
      rm -rf "$tmp"
      die "could not fetch $coord from Maven Central"
    fi
    mv "$tmp/$a-$v.$t" "$file"
    rm -rf "$tmp"
  fi
  printf '%s\n' "$file"
}

t0=$(now)
if [ -n "${GERRIT_WAR:-}" ]; then
  [ -f "$GERRIT_WAR" ] || die "GERRIT_WAR=$GERRIT_WAR is not a file"
  LAUNCH=(-jar "$GERRIT_WAR")
else
  cp=
  for coord in \
      "com.google.gerrit:gerrit-plugin-api:$VERSION:jar" \
      "com.google.gerrit:gerrit-acceptance-framework:$VERSION:jar" \
      "org.bouncycastle:bcprov-jdk18on:$BC_VERSION:jar" \
      "org.bouncycastle:bcpkix-jdk18on:$BC_VERSION:jar" \
      "org.bouncycastle:bcpg-jdk18on:$BC_VERSION:jar"; do
    cp=$cp:$(fetch "$coord")
  done
  # Gerrit reads its version from the class path resource
  # com/google/gerrit/common/Version, which only the war has; without it
  # /config/server/version answers "(dev)".
  vdir=$CACHE/version-$VERSION
  if [ ! -s "$vdir/com/google/gerrit/common/Version" ]; then
    mkdir -p "$vdir/com/google/gerrit/common"
    printf 'v%s\n' "$VERSION" >"$vdir/com/google/gerrit/common/Version"
  fi
  LAUNCH=(-cp "$vdir$cp" com.google.gerrit.launcher.GerritLauncher)
fi
log "artifacts ready in $(since "$t0")s ($CACHE)"

# --- site ---------------------------------------------------------------------
if [ -n "${GERRIT_SITE_DIR:-}" ]; then
  SITE=$GERRIT_SITE_DIR
  [ ! -e "$SITE" ] || [ -z "$(ls -A "$SITE")" ] || die "GERRIT_SITE_DIR=$SITE exists and is not empty"
  mkdir -p "$SITE"
else
  SITE=$(mktemp -d "${TMPDIR:-/tmp}/gerritgate-gerrit.XXXXXX")
fi
SITE=$(cd "$SITE" && pwd -P)
PID=
cleanup_on_error() {
  rc=$?
  if [ "$rc" -ne 0 ]; then
    if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then kill "$PID" 2>/dev/null || true; fi
    if [ -z "${GERRIT_KEEP_SITE:-}" ]; then
      rm -rf "$SITE"
    else
      log "site kept at $SITE"
    fi
    rm -f "$STATE"
  fi
}
trap cleanup_on_error EXIT

# A private, empty home: JGit reads ~/.gitconfig, and init gives admin the key
# in ~/.ssh/id_rsa.pub if there is one. It must not be inside the site before
# init: init creates the admin account only in an empty site directory.
JOPTS=(-Xmx"$HEAP" -XX:+UseSerialGC -Djava.awt.headless=true)
init_home=$(mktemp -d "${TMPDIR:-/tmp}/gerritgate-gerrit-home.XXXXXX")

t0=$(now)
if ! "$JAVA" -Duser.home="$init_home" "${JOPTS[@]}" "${LAUNCH[@]}" init --batch --dev \
     --no-auto-start -d "$SITE" </dev/null >"$init_home/init.log" 2>&1; then
  grep -v '^WARNING' "$init_home/init.log" | tail -n 40 >&2
  rm -rf "$init_home"
  die "gerrit init failed (log above)"
fi
mv "$init_home/init.log" "$SITE/init.log"
rm -rf "$init_home"
mkdir -p "$SITE/home"
JOPTS+=(-Duser.home="$SITE/home")
INIT_S=$(since "$t0")
log "init done in ${INIT_S}s: $SITE"

cfg() { git config -f "$SITE/etc/gerrit.config" "$@"; }
cfg gerrit.canonicalWebUrl "$URL/"
cfg httpd.listenUrl "$URL/"
cfg sshd.listenAddress "127.0.0.1:$SSH_PORT"
cfg container.heapLimit "$HEAP"
cfg container.javaHome "$(dirname "$(dirname "$JAVA")")"
cfg container.user "$(id -un)"
# Small and quiet on 2 cores.
cfg index.batchThreads 1
cfg sshd.threads 4
cfg sshd.batchThreads 1
cfg sshd.streamThreads 1
cfg httpd.maxThreads 16
cfg receive.enableSignedPush false
cfg receive.autogc false
cfg sendemail.enable false
cfg cache.directory cache
cfg change.mergeabilityComputationBehavior NEVER
cfg plugins.allowRemoteAdmin false
# No periodic jobs while tests run.
cfg --unset-all gc.startTime 2>/dev/null || true

t0=$(now)
# setsid: the daemon must outlive this script and its caller's job control.
setsid "$JAVA" "${JOPTS[@]}" "${LAUNCH[@]}" daemon -d "$SITE" --console-log \
  </dev/null >"$SITE/daemon.log" 2>&1 &  # not in logs/: Gerrit gzips files there
PID=$!
deadline=$(( $(date +%s) + TIMEOUT ))
until curl -fsS -m 2 -o /dev/null "$URL/config/server/version" 2>/dev/null; do
  if ! kill -0 "$PID" 2>/dev/null; then
    grep -v '^WARNING' "$SITE/daemon.log" | tail -n 40 >&2
    die "gerrit daemon exited before answering (log above; GERRIT_KEEP_SITE=1 keeps $SITE)"
  fi
  if [ "$(date +%s)" -ge "$deadline" ]; then
    grep -v '^WARNING' "$SITE/daemon.log" | tail -n 40 >&2
    die "gerrit did not answer $URL/config/server/version within ${TIMEOUT}s (log above; GERRIT_KEEP_SITE=1 keeps $SITE)"
  fi
  sleep 0.5
done
START_S=$(since "$t0")
served=$(curl -fsS -m 5 "$URL/config/server/version" | tail -n 1 | tr -d '"')
curl -fsS -m 10 -o /dev/null -u admin:secret "$URL/a/accounts/self" ||
  die "admin:secret is refused: init did not create the admin account ($SITE/init.log)"
log "gerrit $served up in ${START_S}s at $URL (ssh 127.0.0.1:$SSH_PORT, pid $PID)"

ENV=$SITE/gerritgate.env
q() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }
{
  echo "# written by e2e/gerrit/start.sh; source it: . $ENV"
  echo "export GERRIT_URL=$(q "$URL")"
  echo "export GERRIT_HTTP_PORT=$(q "$HTTP_PORT")"
  echo "export GERRIT_SSH=$(q "ssh://127.0.0.1:$SSH_PORT")"
  echo "export GERRIT_SSH_HOST='127.0.0.1'"
  echo "export GERRIT_SSH_PORT=$(q "$SSH_PORT")"
  echo "export GERRIT_SITE=$(q "$SITE")"
  echo "export GERRIT_PID=$(q "$PID")"
  echo "export GERRIT_VERSION=$(q "$served")"
  echo "export GERRIT_JAVA=$(q "$JAVA")"
  echo "export GERRIT_ADMIN_USER='admin'"
  echo "export GERRIT_ADMIN_PASSWORD='secret'"
  echo "export GERRIT_ENV_FILE=$(q "$ENV")"
} >"$ENV"
cp "$ENV" "$STATE"
trap - EXIT
printf '%s\n' "$ENV"
