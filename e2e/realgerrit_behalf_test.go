//go:build realgerrit

package e2e

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// A vote cast on behalf of another account (labelAs-Code-Review, the
// review's on_behalf_of): Gerrit records it as alice's vote with carol as
// real_author. carol owns the change, so without selfApproval the vote
// does not count: the commit stays out until bob's own +2 after submit.
func TestRealGerritOnBehalfSelfApproval(t *testing.T) {
	r, p, w, base, g := gatedProject(t, "MERGE_IF_NECESSARY")
	r.must(admin, http.MethodPost, "/projects/"+url.PathEscape(p)+"/access", map[string]any{
		"add": map[string]any{"refs/heads/*": map[string]any{"permissions": map[string]any{
			"labelAs-Code-Review": map[string]any{"label": "Code-Review", "rules": map[string]any{
				"global:Registered-Users": map[string]any{"action": "ALLOW", "min": -2, "max": 2},
			}},
		}}},
	}, nil)
	c := w.upload(base, "C: approved by its owner on alice's behalf")
	r.must(carol, http.MethodPost, c.path()+"/revisions/current/review", map[string]any{
		"labels": map[string]int{"Code-Review": 2}, "on_behalf_of": alice, "notify": "NONE",
	}, nil)
	ri := r.revisions(c)
	last := ri.Messages[len(ri.Messages)-1]
	if last.Author.Username != alice || last.RealAuthor == nil || last.Message != "Patch Set 1: Code-Review+2" {
		t.Fatalf("premise: Gerrit should record the vote as alice's with carol as real_author; last message %+v", last)
	}
	t.Logf("on-behalf vote: author %s, real_author %d, message %q, tag %q", last.Author.Username, last.RealAuthor.ID, last.Message, last.Tag)
	r.mustVote(bob, c, map[string]int{"Verified": 1})
	blockedUntilBobApproves(t, r, g, base, c, "alice +2 (posted on its behalf by carol; not counted: posted on the voter's behalf by carol, the change owner")
}

// A reviewer removed from a change takes their votes along: alice's -2
// vetoes until admin removes her as reviewer. Gerrit writes "Removed
// reviewer ... with the following votes:" and a line per vote, which the
// gate reads as alice's veto going to 0; the change then deploys. The
// owner may not remove a reviewer whose vote is negative.
func TestRealGerritReviewerRemovedVetoLifted(t *testing.T) {
	r, p, w, base, g := gatedProject(t, "MERGE_IF_NECESSARY")
	c := w.upload(base, "C: vetoed, the vetoing reviewer removed")
	r.mustVote(alice, c, map[string]int{"Code-Review": -2})
	err := r.call(carol, http.MethodDelete, c.path()+"/reviewers/"+alice, nil, nil)
	t.Logf("the owner removing a reviewer with a -2: %v", err)
	if err == nil {
		t.Fatal("premise: the change owner should not be allowed to remove a reviewer whose vote is -2")
	}
	r.must(admin, http.MethodDelete, c.path()+"/reviewers/"+alice, nil, nil)
	ri := r.revisions(c)
	last := ri.Messages[len(ri.Messages)-1]
	t.Logf("removal message: author %s, tag %q, %q", last.Author.Username, last.Tag, last.Message)
	if !strings.HasPrefix(last.Message, "Removed reviewer ") || !strings.Contains(last.Message, "* Code-Review-2 by <GERRIT_ACCOUNT_") {
		t.Fatalf("premise: Gerrit should write the reviewer's removed votes; last message %+v", last)
	}
	r.mustVote(bob, c, map[string]int{"Code-Review": 2, "Verified": 1})
	tip := r.submit(c)
	g.waitDeployed(p, "prod", tip)
}
