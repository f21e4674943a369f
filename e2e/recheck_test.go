package e2e

import (
	"strings"
	"testing"

	"github.com/gerritgate/gerritgate/mirror/gerrit/gerrittest"
)

// The gate asks Gerrit again right before it moves deploy/prod. Here
// Gerrit changes between the two questions (the simulator acts on the
// second query of the change: the first is the decision, the second the
// look right before the move): the ref stays, and the gate says what
// stopped it and what Gerrit said a moment before. Once Gerrit is back to
// approving, the commit deploys.
func TestGerritChangesBetweenDecisionAndMove(t *testing.T) {
	t.Run("owner removed from the group", func(t *testing.T) {
		sim := newSim(t, "MERGE_IF_NECESSARY")
		sre, err := sim.srv.AddGroup("sre", gerrittest.Members(sim.bob), gerrittest.VisibleToAll())
		sim.must(err)
		g := startGate(t, gateSetup{gerritURL: sim.url, username: "gate", password: sim.password, policy: ownersPolicy})
		root := sim.head()
		g.waitDeployed(project, "prod", root)

		n := sim.create("A: touches apps", nil)
		sim.must(sim.srv.Vote(n, sim.bob, "Code-Review", 2))
		sim.must(sim.srv.Vote(n, sim.carol, "Verified", 1))
		sim.srv.OnQuery(n, 2, func() { sim.must(sim.srv.RemoveGroupMember(sre, sim.bob)) })
		a := sim.submit(n)

		assertStays(t, g, root, []string{
			"needs Code-Review +2 or more by a member of sre: the group has no members",
			"Gerrit's answer changed between the decision and the move: a moment before, this commit was approved (owners: apps/** (",
			"approved by bob +2, member of sre)",
		})
		sim.must(sim.srv.AddGroupMembers(sre, sim.bob))
		g.waitDeployed(project, "prod", a)
	})

	t.Run("veto cast on another change of the commit", func(t *testing.T) {
		s := newSharedCommit(t)
		s.sim.srv.OnQuery(s.n, 2, func() { s.sim.must(s.sim.srv.Vote(s.other.Number, s.sim.carol, "Code-Review", -2)) })
		a := s.sim.submit(s.n)

		assertStays(t, s.g, s.root, []string{
			"which also has this commit as patch set 1: vetoed: Code-Review -2 by carol",
			"Gerrit's answer changed between the decision and the move: a moment before, this commit was approved",
		})
		s.sim.must(s.sim.srv.Vote(s.other.Number, s.sim.carol, "Code-Review", 0))
		s.g.waitDeployed(project, "prod", a)
	})
}

// assertStays checks, after the gate has settled, that deploy/prod is
// still at want and not approved, and that the gate logged, when it
// stopped, each of says (the status shows the reconciles since, decided
// on Gerrit's new answer from the start).
func assertStays(t *testing.T, g *gateProc, want string, says []string) {
	t.Helper()
	g.settle()
	if got := g.deployed(project, "prod"); got != want {
		t.Fatalf("deploy/prod = %s, want it to stay at %s", got, want)
	}
	if st := g.env(project, "prod"); st.Reason != "NotApproved" {
		t.Fatalf("status %s: %q, want NotApproved", st.Reason, st.Message)
	}
	log := g.log.String()
	if !strings.Contains(log, "Gerrit's answer changed between the decision and the move; the advance stops earlier") {
		t.Fatalf("the gate did not log that Gerrit's answer changed:\n%s", log)
	}
	for _, s := range says {
		if !strings.Contains(log, s) {
			t.Errorf("the gate's log does not say %q:\n%s", s, log)
		}
	}
}
