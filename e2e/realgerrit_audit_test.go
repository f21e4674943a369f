//go:build realgerrit

package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// Issue 11 against a real Gerrit: the records of advances decided on what
// Gerrit 3.13 really answers (a merge commit Gerrit wrote, a rebasing
// submit's new patch set) are decided again from the record alone by
// gerritgate verify --recheck, and agree.
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

	dir := filepath.Join(t.TempDir(), "c")
	if out, err := git(t, "", "clone", "-q", g.url+"/"+p+".git", dir); err != nil {
		t.Fatalf("git clone: %v\n%s", err, out)
	}
	out, ok := gerritgateVerify(t, dir, "--key", pub, "--recheck")
	if !ok || strings.Count(out, "rechecked") < 3 {
		t.Fatalf("gerritgate verify --recheck over a real Gerrit's trail (want at least 3 rechecked advances):\n%s", out)
	}
	if err := stockVerify(t, dir, pub); err != nil {
		t.Errorf("stock git: %v", err)
	}
}
