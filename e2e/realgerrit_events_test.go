//go:build realgerrit

package e2e

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// gerrit.eventsURL against the real server: with an hourly schedule, the
// gate deploys a merge through `gerrit stream-events` alone.
func TestRealGerritStreamEvents(t *testing.T) {
	r := newRealGerrit(t)
	port, keyFile := r.env["GERRIT_SSH_PORT"], r.env["GERRIT_GATE_SSH_KEY"]
	if port == "" || keyFile == "" {
		t.Fatalf("the env file has no GERRIT_SSH_PORT or GERRIT_GATE_SSH_KEY: run e2e/gerrit/setup.sh")
	}
	key, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	// Loopback, a server this run started: scanning its host key is pinning
	// it, as an operator copies it from the site's etc/.
	kh, err := exec.Command("ssh-keyscan", "-p", port, "-t", "ed25519,ecdsa,rsa", "127.0.0.1").Output()
	if err != nil || !strings.Contains(string(kh), "127.0.0.1") {
		t.Fatalf("ssh-keyscan: %v\n%s", err, kh)
	}
	p := r.createProject("MERGE_IF_NECESSARY")
	w := r.workspace(p)
	base := r.tip(p)
	g := startGate(t, gateSetup{
		gerritURL: r.url, username: r.env["GERRIT_GATE_USER"], password: r.env["GERRIT_GATE_PASSWORD"],
		policy: realPolicy(p, "upstream"), poll: "@every 1h",
		sshKey: key, knownHosts: string(kh),
		extra: "  eventsURL: ssh://" + r.env["GERRIT_GATE_USER"] + "@127.0.0.1:" + port + "\n",
	})
	g.waitDeployed(p, "prod", base)
	waitFor(t, 30*time.Second, "the event stream to connect", func() bool {
		return strings.Contains(g.metrics(), `gerritgate_gerrit_events_total{type="stream-connected"}`)
	})
	c := w.upload(base, "A: deployed through stream-events")
	r.approve(c)
	tip := r.submit(c)
	g.waitDeployed(p, "prod", tip)
	if !strings.Contains(g.metrics(), `gerritgate_gerrit_events_total{type="change-merged"}`) {
		t.Errorf("no change-merged event counted:\n%s", grepLines(g.metrics(), "gerrit_events"))
	}
}
