package e2e

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
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

	if out, err := operate("hold", "INC-9: investigating a memory leak"); err != nil || !strings.Contains(out, "held: an operator") {
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
