package e2e

import (
	"fmt"
	"strings"
	"testing"

	"github.com/gerritgate/gerritgate/mirror/gerrit/gerrittest"
)

// sharedCommit is a change on main whose commit is also patch set 1 of a
// change on stable, with the gate running and deploy/prod at root.
type sharedCommit struct {
	sim   *sim
	g     *gateProc
	root  string
	n     int               // the change on main, approved, not submitted
	other gerrittest.Change // the change on stable
}

func newSharedCommit(t *testing.T) *sharedCommit {
	t.Helper()
	s := &sharedCommit{sim: newSim(t, "MERGE_IF_NECESSARY")}
	s.g = startGate(t, gateSetup{gerritURL: s.sim.url, username: "gate", password: s.sim.password, policy: reviewedPolicy})
	s.root = s.sim.head()
	s.g.waitDeployed(project, "prod", s.root)
	s.sim.must(s.sim.srv.CreateBranch(project, "stable", s.root))
	s.n = s.sim.create("A: fix for main and stable", nil)
	ch, ok := s.sim.srv.Change(s.n)
	if !ok {
		t.Fatalf("change %d not found", s.n)
	}
	var err error
	s.other, err = s.sim.srv.UploadExisting(project, "stable", s.sim.alice, ch.CurrentRevision)
	s.sim.must(err)
	s.sim.must(s.sim.srv.Vote(s.n, s.sim.bob, "Code-Review", 2))
	s.sim.must(s.sim.srv.Vote(s.n, s.sim.carol, "Verified", 1))
	return s
}

// One commit, two changes: the change on main that approves it and the
// same commit uploaded for stable, where carol vetoes it. The veto blocks
// the commit and the status names the stable change; carol lifting it lets
// the commit through.
func TestVetoOnAnotherChangeOfTheSameCommit(t *testing.T) {
	s := newSharedCommit(t)
	s.sim.must(s.sim.srv.Vote(s.other.Number, s.sim.carol, "Code-Review", -2))
	a := s.sim.submit(s.n)
	if a != s.other.CurrentRevision {
		t.Fatalf("fixture: submit wrote %s, want the fast-forward to %s", a, s.other.CurrentRevision)
	}

	s.g.settle()
	if got := s.g.deployed(project, "prod"); got != s.root {
		t.Fatalf("deploy/prod = %s, want it to stay at %s: A is vetoed on change %d", got, s.root, s.other.Number)
	}
	st := s.g.env(project, "prod")
	want := fmt.Sprintf("change %d (branch stable, NEW), which also has this commit as patch set 1: vetoed: Code-Review -2 by carol", s.other.Number)
	if st.Reason != "NotApproved" || !strings.Contains(st.Message, want) {
		t.Fatalf("status %s: %q, want NotApproved saying %q", st.Reason, st.Message, want)
	}

	s.sim.must(s.sim.srv.Vote(s.other.Number, s.sim.carol, "Code-Review", 0))
	s.g.waitDeployed(project, "prod", a)
}
