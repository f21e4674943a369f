package e2e

import (
	"strings"
	"testing"

	"github.com/gerritgate/gerritgate/mirror/gerrit/gerrittest"
)

const ownersPolicy = `repos:
  - project: platform/fleet
    branch: main
    environments:
      - {name: prod, policy: owned, baseline: upstream}
policies:
  owned:
    labels: {Code-Review: {min: 2}, Verified: {min: 1}}
    owners:
      - paths: ["apps/**"]
        groups: ["sre"]
`

// An owners group whose approving member sits in a subgroup the gate's
// account cannot see: the gate says so, naming the subgroup and the
// permission, instead of "no member voted" with a member list that leaves
// the subgroup out.
func TestOwnersGroupWithSubgroupTheGateCannotSee(t *testing.T) {
	sim := newSim(t, "MERGE_IF_NECESSARY")
	gateAcct := sim.srv.SetCredentials("gate", sim.password)
	dave := sim.srv.AddAccount("dave")
	owners, err := sim.srv.AddGroup("gate-owners", gerrittest.Members(gateAcct))
	sim.must(err)
	oncall, err := sim.srv.AddGroup("oncall", gerrittest.Members(dave))
	sim.must(err)
	_, err = sim.srv.AddGroup("sre", gerrittest.Members(sim.carol), gerrittest.Subgroups(oncall), gerrittest.VisibleToAll(), gerrittest.OwnedBy(owners))
	sim.must(err)
	g := startGate(t, sim.setup(ownersPolicy))
	root := sim.head()
	g.waitDeployed(project, "prod", root)

	n := sim.create("A: touches apps", nil)
	sim.must(sim.srv.Vote(n, dave, "Code-Review", 2))
	sim.must(sim.srv.Vote(n, sim.carol, "Verified", 1))
	a := sim.submit(n)
	g.settle()
	if got := g.deployed(project, "prod"); got != root {
		t.Fatalf("deploy/prod = %s, want %s (A %s cannot be checked)", got, root, a)
	}
	st := g.env(project, "prod")
	for _, want := range []string{"group sre includes group oncall", "cannot see", "owner group"} {
		if !strings.Contains(st.Message, want) {
			t.Errorf("status message %q does not say %q", st.Message, want)
		}
	}
}
