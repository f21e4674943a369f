#!/usr/bin/env bash
# Set up the throwaway Gerrit started by start.sh through its own REST API,
# as admin (the dev site's admin has the auth token "secret").
#
#   ENV=$(e2e/gerrit/start.sh) && e2e/gerrit/setup.sh "$ENV" && . "$ENV"
#
# Creates (idempotently; a second run changes nothing that exists):
#   accounts  gate (Service Users; HTTP password + SSH key), alice, bob, carol,
#             pusher (SSH key); every HTTP password is "<name>-secret"
#   groups    sre (visible to all; member alice; includes sre-leads),
#             sre-leads (member bob), pushers (member pusher),
#             gate-group-owners (member gate), deployers (visible to all;
#             member alice; owned by gate-group-owners; includes pushers,
#             which the gate account cannot see: owning deployers lets it
#             see that pushers is included, not pushers itself)
#   label     Verified -1..+1 on All-Projects with a submit requirement
#   access    All-Projects refs/heads/*: Registered Users may vote
#             Code-Review -2..+2 and Verified -1..+1 and submit; pushers may
#             push, push merges, create branches, forge author and committer
#   projects  platform/fleet (inherits MERGE_IF_NECESSARY), platform/ff
#             (FAST_FORWARD_ONLY), platform/merge (MERGE_IF_NECESSARY),
#             platform/rebase (REBASE_ALWAYS), platform/cherry (CHERRY_PICK),
#             each with a branch main (HEAD) holding an initial empty commit
# and appends to the env file GERRIT_GATE_USER, GERRIT_GATE_PASSWORD,
# GERRIT_GATE_SSH_KEY, GERRIT_ADMIN_SSH_KEY, GERRIT_PUSHER_SSH_KEY,
# GERRIT_SRE_GROUP_UUID, GERRIT_PROJECTS.
set -euo pipefail

log() { printf 'gerrit/setup: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

ENV=${1:-${GERRIT_ENV_FILE:-${TMPDIR:-/tmp}/gerritgate-gerrit-${GERRIT_HTTP_PORT:-18080}.env}}
[ -f "$ENV" ] || die "no env file $ENV: run e2e/gerrit/start.sh first"
# shellcheck disable=SC1090
. "$ENV"
ENV=$GERRIT_ENV_FILE   # the site's own file, also when given the state file
for t in curl jq ssh-keygen; do
  command -v "$t" >/dev/null || die "$t is required but not on PATH"
done
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"

curl -fsS -m 10 -o /dev/null "$GERRIT_URL/config/server/version" ||
  die "Gerrit does not answer at $GERRIT_URL"

# --- SSH keys -----------------------------------------------------------------
KEYS=$GERRIT_SITE/keys
mkdir -p "$KEYS"
chmod 700 "$KEYS"
for who in admin gate pusher; do
  [ -f "$KEYS/$who" ] ||
    ssh-keygen -q -t ed25519 -N '' -C "$who@example.com" -f "$KEYS/$who"
done
has_key() { # account keyfile
  api GET "/accounts/$1/sshkeys" | jq -e --arg k "$(cut -d' ' -f2 "$2")" \
    'any(.[]; .encoded_key == $k)' >/dev/null
}
if ! has_key self "$KEYS/admin.pub"; then
  api_raw POST /accounts/self/sshkeys text/plain "$(cat "$KEYS/admin.pub")" >/dev/null
fi

# --- accounts -----------------------------------------------------------------
account() { # username "Full Name" [group] [keyfile]
  local user=$1 name=$2 group=${3:-} key=${4:-}
  if api_status GET "/accounts/$user" >/dev/null; then
    log "account $user exists"
    # Make sure "<user>-secret" works. 3.13 keeps HTTP passwords as auth
    # tokens (PUT password.http adds a token "default" once, then 400s).
    if ! GERRIT_AS=$user GERRIT_AS_PASSWORD=$user-secret api_status GET /accounts/self >/dev/null; then
      api_status DELETE "/accounts/$user/tokens/e2e" >/dev/null || true
      jq -n --arg p "$user-secret" '{token: $p}' | api PUT "/accounts/$user/tokens/e2e" >/dev/null
      log "account $user: token e2e set"
    fi
  else
    jq -n --arg u "$user" --arg n "$name" --arg p "$user-secret" --arg g "$group" \
          --arg k "$(if [ -n "$key" ]; then cat "$key"; fi)" \
      '{username: $u, name: $n, email: ($u + "@example.com"), http_password: $p}
       + (if $g != "" then {groups: [$g]} else {} end)
       + (if $k != "" then {ssh_key: $k} else {} end)' |
      api PUT "/accounts/$user" >/dev/null
    log "account $user created"
  fi
}
account gate "Gate Bot" "Service Users" "$KEYS/gate.pub"
account alice "Alice Reviewer"
account bob "Bob Reviewer"
account carol "Carol Reviewer"
account pusher "Pusher Direct" "" "$KEYS/pusher.pub"

# --- groups -------------------------------------------------------------------
group() { # name visible_to_all members...
  # Members are given at creation: without them Gerrit adds the caller
  # (admin) as the only member.
  local name=$1 vis=$2
  shift 2
  if ! api_status GET "/groups/$name" >/dev/null; then
    printf '%s\n' "$@" | jq -R . | jq -s --argjson v "$vis" '{visible_to_all: $v, members: .}' |
      api PUT "/groups/$name" >/dev/null
    log "group $name created"
  else
    printf '%s\n' "$@" | jq -R . | jq -s '{members: .}' |
      api POST "/groups/$name/members.add" >/dev/null
  fi
}
group sre-leads true bob
group sre true alice
api PUT "/groups/sre/groups/sre-leads" </dev/null >/dev/null
group pushers false pusher
SRE_UUID=$(api GET /groups/sre | jq -r .id)
PUSHERS_UUID=$(api GET /groups/pushers | jq -r .id)
group gate-group-owners false gate
group deployers true alice
jq -n '{owner: "gate-group-owners"}' | api PUT "/groups/deployers/owner" >/dev/null
api PUT "/groups/deployers/groups/pushers" </dev/null >/dev/null

# --- Verified label and its submit requirement on All-Projects -----------------
if ! api_status GET /projects/All-Projects/labels/Verified >/dev/null; then
  api PUT /projects/All-Projects/labels/Verified >/dev/null <<'EOF'
{"commit_message": "Add Verified label",
 "values": {"-1": "Fails", " 0": "No score", "+1": "Verified"},
 "function": "NoBlock", "default_value": 0}
EOF
  api PUT /projects/All-Projects/submit_requirements/Verified >/dev/null <<'EOF'
{"name": "Verified",
 "description": "Needs a Verified+1 and no Verified-1.",
 "submittability_expression": "label:Verified=MAX AND -label:Verified=MIN",
 "allow_override_in_child_projects": false}
EOF
  log "label Verified created"
fi

# --- access on All-Projects -----------------------------------------------------
# Adding a rule that exists is a no-op, so this is safe to repeat.
jq -n --arg reg global:Registered-Users --arg push "$PUSHERS_UUID" '
  def allow($g): {($g): {action: "ALLOW"}};
  def vote($g; $min; $max): {($g): {action: "ALLOW", min: $min, max: $max}};
  {message: "gerritgate e2e access",
   add: {"refs/heads/*": {permissions: {
     "label-Code-Review": {label: "Code-Review", rules: vote($reg; -2; 2)},
     "label-Verified":    {label: "Verified", rules: vote($reg; -1; 1)},
     submit:         {rules: allow($reg)},
     push:           {rules: allow($push)},
     pushMerge:      {rules: allow($push)},
     create:         {rules: allow($push)},
     forgeAuthor:    {rules: allow($push)},
     forgeCommitter: {rules: allow($push)}}}}}' |
  api POST /projects/All-Projects/access >/dev/null
log "access rules on All-Projects set"

# --- projects -------------------------------------------------------------------
project() { # name submit_type|INHERIT
  local name=$1 st=$2 enc
  enc=$(urlenc "$name")
  if api_status GET "/projects/$enc" >/dev/null; then
    log "project $name exists"
    return
  fi
  jq -n --arg st "$st" '{create_empty_commit: true, branches: ["main"],
      description: "gerritgate e2e"} + (if $st != "INHERIT" then {submit_type: $st} else {} end)' |
    api PUT "/projects/$enc" >/dev/null
  log "project $name created ($st)"
}
project platform/fleet INHERIT
project platform/ff FAST_FORWARD_ONLY
project platform/merge MERGE_IF_NECESSARY
project platform/rebase REBASE_ALWAYS
project platform/cherry CHERRY_PICK

# --- env ------------------------------------------------------------------------
tmp=$(mktemp)
sed '/^# setup.sh >>>/,/^# setup.sh <<</d' "$ENV" >"$tmp"
{
  echo "# setup.sh >>>"
  echo "export GERRIT_GATE_USER='gate'"
  echo "export GERRIT_GATE_PASSWORD='gate-secret'"
  echo "export GERRIT_GATE_SSH_KEY='$KEYS/gate'"
  echo "export GERRIT_ADMIN_SSH_KEY='$KEYS/admin'"
  echo "export GERRIT_PUSHER_SSH_KEY='$KEYS/pusher'"
  echo "export GERRIT_SRE_GROUP_UUID='$SRE_UUID'"
  echo "export GERRIT_PROJECTS='platform/fleet platform/ff platform/merge platform/rebase platform/cherry'"
  echo "# setup.sh <<<"
} >>"$tmp"
cat "$tmp" >"$ENV"
rm -f "$tmp"
state=${TMPDIR:-/tmp}/gerritgate-gerrit-$GERRIT_HTTP_PORT.env
if [ "$state" != "$ENV" ] && [ -f "$state" ] && grep -qF "GERRIT_SITE='$GERRIT_SITE'" "$state"; then
  cp "$ENV" "$state"
fi
log "done; . $ENV"
