package e2e

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/gerritgate/gerritgate/mirror/gerrit/gerrittest"
)

// A nudge from Gerrit (its webhooks plugin posting an event) makes the gate
// poll at once: with an hourly schedule, the merge is deployed anyway.
func TestNudgePollsAtOnce(t *testing.T) {
	sim := newSim(t, "MERGE_IF_NECESSARY")
	g := startGate(t, gateSetup{gerritURL: sim.url, username: "gate", password: sim.password, policy: reviewedPolicy, poll: "@every 1h"})
	g.waitDeployed(project, "prod", sim.head()) // the first poll runs at start
	a := sim.mergeApproved("A")
	time.Sleep(1500 * time.Millisecond)
	if got := g.deployed(project, "prod"); got == a {
		t.Fatalf("deployed without a nudge: the schedule is not hourly, the test proves nothing")
	}
	g.nudge()
	g.waitDeployed(project, "prod", a)
}

func (g *gateProc) nudge() {
	g.t.Helper()
	resp, err := http.Post(g.url+"/api/v1/hooks/gerrit", "application/json", strings.NewReader(`{"type":"change-merged"}`))
	if err != nil {
		g.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		g.t.Fatalf("nudge: %d", resp.StatusCode)
	}
}

// BenchmarkMergeToDeployNudged is BenchmarkMergeToDeploy with a nudge
// right after each merge and an hourly schedule: the latency when Gerrit's
// webhooks plugin points at the gate.
//
//	go test ./e2e -run '^$' -bench MergeToDeployNudged -benchtime 20x
func BenchmarkMergeToDeployNudged(b *testing.B) {
	sim := newSim(b, "MERGE_IF_NECESSARY")
	g := startGate(b, gateSetup{gerritURL: sim.url, username: "gate", password: sim.password, policy: reviewedPolicy, poll: "@every 1h"})
	g.waitDeployed(project, "prod", sim.head())
	var total, worst time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// Merges a little apart, as in life: nudged polls are spaced
		// 200ms at least, which back-to-back merges would measure instead.
		time.Sleep(300 * time.Millisecond)
		sha := sim.mergeApproved("bench")
		start := time.Now()
		g.nudge()
		g.waitDeployedFast(project, "prod", sha)
		d := time.Since(start)
		total += d
		worst = max(worst, d)
	}
	b.StopTimer()
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/merge")
	b.ReportMetric(float64(worst.Milliseconds()), "max-ms")
}

// With gerrit.eventsURL the gate follows `gerrit stream-events` and polls
// on every event: with an hourly schedule, a merge is deployed anyway.
func TestStreamEventsPollAtOnce(t *testing.T) {
	sim := newSim(t, "MERGE_IF_NECESSARY", gerrittest.WithSSH("127.0.0.1:0"))
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	block, _ := ssh.MarshalPrivateKey(priv, "gate")
	pub, _ := ssh.NewPublicKey(priv.Public())
	if err := sim.srv.AddSSHKey("gate", ssh.MarshalAuthorizedKey(pub)); err != nil {
		t.Fatal(err)
	}
	registerSecret(string(pem.EncodeToMemory(block)))
	g := startGate(t, gateSetup{gerritURL: sim.url, username: "gate", password: sim.password, policy: reviewedPolicy, poll: "@every 1h",
		sshKey: pem.EncodeToMemory(block), knownHosts: sim.srv.KnownHosts(),
		extra: "  eventsURL: ssh://gate@" + sim.srv.SSHAddr() + "\n"})
	g.waitDeployed(project, "prod", sim.head())
	waitFor(t, 10*time.Second, "the event stream to connect", func() bool {
		return strings.Contains(g.metrics(), `gerritgate_gerrit_events_total{type="stream-connected"}`)
	})
	// An event can be lost in the moment the server registers the stream
	// (as with Gerrit); merge until one gets through, as a busy Gerrit
	// would.
	var a string
	for i := 0; i < 10; i++ {
		a = sim.mergeApproved("A")
		if g.deployedWithin(project, "prod", a, 2*time.Second) {
			return
		}
	}
	t.Fatalf("deploy/prod never reached %s with an hourly poll and stream-events", a)
}

// deployedWithin reports whether deploy/<env> reaches want within d.
func (g *gateProc) deployedWithin(project, env, want string, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if g.deployed(project, env) == want {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}
