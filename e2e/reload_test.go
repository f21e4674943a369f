package e2e

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The policy is reloaded without a restart; a broken edit keeps the last
// good policy in force and is counted.
func TestPolicyHotReload(t *testing.T) {
	sim := newSim(t, "MERGE_IF_NECESSARY")
	g := startGate(t, sim.setup(reviewedPolicy))
	a := sim.mergeApproved("A")
	g.waitDeployed(project, "prod", a)
	_, c := sim.mergeUnapproved("C: Code-Review +1 only")
	g.settle()
	if got := g.deployed(project, "prod"); got != a {
		t.Fatalf("deploy/prod = %s before the edit, want %s", got, a)
	}

	policyFile := filepath.Join(g.dir, "policy.yaml")
	// A broken edit first: nothing changes, the error is counted.
	broken := strings.Replace(reviewedPolicy, "Code-Review: {min: 2}", "Code-Review: {min: 1}, Bogus: {mni: 1}", 1)
	if err := os.WriteFile(policyFile, []byte(broken), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 15*time.Second, "the broken policy to be counted", func() bool {
		return strings.Contains(g.metrics(), `gerritgate_reloads_total{file="policy",result="error"} 1`)
	})
	g.settle()
	if got := g.deployed(project, "prod"); got != a {
		t.Fatalf("deploy/prod = %s after a broken policy edit, want %s", got, a)
	}
	if !strings.Contains(g.log.String(), "keeping the last good policy") {
		t.Errorf("log does not say the broken policy was refused")
	}
	if m := g.metrics(); !strings.Contains(m, "gerritgate_policy_ok 0") {
		t.Errorf("after a broken edit, /metrics does not say gerritgate_policy_ok 0:\n%s", grepLines(m, "gerritgate_"))
	}

	// A good edit that accepts Code-Review +1 lets C through.
	relaxed := strings.Replace(reviewedPolicy, "Code-Review: {min: 2}", "Code-Review: {min: 1}", 1)
	if err := os.WriteFile(policyFile, []byte(relaxed), 0o644); err != nil {
		t.Fatal(err)
	}
	g.waitDeployed(project, "prod", c)
	if m := g.metrics(); !strings.Contains(m, "gerritgate_policy_ok 1") {
		t.Errorf("after a good edit, /metrics does not say gerritgate_policy_ok 1:\n%s", grepLines(m, "gerritgate_"))
	}
}

// A deleted policy file keeps the last good policy in force, and says so
// in the log and the error count instead of silently doing nothing.
func TestPolicyFileDeletedIsReported(t *testing.T) {
	sim := newSim(t, "MERGE_IF_NECESSARY")
	g := startGate(t, sim.setup(reviewedPolicy))
	a := sim.mergeApproved("A")
	g.waitDeployed(project, "prod", a)
	if err := os.Remove(filepath.Join(g.dir, "policy.yaml")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 15*time.Second, "the missing policy file to be reported", func() bool {
		return strings.Contains(g.log.String(), "policy file unreadable; keeping the last good policy")
	})
	if m := g.metrics(); !strings.Contains(m, `gerritgate_reloads_total{file="policy",result="error"} 1`) {
		t.Errorf("a missing policy file is not counted as a failed reload (once):\n%s", m)
	}
	b := sim.mergeApproved("B")
	g.waitDeployed(project, "prod", b)
}

func (g *gateProc) metrics() string {
	resp, err := http.Get(g.url + "/metrics")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
