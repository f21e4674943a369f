package e2e

import (
	"strings"
	"testing"
)

// A force-push that rewrites upstream history never moves deploy/prod: the
// gate stops and says so.
func TestRewrittenHistoryDiverges(t *testing.T) {
	sim := newSim(t, "MERGE_IF_NECESSARY")
	g := startGate(t, sim.setup(reviewedPolicy))
	base := sim.head()
	a := sim.mergeApproved("A")
	g.waitDeployed(project, "prod", a)

	// Rewrite main in Gerrit's repository: a commit on top of the old base
	// that does not contain A.
	repo := sim.repoDir()
	sim.forcePush(base)
	g.settle()
	if got := g.deployed(project, "prod"); got != a {
		t.Fatalf("deploy/prod = %s after a rewrite, want it to stay at %s", got, a)
	}
	st := g.env(project, "prod")
	if st.Reason != "Diverged" || !strings.Contains(st.Message, "rewritten") {
		t.Errorf("status = %+v, want Diverged", st)
	}

	// Restoring the branch so that it contains the deployed commit again
	// lets the gate resume by itself (docs/operations.md).
	if out, err := git(t, "", "--git-dir", repo, "update-ref", "refs/heads/main", a); err != nil {
		t.Fatal(out)
	}
	b := sim.mergeApproved("B, after the restore")
	g.waitDeployed(project, "prod", b)
}

// A baseline SHA starts deploy/prod there, not at the head; commits after
// it are decided.
func TestBaselineSHA(t *testing.T) {
	sim := newSim(t, "MERGE_IF_NECESSARY")
	base := sim.head()
	_, c := sim.mergeUnapproved("C: before the gate was set up, not approved")
	policy := strings.Replace(reviewedPolicy, "baseline: upstream", "baseline: "+base, 1)
	g := startGate(t, sim.setup(policy))
	g.settle()
	if got := g.deployed(project, "prod"); got != base {
		t.Fatalf("deploy/prod = %s, want baseline %s (C %s is not approved)", got, base, c)
	}
}
