//go:build realgerrit

package e2e

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// Issue 11 against a real Gerrit: the records of advances decided on what
// Gerrit 3.13 really answers (a merge commit Gerrit wrote, a fast-forward,
// and after the project switches to REBASE_ALWAYS a submit's new patch
// set) are decided again from the record alone by gerritgate verify
// --recheck, and agree; stock git verifies their signatures.
func TestRealGerritAuditRecheck(t *testing.T) {
	r := newRealGerrit(t)
	p := r.createProject("MERGE_IF_NECESSARY")
	w := r.workspace(p)
	base := r.tip(p)
	key, pub := auditKey(t, t.TempDir(), "gate")
	g := startRealGate(t, r, p, "upstream", fmt.Sprintf("audit:\n  signingKey: %s\n", key))
	g.waitDeployed(p, "prod", base)

	a := w.upload(base, "A: add podinfo")
	b := w.upload(base, "B: bump replicas")
	r.approve(a)
	r.approve(b)
	r.submit(a)
	m := r.submit(b) // a merge commit written by Gerrit
	g.waitDeployed(p, "prod", m)
	d := w.mergeApproved(m, "D: tune limits")
	g.waitDeployed(p, "prod", d)
	// A rebasing submit: Gerrit writes patch set 2, which nobody voted on.
	r.must(admin, http.MethodPut, "/projects/"+url.PathEscape(p)+"/config", map[string]any{"submit_type": "REBASE_ALWAYS"}, nil)
	e := w.upload(d, "E: raise limits")
	r.approve(e)
	te := r.submit(e)
	if ci := r.change(e); te == e.sha || ci.CurrentRevision != te || ci.Revisions[te].Number != 2 {
		t.Fatalf("premise: a REBASE_ALWAYS submit should write patch set 2 = branch tip %s; uploaded %s, current %s", te, e.sha, ci.CurrentRevision)
	}
	g.waitDeployed(p, "prod", te)

	dir := g.cloneServed(t, p)
	out, ok := gerritgateVerify(t, dir, "--key", pub, "--recheck")
	if !ok || strings.Count(out, "rechecked") < 4 {
		t.Fatalf("gerritgate verify --recheck over a real Gerrit's trail (want at least 4 rechecked advances: the first, through the merge, D, E):\n%s", out)
	}
	if err := stockVerify(t, dir, pub); err != nil {
		t.Errorf("stock git: %v", err)
	}
}
