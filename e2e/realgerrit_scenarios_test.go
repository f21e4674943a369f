//go:build realgerrit

package e2e

import (
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// Scenario 1: a submit that writes a new patch set (REBASE_ALWAYS rebases
// even when a fast-forward was possible; CHERRY_PICK cherry-picks): the
// branch holds a commit nobody reviewed as such, the gate finds its change
// by that SHA and deploys it.
func TestRealGerritRewritingSubmit(t *testing.T) {
	for _, submitType := range []string{"REBASE_ALWAYS", "CHERRY_PICK"} {
		t.Run(submitType, func(t *testing.T) {
			r, p, w, base, g := gatedProject(t, submitType)

			// Two changes on the same parent: the second is rewritten onto
			// the first.
			a := w.upload(base, "A: add podinfo")
			b := w.upload(base, "B: bump replicas")
			r.approve(a)
			r.approve(b)
			ta := r.submit(a)
			tb := r.submit(b)
			for _, c := range []struct {
				ch  change
				tip string
			}{{a, ta}, {b, tb}} {
				ci := r.change(c.ch)
				if c.tip == c.ch.sha || ci.CurrentRevision != c.tip || ci.Revisions[c.tip].Number != 2 {
					t.Fatalf("premise: %s submit of change %d should write patch set 2 = branch tip %s; uploaded %s, current %s, revisions %+v",
						submitType, c.ch.number, c.tip, c.ch.sha, ci.CurrentRevision, ci.Revisions)
				}
			}
			g.waitDeployed(p, "prod", tb)
		})
	}
}

// Scenario 2: MERGE_IF_NECESSARY, not fast-forward: Gerrit's merge commit
// (no change of its own) is deployed because its tree is the clean merge
// and what it brings in is approved. A merge pushed by pusher with content
// of its own (git merge, then amend a file) is not.
func TestRealGerritMergeCommits(t *testing.T) {
	r, p, w, base, g := gatedProject(t, "MERGE_IF_NECESSARY")

	a := w.upload(base, "A: add podinfo")
	b := w.upload(base, "B: bump replicas")
	r.approve(a)
	r.approve(b)
	if got := r.submit(a); got != a.sha {
		t.Fatalf("premise: A should fast-forward main to %s, tip is %s", a.sha, got)
	}
	m := r.submit(b)
	w.git(carol, "fetch", "-q", "origin")
	if parents := w.git(carol, "log", "-1", "--format=%P", m); parents != a.sha+" "+b.sha {
		t.Fatalf("premise: submit of B should make a merge commit with parents A B; %s has parents %q", m, parents)
	}
	g.waitDeployed(p, "prod", m)

	// The evil merge: C is approved but not submitted, D moves main on,
	// and pusher merges C by hand and slips in a change of his own. Gerrit
	// then marks C merged by push, so C alone should stop the gate too
	// (scenario 4); the verdict on the merge itself is what is checked here.
	c := w.upload(m, "C: new ingress")
	r.approve(c)
	d := w.mergeApproved(m, "D: tune limits")
	g.waitDeployed(p, "prod", d)
	w.git(pusher, "fetch", "-q", "origin")
	w.git(pusher, "checkout", "-q", "--detach", d)
	w.git(pusher, "merge", "-q", "--no-ff", "--no-edit", c.sha)
	writeFile(t, filepath.Join(w.dir, "clusters", "prod", "evil.yaml"), "replicas: 0\n")
	w.git(pusher, "add", "clusters/prod/evil.yaml")
	w.git(pusher, "commit", "-q", "--amend", "--no-edit")
	evil := w.git(pusher, "rev-parse", "HEAD")
	w.pushDirect(evil)
	if got := r.tip(p); got != evil {
		t.Fatalf("premise: pusher's merge %s should be main's tip, tip is %s", evil, got)
	}
	st := stays(t, g, p, d, "")
	approved, rules := verdict(t, st, evil)
	if approved || !strings.Contains(rules, "not the clean merge") {
		t.Errorf("verdict on the evil merge %s: approved=%v %s; want refused as not the clean merge of its parents", evil, approved, rules)
	}
}

// Scenario 3: a commit pushed straight to the branch blocks the gate at
// that commit, also when approved changes follow it.
func TestRealGerritDirectPushBlocks(t *testing.T) {
	_, p, w, base, g := gatedProject(t, "MERGE_IF_NECESSARY")
	a := w.mergeApproved(base, "A: add podinfo")
	g.waitDeployed(p, "prod", a)

	x := w.commit(pusher, a, "X: hotfix pushed past review", "")
	w.pushDirect(x)
	e := w.mergeApproved(x, "E: approved, after the push")
	st := stays(t, g, p, a, x)
	if !strings.Contains(st.Message, "pushed directly") {
		t.Errorf("status message %q does not say X was pushed directly", st.Message)
	}
	if approved, rules := verdict(t, st, e); !approved {
		t.Errorf("E, approved and submitted after X, should pass on its own (the gate stops at X only): %s", rules)
	}
}

// Scenario 4: a change merged by pushing its commit straight to the branch
// is not approved, whatever votes it has. Real Gerrit marks it MERGED with
// submitter = the pusher and no submit requirements (docs/gerrit.md), so a
// gate that looks only for a missing submitter lets it through: this test
// failed against the gate before 24e11eb, which also reads Gerrit's
// "successfully pushed" merge message.
func TestRealGerritMergedByPushNotApproved(t *testing.T) {
	r, p, w, base, g := gatedProject(t, "MERGE_IF_NECESSARY")

	// Full votes, but merged by pusher's push instead of a submit.
	c := w.upload(base, "C: merged by push")
	r.approve(c)
	w.pushDirect(c.sha)
	ci := r.change(c)
	pushedMsg := false
	for _, m := range ci.Messages {
		pushedMsg = pushedMsg || strings.Contains(m.Message, "successfully pushed")
	}
	if ci.Status != "MERGED" || ci.Submitter == nil || ci.Submitter.Username != pusher || len(ci.SubmitRequirements) != 0 || !pushedMsg {
		t.Fatalf("premise (docs/gerrit.md): a change merged by push is MERGED, submitter pusher, no submit requirements, message 'successfully pushed'; got %+v", ci)
	}
	g.settle()
	if got := g.deployed(p, "prod"); got != base {
		t.Fatalf("merged by push counted as submitted through review: deploy/prod = %s, want it to stay at %s before change %d, which pusher merged by push; status %+v",
			got, base, c.number, g.env(p, "prod"))
	}
	st := g.env(p, "prod")
	if st.Decision == nil || st.Decision.BlockedAt != c.sha {
		t.Fatalf("status = %+v, want blocked at %s", st, c.sha)
	}
	if approved, rules := verdict(t, st, c.sha); approved {
		t.Errorf("change merged by push approved: %s", rules)
	}
}

// Scenario 5: votes after submit. Gerrit accepts new and raised votes on a
// merged change and refuses lowered ones (409), so a change merged short of
// the policy becomes deployable by a later +2, and a later -2 cannot be
// cast at all.
func TestRealGerritPostSubmitVotes(t *testing.T) {
	r := newRealGerrit(t)
	p := r.createProject("MERGE_IF_NECESSARY")
	// Gerrit here lets Code-Review +1 submit; the gate's policy asks +2.
	r.setCodeReviewRequirement(p, "label:Code-Review>=1 AND -label:Code-Review=MIN")
	w := r.workspace(p)
	base := r.tip(p)
	g := startRealGate(t, r, p, "upstream", "")
	g.waitDeployed(p, "prod", base)

	c := w.upload(base, "C: merged with +1")
	r.mustVote(alice, c, map[string]int{"Code-Review": 1})
	r.mustVote(bob, c, map[string]int{"Verified": 1})
	tip := r.submit(c)
	if tip != c.sha {
		t.Fatalf("premise: C should fast-forward main to %s, tip %s", c.sha, tip)
	}
	st := stays(t, g, p, base, c.sha)
	if !strings.Contains(st.Message, "needs Code-Review +2") {
		t.Errorf("status message %q does not say C lacks Code-Review +2", st.Message)
	}

	// A new -2 after submit is a lowering (0 -> -2): Gerrit refuses it, so
	// it can neither veto nor un-approve a merged change.
	var he *httpError
	if err := r.vote(pusher, c, map[string]int{"Code-Review": -2}); !errors.As(err, &he) || he.Status != http.StatusConflict ||
		!strings.Contains(he.Body, "Cannot reduce vote") {
		t.Fatalf("post-submit Code-Review -2 by pusher: err %v, want 409 Cannot reduce vote", err)
	}

	// A +2 by another reviewer after submit: the gate advances.
	r.mustVote(bob, c, map[string]int{"Code-Review": 2})
	g.waitDeployed(p, "prod", c.sha)
	// And once deployed, nobody can lower it.
	if err := r.vote(bob, c, map[string]int{"Code-Review": -2}); !errors.As(err, &he) || he.Status != http.StatusConflict {
		t.Fatalf("post-submit Code-Review +2 -> -2 by bob: err %v, want 409", err)
	}
	if err := r.vote(alice, c, map[string]int{"Code-Review": -2}); !errors.As(err, &he) || he.Status != http.StatusConflict {
		t.Fatalf("post-submit Code-Review +1 -> -2 by alice: err %v, want 409", err)
	}
}

// Scenario 5, continued: a veto the gate's policy has and Gerrit's does
// not. All-Projects lets a project override the Code-Review requirement;
// here -2 does not stop a submit, so a change merges with a -2 on it. The
// gate's veto still holds.
func TestRealGerritVetoGerritIgnored(t *testing.T) {
	r := newRealGerrit(t)
	p := r.createProject("MERGE_IF_NECESSARY")
	r.setCodeReviewRequirement(p, "label:Code-Review=MAX")
	w := r.workspace(p)
	base := r.tip(p)
	g := startRealGate(t, r, p, "upstream", "")
	g.waitDeployed(p, "prod", base)

	c := w.upload(base, "C: vetoed, submitted anyway")
	r.approve(c)
	r.mustVote(pusher, c, map[string]int{"Code-Review": -2})
	if got := r.submit(c); got != c.sha {
		t.Fatalf("premise: C should merge despite the -2, tip %s", got)
	}
	st := stays(t, g, p, base, c.sha)
	if !strings.Contains(st.Message, "vetoed") {
		t.Errorf("status message %q does not say C is vetoed", st.Message)
	}
}

// Scenario 6: a project name with "/", and more pending commits in one
// poll than one page of query results (pageSize 2): the gate must follow
// Gerrit's _more_changes, or it would miss the oldest changes and block.
func TestRealGerritPaging(t *testing.T) {
	r := newRealGerrit(t)
	p := r.createProject("MERGE_IF_NECESSARY")
	if !strings.Contains(p, "/") {
		t.Fatalf("project %q has no slash", p)
	}
	w := r.workspace(p)
	base := r.tip(p)
	tip := base
	for _, s := range []string{"A", "B", "C", "D", "E"} {
		tip = w.mergeApproved(tip, s+": paged")
	}
	// Started only now, with the baseline before all five: its first poll
	// creates deploy/prod at base, its second sees five pending commits.
	g := startRealGate(t, r, p, base, "  pageSize: 2\n")
	g.waitDeployed(p, "prod", tip)
}

// Scenario 7: Flux's own client and C git clone deploy/prod from the gate;
// Gerrit is never asked. The blocked commit, which Gerrit serves, cannot be
// fetched from the gate by SHA.
func TestRealGerritFluxAndCGitClone(t *testing.T) {
	r, p, w, base, g := gatedProject(t, "MERGE_IF_NECESSARY")
	a := w.mergeApproved(base, "A: add podinfo")
	g.waitDeployed(p, "prod", a)
	x := w.commit(pusher, a, "X: pushed past review", "")
	w.pushDirect(x)
	stays(t, g, p, a, x)

	gateURL := g.url + "/" + p + ".git"
	if strings.HasPrefix(gateURL, r.url) {
		t.Fatalf("gate URL %s is Gerrit's", gateURL)
	}
	got, concrete, err := fluxClone(t, gateURL, "deploy/prod", "", nil)
	if err != nil || got != a || !concrete {
		t.Fatalf("flux clone of deploy/prod = %s concrete=%v err=%v, want %s", got, concrete, err, a)
	}
	dir := filepath.Join(t.TempDir(), "c")
	if out, err := git(t, "", "clone", "-q", "-b", "deploy/prod", gateURL, dir); err != nil {
		t.Fatalf("git clone: %v\n%s", err, out)
	}
	if out, _ := git(t, dir, "rev-parse", "HEAD"); strings.TrimSpace(out) != a {
		t.Errorf("C git clone of deploy/prod is at %q, want %s", out, a)
	}
	if _, err := git(t, dir, "cat-file", "-e", x); err == nil {
		t.Errorf("the clone from the gate holds the blocked commit %s", x)
	}
	// Gerrit has X (the workspace pushed it); the gate will not hand it out.
	if out, err := git(t, dir, "-c", "protocol.version=2", "fetch", "-q", gateURL, x); err == nil {
		t.Errorf("fetch of the blocked commit %s by SHA from the gate succeeded:\n%s", x, out)
	}
	if _, err := w.gitErr(gateU, "fetch", "-q", "origin", x); err != nil {
		t.Errorf("premise: Gerrit should serve %s to gate: %v", x, err)
	}
}
