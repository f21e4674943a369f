package e2e

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gerritgate/gerritgate/mirror/gerrit/gerrittest"
)

// A nudge from Gerrit (its webhooks plugin posting an event) makes the gate
// poll at once: with an hourly schedule, the merge is deployed anyway.
func TestNudgePollsAtOnce(t *testing.T) {
	sim := newSim(t, "MERGE_IF_NECESSARY")
	g := startGate(t, gateSetup{gerritURL: sim.url, username: "gate", password: sim.password, policy: reviewedPolicy, poll: "@every 1h", webhookSecret: "hook-" + randomHex(t, 16)})
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
	if code := g.postNudge("/api/v1/hooks/gerrit", "Bearer "+g.hook); code != http.StatusAccepted {
		g.t.Fatalf("nudge: %d", code)
	}
}

// postNudge posts an event to path with an Authorization header (if not
// empty) and returns the status.
func (g *gateProc) postNudge(path, authorization string) int {
	g.t.Helper()
	req, _ := http.NewRequest("POST", g.url+path, strings.NewReader(`{"type":"change-merged"}`))
	req.Header.Set("Content-Type", "application/json")
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		g.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// randomHex returns n random bytes as hex.
func randomHex(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// Attack 7: a nudge without the webhook secret is refused and polls
// nothing; one source gets a few nudges a second at most; the secret in
// the path (all Gerrit's webhooks plugin can send) works.
func TestNudgeNeedsSecretAndIsRateLimited(t *testing.T) {
	sim := newSim(t, "MERGE_IF_NECESSARY")
	g := startGate(t, gateSetup{gerritURL: sim.url, username: "gate", password: sim.password, policy: reviewedPolicy, poll: "@every 1h", webhookSecret: "hook-" + randomHex(t, 16)})
	g.waitDeployed(project, "prod", sim.head())
	a := sim.mergeApproved("A")
	for _, auth := range []string{"", "Bearer wrong", "Basic " + base64.StdEncoding.EncodeToString([]byte("x:"+g.hook))} {
		if code := g.postNudge("/api/v1/hooks/gerrit", auth); code != http.StatusUnauthorized {
			t.Errorf("nudge with Authorization %.12q...: %d, want 401", auth, code)
		}
	}
	if code := g.postNudge("/api/v1/hooks/gerrit/wrong", ""); code != http.StatusUnauthorized {
		t.Errorf("nudge with a wrong secret in the path: %d, want 401", code)
	}
	time.Sleep(1500 * time.Millisecond)
	if got := g.deployed(project, "prod"); got == a {
		t.Fatal("unauthenticated nudges made the gate poll")
	}
	// Past the burst the same source is told to slow down, secret or not.
	limited := false
	for i := 0; i < 20 && !limited; i++ {
		limited = g.postNudge("/api/v1/hooks/gerrit", "Bearer wrong") == http.StatusTooManyRequests
	}
	if !limited {
		t.Error("20 nudges at once from one source were never answered 429")
	}
	time.Sleep(1100 * time.Millisecond)
	if code := g.postNudge("/api/v1/hooks/gerrit/"+g.hook, ""); code != http.StatusAccepted {
		t.Fatalf("nudge with the secret in the path: %d, want 202", code)
	}
	g.waitDeployed(project, "prod", a)
}

// BenchmarkMergeToDeployNudged is BenchmarkMergeToDeploy with a nudge
// right after each merge and an hourly schedule: the latency when Gerrit's
// webhooks plugin points at the gate.
//
//	go test ./e2e -run '^$' -bench MergeToDeployNudged -benchtime 20x
func BenchmarkMergeToDeployNudged(b *testing.B) {
	sim := newSim(b, "MERGE_IF_NECESSARY")
	g := startGate(b, gateSetup{gerritURL: sim.url, username: "gate", password: sim.password, policy: reviewedPolicy, poll: "@every 1h", webhookSecret: "hook-" + randomHex(b, 16)})
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
	g := startGate(t, gateSetup{gerritURL: sim.url, username: "gate", password: sim.password, policy: reviewedPolicy, poll: "@every 1h",
		sshKey: sim.sshKey(t), knownHosts: sim.srv.KnownHosts(),
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
	return within(d, 50*time.Millisecond, func() bool { return g.deployed(project, env) == want })
}
