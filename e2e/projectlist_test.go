package e2e

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/gerritgate/gerritgate/mirror/gerrit/gerrittest"
)

// sshKey gives the gate's account in the simulated Gerrit a new SSH key
// and returns its private half (PEM), for gateSetup.sshKey.
func (s *sim) sshKey(t testing.TB) []byte {
	t.Helper()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	block, _ := ssh.MarshalPrivateKey(priv, "gate")
	pub, _ := ssh.NewPublicKey(priv.Public())
	if err := s.srv.AddSSHKey("gate", ssh.MarshalAuthorizedKey(pub)); err != nil {
		t.Fatal(err)
	}
	key := pem.EncodeToMemory(block)
	registerSecret(string(key))
	return key
}

// teamPolicy gates every project under team/ with prod.
const teamPolicy = `repos:
  - project: "team/*"
    branch: main
    environments:
      - {name: prod, policy: reviewed, baseline: upstream}
policies:
  reviewed:
    labels: {Code-Review: {min: 2}, Verified: {min: 1}}
`

// createTeamProject creates a project in the simulated Gerrit and returns
// its main branch's tip.
func (s *sim) createTeamProject(name string) string {
	s.t.Helper()
	s.must(s.srv.CreateProject(name, "MERGE_IF_NECESSARY", gerrittest.WithLabels(gerrittest.CodeReview(), gerrittest.Verified())))
	tip, err := s.srv.BranchTip(name, "main")
	s.must(err)
	return tip
}

// steadyCalls waits for polls more polls of g and returns the REST calls
// they made, by call.
func (g *gateProc) steadyCalls(polls int64) (map[string]float64, float64) {
	g.t.Helper()
	before, start := g.counters("gerritgate_gerrit_requests_total"), g.status().Polls
	waitFor(g.t, 60*time.Second, "steady polls", func() bool { return g.status().Polls >= start+polls+1 })
	return diff(g.counters("gerritgate_gerrit_requests_total"), before)
}

// A policy with a glob: steady polls make no REST call (the project list
// is kept for gerrit.projectListInterval); a project created in Gerrit is
// polled at once on its project-created event, with one listing.
func TestGlobSteadyPollAndProjectCreatedEvent(t *testing.T) {
	sim := newSim(t, "MERGE_IF_NECESSARY", gerrittest.WithSSH("127.0.0.1:0"))
	a := sim.createTeamProject("team/a")
	g := startGate(t, gateSetup{gerritURL: sim.url, username: "gate", password: sim.password, policy: teamPolicy, poll: "@every 1s",
		sshKey: sim.sshKey(t), knownHosts: sim.srv.KnownHosts(),
		gerritExtra: "  eventsURL: ssh://gate@" + sim.srv.SSHAddr() + "\n  projectListInterval: 1h\n"})
	g.waitDeployed("team/a", "prod", a)
	waitFor(t, 10*time.Second, "the event stream to connect", func() bool {
		return strings.Contains(g.metrics(), `gerritgate_gerrit_events_total{type="stream-connected"}`)
	})
	g.settle() // the listing a (re)connection asks for, in case an event was missed
	if got, n := g.steadyCalls(3); n != 0 {
		t.Errorf("3 steady polls with the glob team/* made %v REST calls (%v), want none", n, got)
	}
	listed := func() float64 {
		return g.counters("gerritgate_gerrit_requests_total")[`{op="list projects",outcome="ok"}`]
	}
	before := listed()
	b := sim.createTeamProject("team/b")
	if !within(30*time.Second, 100*time.Millisecond, func() bool { return g.deployed("team/b", "prod") == b }) {
		t.Fatalf("team/b, created in Gerrit, not deployed within 30s with projectListInterval 1h: the project-created event was not acted on\n%s", g.log)
	}
	if n := listed() - before; n != 1 {
		t.Errorf("team/b's creation cost %v project listings, want 1", n)
	}
	if got, n := g.steadyCalls(3); n != 0 {
		t.Errorf("3 steady polls after team/b made %v REST calls (%v), want none", n, got)
	}
}

// Without events, a new project is polled once gerrit.projectListInterval
// has passed since the last listing, and not listed more often.
func TestGlobProjectListInterval(t *testing.T) {
	sim := newSim(t, "MERGE_IF_NECESSARY")
	a := sim.createTeamProject("team/a")
	start := time.Now()
	g := startGate(t, gateSetup{gerritURL: sim.url, username: "gate", password: sim.password, policy: teamPolicy, poll: "@every 1s",
		gerritExtra: "  projectListInterval: 4s\n"})
	g.waitDeployed("team/a", "prod", a)
	b := sim.createTeamProject("team/b")
	if !within(60*time.Second, 100*time.Millisecond, func() bool { return g.deployed("team/b", "prod") == b }) {
		t.Fatalf("team/b, created in Gerrit, not deployed within 60s with projectListInterval 4s\n%s", g.log)
	}
	listed := g.counters("gerritgate_gerrit_requests_total")[`{op="list projects",outcome="ok"}`]
	if limit := time.Since(start).Seconds()/4 + 1; listed < 2 || listed > limit {
		t.Errorf("%v project listings in %.1fs with projectListInterval 4s, want 2 to %.0f", listed, time.Since(start).Seconds(), limit)
	}
}
