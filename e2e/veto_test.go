package e2e

import (
	"fmt"
	"strings"
	"testing"
)

// One commit, two changes: the change on main that approves it and the
// same commit uploaded for stable, where carol vetoes it. The veto blocks
// the commit and the status names the stable change; carol lifting it lets
// the commit through.
func TestVetoOnAnotherChangeOfTheSameCommit(t *testing.T) {
	sim := newSim(t, "MERGE_IF_NECESSARY")
	g := startGate(t, gateSetup{gerritURL: sim.url, username: "gate", password: sim.password, policy: reviewedPolicy})
	root := sim.head()
	g.waitDeployed(project, "prod", root)
	sim.must(sim.srv.CreateBranch(project, "stable", root))

	n := sim.create("A: fix for main and stable", nil)
	ch, ok := sim.srv.Change(n)
	if !ok {
		t.Fatalf("change %d not found", n)
	}
	other, err := sim.srv.UploadExisting(project, "stable", sim.alice, ch.CurrentRevision)
	sim.must(err)
	sim.must(sim.srv.Vote(other.Number, sim.carol, "Code-Review", -2))
	sim.must(sim.srv.Vote(n, sim.bob, "Code-Review", 2))
	sim.must(sim.srv.Vote(n, sim.carol, "Verified", 1))
	a := sim.submit(n)
	if a != ch.CurrentRevision {
		t.Fatalf("fixture: submit wrote %s, want the fast-forward to %s", a, ch.CurrentRevision)
	}

	g.settle()
	if got := g.deployed(project, "prod"); got != root {
		t.Fatalf("deploy/prod = %s, want it to stay at %s: A is vetoed on change %d", got, root, other.Number)
	}
	st := g.env(project, "prod")
	want := fmt.Sprintf("change %d (branch stable, NEW), which also has this commit as patch set 1: vetoed: Code-Review -2 by carol", other.Number)
	if st.Reason != "NotApproved" || !strings.Contains(st.Message, want) {
		t.Fatalf("status %s: %q, want NotApproved saying %q", st.Reason, st.Message, want)
	}

	sim.must(sim.srv.Vote(other.Number, sim.carol, "Code-Review", 0))
	g.waitDeployed(project, "prod", a)
}
