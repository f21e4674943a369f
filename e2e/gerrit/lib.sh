# Helpers for the e2e/gerrit scripts; source after the env file of start.sh.
#   GERRIT_AS / GERRIT_AS_PASSWORD choose the REST user (default admin/secret).
# shellcheck shell=bash

# Strip Gerrit's XSSI prefix line ")]}'" from JSON bodies.
strip_xssi() { sed "1{/^)]}'\$/d}"; }

urlenc() { jq -rn --arg s "$1" '$s|@uri'; }

# _call METHOD PATH CONTENT_TYPE BODYFILE: sets $_status and $_body (prefix
# stripped). Not in a subshell, so that the caller sees both.
_call() {
  local method=$1 path=$2 ctype=$3 bodyfile=$4 out
  out=$(mktemp)
  local args=(-sS -m 60 -o "$out" -w '%{http_code}' -X "$method"
    -u "${GERRIT_AS:-admin}:${GERRIT_AS_PASSWORD:-secret}")
  if [ -n "$bodyfile" ]; then
    args+=(-H "Content-Type: $ctype" --data-binary "@$bodyfile")
  fi
  _status=$(curl "${args[@]}" "$GERRIT_URL/a$path") || _status=000
  _body=$(strip_xssi <"$out")
  rm -f "$out"
}

_result() { # METHOD PATH
  case $_status in
    2??) printf '%s\n' "$_body" ;;
    *) printf 'gerrit: %s %s -> HTTP %s: %s\n' "$1" "$2" "$_status" "$_body" >&2
       return 1 ;;
  esac
}

# api METHOD PATH: JSON body from stdin for PUT/POST (use </dev/null for
# none); prints the response without the prefix; fails unless 2xx.
api() {
  local method=$1 path=$2 in=""
  if [ "$method" = PUT ] || [ "$method" = POST ]; then
    in=$(mktemp)
    cat >"$in"
    [ -s "$in" ] || { rm -f "$in"; in=""; }
  fi
  _call "$method" "$path" application/json "$in"
  [ -z "$in" ] || rm -f "$in"
  _result "$method" "$path"
}

# api_status METHOD PATH: like api, no body, quiet on failure (for "exists?").
api_status() {
  _call "$1" "$2" "" ""
  case $_status in 2??) printf '%s\n' "$_body" ;; *) return 1 ;; esac
}

# api_raw METHOD PATH CONTENT_TYPE BODY
api_raw() {
  local in
  in=$(mktemp)
  printf '%s' "$4" >"$in"
  _call "$1" "$2" "$3" "$in"
  rm -f "$in"
  _result "$1" "$2"
}
