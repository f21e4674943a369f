#!/bin/sh
# Pre-submit check of a change to a gerritgate policy reviewed in Gerrit
# (policy: {project, branch, path} in gerritgate.yaml). Run it in the CI
# job's checkout of the patch set (Zuul, Jenkins' Gerrit Trigger, or any
# job that votes Verified): it exits non-zero, printing file:line:column,
# when the file does not parse, so the change cannot get Verified +1.
#   usage: check-policy.sh [policy.yaml]    (GERRITGATE names the binary)
set -eu
exec "${GERRITGATE:-gerritgate}" check "${1:-policy.yaml}"
