#!/usr/bin/env bash
# Record contract fixtures from a real Gerrit:
#   e2e/gerrit/testdata/contract/*.json
#
#   e2e/gerrit/record.sh            # starts a fresh Gerrit, sets it up,
#                                   # records, stops it (about a minute)
#   e2e/gerrit/record.sh ENV_FILE   # use a running, set-up Gerrit (setup.sh)
#
# Env: RECORD_OUT (default e2e/gerrit/testdata/contract), GERRIT_HTTP_PORT...
# Each scenario makes new changes, so it also works on a used server; run it
# on a fresh one for fixtures whose change numbers are small and stable.
# Bodies are stored with the ")]}'" line stripped and pretty-printed by jq;
# dates, SHAs and ids are left as the server sent them.
set -euo pipefail

log() { printf 'gerrit/record: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${RECORD_OUT:-$HERE/testdata/contract}
for t in curl jq git ssh; do
  command -v "$t" >/dev/null || die "$t is required but not on PATH"
done

OWN_SERVER=
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gerritgate-record.XXXXXX")
EVENTS_PID=
cleanup() {
  if [ -n "$EVENTS_PID" ]; then kill "$EVENTS_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
  if [ -n "$OWN_SERVER" ]; then "$HERE/stop.sh" || true; fi
}
trap cleanup EXIT

if [ $# -ge 1 ]; then
  ENV=$1
else
  OWN_SERVER=1
  ENV=$("$HERE/start.sh")
  "$HERE/setup.sh" "$ENV"
fi
# shellcheck disable=SC1090
. "$ENV"
# shellcheck source=lib.sh
. "$HERE/lib.sh"
[ -n "${GERRIT_GATE_USER:-}" ] || die "$ENV has no GERRIT_GATE_USER: run setup.sh first"
mkdir -p "$OUT"

OPTS='o=LABELS&o=DETAILED_LABELS&o=SUBMIT_REQUIREMENTS&o=ALL_REVISIONS&o=DETAILED_ACCOUNTS&o=MESSAGES&o=CURRENT_REVISION&o=CURRENT_COMMIT&o=ALL_COMMITS'
INDEX=$WORK/index.jsonl

# as USER cmd...: run a lib.sh call as USER (password USER-secret).
as() {
  local u=$1 p=$1-secret
  shift
  [ "$u" != admin ] || p=$GERRIT_ADMIN_PASSWORD
  GERRIT_AS=$u GERRIT_AS_PASSWORD=$p "$@"
}

# save NAME REQUEST_PATH NOTE: GET as gate, pretty-print into NAME.json.
save() {
  local name=$1 path=$2 note=$3
  as gate api GET "$path" | jq . >"$OUT/$name.json"
  jq -cn --arg f "$name.json" --arg r "GET /a$path" --arg u gate --arg n "$note" \
    '{file: $f, request: $r, as: $u, status: 200, note: $n}' >>"$INDEX"
  log "recorded $name.json"
}

# save_error NAME REQUEST_PATH NOTE: a non-2xx answer, kept verbatim as JSON
# {status, content_type, body} since error bodies are plain text.
save_error() {
  local name=$1 path=$2 note=$3 body hdr status ctype
  body=$WORK/err.body
  hdr=$(curl -sS -m 30 -o "$body" -w '%{http_code} %{content_type}' \
    -u "gate:gate-secret" "$GERRIT_URL/a$path")
  status=${hdr%% *}
  ctype=${hdr#* }
  jq -n --arg r "GET /a$path" --argjson s "$status" --arg c "$ctype" \
    --rawfile b "$body" '{request: $r, status: $s, content_type: $c, body: $b}' \
    >"$OUT/$name.json"
  jq -cn --arg f "$name.json" --arg r "GET /a$path" --argjson s "$status" --arg n "$note" \
    '{file: $f, request: $r, as: "gate", status: $s, note: $n}' >>"$INDEX"
  log "recorded $name.json (HTTP $status)"
}

q() { jq -rn --arg s "$1" '$s|@uri'; }
by_commit() { # sha project branch -> query path with all options
  printf '/changes/?q=%s&%s' "$(q "commit:$1 project:$2 branch:$3")" "$OPTS"
}

# --- git helpers ------------------------------------------------------------------
# clone PROJECT USER -> dir
clone() {
  local p=$1 u=$2 d
  d=$WORK/$(printf '%s' "$p-$u" | tr '/' '_')
  if [ ! -d "$d" ]; then
    git clone -q "http://$u:$u-secret@127.0.0.1:$GERRIT_HTTP_PORT/a/$p" "$d"
    curl -fsS -m 30 -o "$d/.git/hooks/commit-msg" "$GERRIT_URL/tools/hooks/commit-msg"
    chmod +x "$d/.git/hooks/commit-msg"
    git -C "$d" config user.name "$u"
    git -C "$d" config user.email "$u@example.com"
  fi
  git -C "$d" fetch -q origin
  printf '%s\n' "$d"
}

# upload DIR FILE SUBJECT [BASE]: commit FILE on BASE (origin/main), push to
# refs/for/main; prints "NUMBER SHA".
upload() {
  local d=$1 f=$2 subject=$3 base=${4:-origin/main} sha num
  git -C "$d" fetch -q origin
  git -C "$d" checkout -q --detach "$base"
  printf '%s %s\n' "$subject" "$RANDOM" >"$d/$f"
  git -C "$d" add "$f"
  git -C "$d" commit -q -m "$subject"
  sha=$(git -C "$d" rev-parse HEAD)
  git -C "$d" push -q origin HEAD:refs/for/main 2>"$WORK/push.log" ||
    { cat "$WORK/push.log" >&2; die "push to refs/for/main failed"; }
  num=$(as gate api GET "/changes/?q=$(q "commit:$sha")" | jq -r '.[0]._number')
  printf '%s %s\n' "$num" "$sha"
}

cid() { printf '%s~%s' "$(q "$1")" "$2"; }  # project number -> change id

vote() { # user project number labels-json [message]
  jq -n --argjson l "$4" --arg m "${5:-}" '{labels: $l, notify: "NONE"} + (if $m != "" then {message: $m} else {} end)' |
    as "$1" api POST "/changes/$(cid "$2" "$3")/revisions/current/review" >/dev/null
}
approve() { # project number
  vote alice "$1" "$2" '{"Code-Review": 2}'
  vote bob "$1" "$2" '{"Verified": 1}'
}
submit() { # user project number
  as "$1" api POST "/changes/$(cid "$2" "$3")/submit" </dev/null >/dev/null
}
tip() { # project -> sha of refs/heads/main
  as gate api GET "/projects/$(q "$1")/branches/main" | jq -r .revision
}

# --- events (stream-events over SSH, as gate) ---------------------------------------
ssh -i "$GERRIT_GATE_SSH_KEY" -p "$GERRIT_SSH_PORT" -o BatchMode=yes \
  -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR \
  "gate@127.0.0.1" gerrit stream-events -s change-merged -s ref-updated \
  -s patchset-created -s comment-added </dev/null >"$WORK/events.jsonl" 2>"$WORK/events.err" &
EVENTS_PID=$!
sleep 2

# --- FAST_FORWARD_ONLY ------------------------------------------------------------
P=platform/ff
D=$(clone $P carol)
upload "$D" ff.txt "ff: add a file" >"$WORK/up"; read -r N SHA <"$WORK/up"
approve $P "$N"
submit bob $P "$N"
[ "$(tip $P)" = "$SHA" ] || die "$P: tip is not the approved patch set"
save change-fast-forward "$(by_commit "$SHA" $P main)" \
  "FAST_FORWARD_ONLY: the approved patch set is the branch tip; no new patch set"

# --- REBASE_ALWAYS ----------------------------------------------------------------
P=platform/rebase
D=$(clone $P carol)
base=$(git -C "$D" rev-parse origin/main)
upload "$D" one.txt "rebase: first" "$base" >"$WORK/up"; read -r N1 SHA1 <"$WORK/up"
upload "$D" two.txt "rebase: second" "$base" >"$WORK/up"; read -r N2 SHA2 <"$WORK/up"
approve $P "$N1"; approve $P "$N2"
submit bob $P "$N1"
submit bob $P "$N2"
T=$(tip $P)
save change-rebase-always "$(by_commit "$T" $P main)" \
  "REBASE_ALWAYS, queried by the merged SHA: submit made patch set 2 (uploader = submitter bob)"
save change-rebase-always-old-patchset "$(by_commit "$SHA2" $P main)" \
  "REBASE_ALWAYS, queried by patch set 1's SHA (the one reviewed): same change"
git -C "$D" fetch -q origin
save change-rebase-always-first "$(by_commit "$(git -C "$D" rev-parse origin/main~1)" $P main)" \
  "REBASE_ALWAYS on a change that could have fast-forwarded: still rewritten"

# --- CHERRY_PICK ------------------------------------------------------------------
P=platform/cherry
D=$(clone $P carol)
base=$(git -C "$D" rev-parse origin/main)
upload "$D" one.txt "cherry: first" "$base" >"$WORK/up"; read -r N1 SHA1 <"$WORK/up"
upload "$D" two.txt "cherry: second" "$base" >"$WORK/up"; read -r N2 SHA2 <"$WORK/up"
approve $P "$N1"; approve $P "$N2"
submit bob $P "$N1"
submit bob $P "$N2"
T=$(tip $P)
save change-cherry-pick "$(by_commit "$T" $P main)" \
  "CHERRY_PICK, queried by the merged SHA"
save change-cherry-pick-old-patchset "$(by_commit "$SHA2" $P main)" \
  "CHERRY_PICK, queried by patch set 1's SHA"

# --- MERGE_IF_NECESSARY -----------------------------------------------------------
P=platform/merge
D=$(clone $P carol)
base=$(git -C "$D" rev-parse origin/main)
upload "$D" one.txt "merge: first" "$base" >"$WORK/up"; read -r N1 SHA1 <"$WORK/up"
upload "$D" two.txt "merge: second" "$base" >"$WORK/up"; read -r N2 SHA2 <"$WORK/up"
approve $P "$N1"; approve $P "$N2"
submit bob $P "$N1"
[ "$(tip $P)" = "$SHA1" ] || die "$P: first change did not fast-forward"
submit bob $P "$N2"
T=$(tip $P)
git -C "$D" fetch -q origin
git -C "$D" log -1 --format='%H%nparents: %P%nauthor: %an <%ae>%ncommitter: %cn <%ce>%n%n%B' "$T" \
  >"$OUT/merge-commit.txt"
save change-merge-if-necessary "$(by_commit "$SHA2" $P main)" \
  "MERGE_IF_NECESSARY, non-fast-forward: the change's own SHA (second parent of the merge commit)"
save change-merge-commit-query "$(by_commit "$T" $P main)" \
  "MERGE_IF_NECESSARY: commit:<merge commit SHA> finds no change"
save change-merge-if-necessary-fast-forward "$(by_commit "$SHA1" $P main)" \
  "MERGE_IF_NECESSARY that could fast-forward: the patch set is the tip"

# --- merged by a direct push ------------------------------------------------------
P=platform/fleet
D=$(clone $P carol)
upload "$D" pushed.txt "fleet: merged by push" >"$WORK/up"; read -r N SHA <"$WORK/up"
vote alice $P "$N" '{"Code-Review": 1}'
# pusher amends the commit (same Change-Id, new SHA) and pushes it to the branch.
DP=$(clone $P pusher)
git -C "$DP" fetch -q origin "$SHA"
git -C "$DP" checkout -q --detach FETCH_HEAD
git -C "$DP" commit -q --amend --no-edit --reset-author
PSHA=$(git -C "$DP" rev-parse HEAD)
git -C "$DP" push -q origin HEAD:refs/heads/main 2>"$WORK/push.log" ||
  { cat "$WORK/push.log" >&2; die "direct push by pusher failed"; }
save change-merged-by-push "$(by_commit "$PSHA" $P main)" \
  "A commit carrying an open change's Change-Id pushed to refs/heads/main (new SHA): MERGED, new patch set by pusher, no approval"
# Same SHA pushed directly.
upload "$D" pushed2.txt "fleet: merged by push, same sha" >"$WORK/up"; read -r N SHA <"$WORK/up"
git -C "$DP" fetch -q origin "$SHA"
git -C "$DP" push -q origin "$SHA:refs/heads/main" 2>"$WORK/push.log" ||
  { cat "$WORK/push.log" >&2; die "direct push by pusher failed"; }
save change-merged-by-push-same-sha "$(by_commit "$SHA" $P main)" \
  "The uploaded patch set itself pushed to refs/heads/main: MERGED, no new patch set"

# --- votes after submit -----------------------------------------------------------
P=platform/fleet
D=$(clone $P carol)
upload "$D" post.txt "fleet: post-submit votes" >"$WORK/up"; read -r N SHA <"$WORK/up"
approve $P "$N"                          # alice CR+2, bob Verified+1
vote carol $P "$N" '{"Code-Review": 1}'  # an existing vote to raise later
submit bob $P "$N"
POST=$WORK/post-submit.txt
try_vote() { # user labels -> appends outcome to $POST
  local out status
  out=$(jq -n --argjson l "$2" '{labels: $l, notify: "NONE"}' |
    as "$1" api POST "/changes/$(cid $P "$N")/revisions/current/review" 2>&1) && status=ok || status=refused
  [ $status = ok ] && out=$(printf '%s' "$out" | jq -c '{labels}')
  printf '%-6s %-22s %-8s %s\n' "$1" "$2" "$status" "$(printf '%s' "$out" | tr '\n' ' ')" >>"$POST"
}
try_vote admin  '{"Code-Review": 2}'    # new max vote by another reviewer
try_vote carol  '{"Code-Review": 2}'    # raise an existing +1 to +2
try_vote alice  '{"Code-Review": 1}'    # lower an existing +2
try_vote bob    '{"Verified": -1}'      # lower an existing +1
try_vote pusher '{"Code-Review": -2}'   # new min vote
try_vote pusher '{"Code-Review": 1}'    # new vote, not the max
try_vote carol  '{"Verified": 1}'       # new max vote on another label
try_vote alice  '{"Code-Review": 2}'    # same value again
jq -n '{message: "deployed to prod", tag: "autogenerated:gerritgate:deploy", notify: "NONE"}' |
  as gate api POST "/changes/$(cid $P "$N")/revisions/current/review" >/dev/null &&
  printf 'gate   (message only, tag)    ok\n' >>"$POST"
cp "$POST" "$OUT/post-submit-votes.txt"
save change-post-submit-votes "$(by_commit "$SHA" $P main)" \
  "Votes cast after submit (post_submit: true) and a message from gate; see post-submit-votes.txt"

# --- paging and mergedafter -------------------------------------------------------
P=platform/fleet
for i in 1 2 3; do
  upload "$D" "page$i.txt" "fleet: page $i" >"$WORK/up"; read -r N SHA <"$WORK/up"
  approve $P "$N"
  submit bob $P "$N"
done
since=$(date -u -d '-1 hour' '+%Y-%m-%d %H:%M:%S +0000')
pq() { printf '/changes/?q=%s&n=%s&S=%s' "$(q "project:$P branch:main status:merged mergedafter:\"$since\"")" "$1" "$2"; }
save changes-page-1 "$(pq 2 0)" "first page (n=2): _more_changes on the last element"
save changes-page-2 "$(pq 2 2)" "second page (n=2, S=2)"
save changes-page-last "$(pq 100 0)" "one page with everything: no _more_changes"
save changes-mergedafter-future \
  "/changes/?q=$(q "project:$P status:merged mergedafter:\"2099-01-01 00:00:00 +0000\"")" \
  "mergedafter: in the future: []"

# --- groups and accounts ------------------------------------------------------------
save group-sre "/groups/sre" "group info; id is the 40-hex UUID"
save group-members-recursive "/groups/sre/members/?recursive" "alice direct, bob through sre-leads"
save group-members "/groups/sre/members/" "direct members only"
save group-subgroups "/groups/sre/groups/" "included groups"
save account-groups "/accounts/bob/groups/" "groups of bob visible to gate"
save account-groups-filtered "/accounts/pusher/groups/" "pusher is only in pushers, which gate cannot see: []"
save account-self "/accounts/self/detail" "the gate account itself"
save_error error-404-group-invisible "/groups/pushers" "a group gate cannot see: 404, body is the id"
save_error error-404-change "/changes/$(q platform/fleet)~99999" "no such change"
save_error error-404-group "/groups/no-such-group" "no such group"

# --- events -----------------------------------------------------------------------
sleep 2
kill "$EVENTS_PID" 2>/dev/null || true
wait "$EVENTS_PID" 2>/dev/null || true
EVENTS_PID=
if [ -s "$WORK/events.jsonl" ]; then
  # Keep branch updates; drop the many ref-updated events of refs/changes/*.
  jq -s 'map(select(.type != "ref-updated" or (.refUpdate.refName | startswith("refs/changes/") | not)))' \
    "$WORK/events.jsonl" >"$OUT/stream-events.json"
  log "recorded stream-events.json ($(jq length "$OUT/stream-events.json") of $(wc -l <"$WORK/events.jsonl") events)"
else
  log "no stream events captured: $(cat "$WORK/events.err")"
fi

jq -s --arg v "$GERRIT_VERSION" --arg d "$(date -u '+%Y-%m-%d')" \
  '{gerrit_version: $v, recorded: $d, fixtures: .}' "$INDEX" >"$OUT/index.json"
log "done: $OUT"
