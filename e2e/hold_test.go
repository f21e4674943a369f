package e2e

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// gerritgate hold, beside the running service, pins prod at its commit
// across a restart, with the operator's reason in the API; release lets
// it move again; both are on the signed audit trail, which verifies.
func TestHoldAndReleaseBesideTheService(t *testing.T) {
	useBinary(t)
	key, pub := auditKey(t, t.TempDir(), "gate")
	sim := newSim(t, "MERGE_IF_NECESSARY")
	g := startGate(t, signedSetup(sim, key))
	a := sim.mergeApproved("A")
	g.waitDeployed(project, "prod", a)
	cfg := filepath.Join(g.dir, "gerritgate.yaml")
	operate := func(action, reason string) (string, error) {
		out, err := exec.Command(binary, action, "--config", cfg, "--project", project, "--env", "prod", "--reason", reason).CombinedOutput()
		return string(out), err
	}

	if out, err := operate("hold", "INC-9: investigating a memory leak"); err != nil || !strings.Contains(out, "an operator (") {
		t.Fatalf("hold: %v\n%s", err, out)
	}
	b := sim.mergeApproved("B")
	for _, phase := range []string{"held", "held after a restart"} {
		if phase == "held after a restart" {
			g.stop()
			g.start()
		}
		g.settle()
		if got := g.deployed(project, "prod"); got != a {
			t.Fatalf("%s: deploy/prod = %s, want it pinned at A %s", phase, got, a)
		}
		if st := g.env(project, "prod"); st.Reason != "Held" || !strings.Contains(st.Message, "INC-9: investigating a memory leak") || !strings.Contains(st.Message, "gerritgate release") {
			t.Errorf("%s: status %s %q, want Held with the operator's reason", phase, st.Reason, st.Message)
		}
	}
	if out, err := operate("hold", "again"); err == nil || !strings.Contains(out, "held already") {
		t.Errorf("a second hold: %v\n%s", err, out)
	}
	if out, err := operate("release", "INC-9 resolved"); err != nil || !strings.Contains(out, "released") {
		t.Fatalf("release: %v\n%s", err, out)
	}
	g.waitDeployed(project, "prod", b)

	out, ok := gerritgateVerify(t, g.url+"/"+project+".git", "--key", pub)
	if !ok || !strings.Contains(out, "hold") || !strings.Contains(out, "release") {
		t.Errorf("verify of a trail with a hold and a release:\n%s", out)
	}
}

// With access control on and polls an hour apart, gerritgate hold beside
// the running service is applied at once: the service notices the request
// file itself (the CLI's old HTTP nudge was refused by access control and
// the webhook secret, and the request waited for the next poll).
func TestHoldIsNoticedWithoutAPoll(t *testing.T) {
	useBinary(t)
	sim := newSim(t, "MERGE_IF_NECESSARY")
	a := sim.mergeApproved("A") // deployed by the poll at start, the only scheduled one
	fluxR := newReader(t, "flux-prod")
	g := startAccessGateWith(t, sim, "readers:\n"+fluxR.entry(`"platform/fleet"`, ""), gateSetup{poll: "@every 1h", webhookSecret: "hook-secret-for-the-hold-test"})
	g.waitDeployedAs(fluxR, project, a)

	start := time.Now()
	out, err := exec.Command(binary, "hold", "--config", filepath.Join(g.dir, "gerritgate.yaml"), "--project", project, "--env", "prod",
		"--reason", "INC-11: freeze", "--wait", "60s").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "an operator (") {
		t.Fatalf("hold beside a service polling hourly, after %s: %v\n%s", time.Since(start).Round(time.Second), err, out)
	}
	if !strings.Contains(g.log.String(), "operator request waiting; polling now") {
		t.Errorf("the service did not say it polled for the request file:\n%s", g.log)
	}
	b := sim.mergeApproved("B")
	if out, err := exec.Command(binary, "release", "--config", filepath.Join(g.dir, "gerritgate.yaml"), "--project", project, "--env", "prod",
		"--reason", "INC-11 over", "--wait", "60s").CombinedOutput(); err != nil {
		t.Fatalf("release: %v\n%s", err, out)
	}
	// The poll the release started fetched B and advanced to it.
	g.waitDeployedAs(fluxR, project, b)
}
