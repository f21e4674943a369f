package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// timedPolicy is the example policy with the staging and prod:
// prod after staging, with a soak, windows and a freeze.
var timedPolicy = strings.Replace(reviewedPolicy, `      - name: prod
        policy: reviewed
        baseline: upstream
`, `      - name: staging
        policy: reviewed
        baseline: upstream
      - name: prod
        policy: reviewed
        baseline: upstream
        after: staging
        soak: 30m
        windows: ["* 9-16 * * MON-THU"]
        timezone: Europe/Berlin
        freezes:
          - {from: 2026-12-20T00:00:00Z, until: 2027-01-04T00:00:00Z, reason: "year-end freeze"}
`, 1)

// gerritgate check prints each environment's rules of time and order and
// the promotion order, and says serve will not take them yet; a bad rule
// exits non-zero naming file:line:column.
func TestCheckEnvironmentRules(t *testing.T) {
	useBinary(t)
	if timedPolicy == reviewedPolicy {
		t.Fatal("the example policy changed: timedPolicy no longer adds staging")
	}
	dir := t.TempDir()
	good := filepath.Join(dir, "policy.yaml")
	os.WriteFile(good, []byte(timedPolicy), 0o644)
	out, err := exec.Command(binary, "check", good).CombinedOutput()
	if err != nil {
		t.Fatalf("check of a good policy: %v\n%s", err, out)
	}
	for _, want := range []string{
		"platform/fleet main -> deploy/staging (policy reviewed, baseline upstream)\n  - merged through Gerrit submit",
		"platform/fleet main -> deploy/prod (policy reviewed, baseline upstream)\n",
		"  - after staging: only commits deploy/staging has held for at least 30m\n",
		"  - advances only inside the windows [\"* 9-16 * * MON-THU\"] in Europe/Berlin\n",
		"  - frozen from 2026-12-20T00:00:00Z until 2027-01-04T00:00:00Z: year-end freeze\n",
		"platform/fleet main promotes staging -> prod\n",
		"note: platform/fleet main -> deploy/prod set after, soak, windows or freezes, which this version checks but does not enforce yet",
		"policy OK",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("check output lacks %q:\n%s", want, out)
		}
	}
	if staging, _, _ := strings.Cut(string(out), "deploy/prod"); strings.Contains(staging, "- after ") || strings.Contains(staging, "- advances only") || strings.Contains(staging, "- frozen") {
		t.Errorf("staging has no rules of time, but check prints some:\n%s", staging)
	}
	for _, bad := range []struct{ from, to, want string }{
		{"after: staging", "after: stagin", `:14:16: environment "prod" comes after "stagin"`},
		{"        baseline: upstream\n      - name: prod", "        baseline: upstream\n        after: prod\n      - name: prod", ":11:16: after cycle staging -> prod -> staging"},
		{"soak: 30m", "soak: 30", ":15:15: soak must be a duration"},
		{"* 9-16 * * MON-THU", "* 9-16 * * MON-THUR", `:16:19: window "* 9-16 * * MON-THUR"`},
		{"timezone: Europe/Berlin", "timezone: Europe/Berlim", `:17:19: unknown timezone "Europe/Berlim"`},
		{"until: 2027-01-04T00:00:00Z", "until: 2026-12-01T00:00:00Z", ":19:49: freeze until 2026-12-01T00:00:00Z is not after from"},
	} {
		src := strings.Replace(timedPolicy, bad.from, bad.to, 1)
		if src == timedPolicy {
			t.Fatalf("replacement %q did not apply", bad.from)
		}
		path := filepath.Join(dir, "bad.yaml")
		os.WriteFile(path, []byte(src), 0o644)
		out, err := exec.Command(binary, "check", path).CombinedOutput()
		if err == nil || !strings.Contains(string(out), path+bad.want) {
			t.Errorf("check with %q: %v\n%s\nwant %s%s", bad.to, err, out, path, bad.want)
		}
	}
}

// gerritgate serve refuses a policy with rules of time or order it does
// not enforce yet, at start and on a reload, rather than deploy prod
// early.
func TestServeRefusesUnenforcedRules(t *testing.T) {
	useBinary(t)
	sim := newSim(t, "MERGE_IF_NECESSARY")
	dir := t.TempDir()
	writeGateConfig(t, dir, freeAddr(t), gateSetup{gerritURL: sim.url, username: "gate", password: sim.password, policy: timedPolicy})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, binary, "serve", "--config", filepath.Join(dir, "gerritgate.yaml")).CombinedOutput()
	if ctx.Err() != nil || err == nil || !strings.Contains(string(out), "platform/fleet main -> deploy/prod set after, soak, windows or freezes, which this version checks but does not enforce yet") {
		t.Fatalf("serve with after/windows/freezes: %v (%v)\n%s\nwant it to refuse to start", err, ctx.Err(), out)
	}

	// A reload to such a policy keeps the last good one.
	g := startGate(t, gateSetup{gerritURL: sim.url, username: "gate", password: sim.password, policy: reviewedPolicy})
	a := sim.mergeApproved("A")
	g.waitDeployed(project, "prod", a)
	if err := os.WriteFile(filepath.Join(g.dir, "policy.yaml"), []byte(timedPolicy), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 15*time.Second, "the timed policy to be refused", func() bool {
		return strings.Contains(g.metrics(), `gerritgate_reloads_total{file="policy",result="error"} 1`)
	})
	if log := g.log.String(); !strings.Contains(log, "policy reload failed; keeping the last good policy") || !strings.Contains(log, "does not enforce yet") {
		t.Errorf("log does not say the timed policy was refused:\n%s", log)
	}
	// Still the old policy: prod advances at once, no staging, no window.
	b := sim.mergeApproved("B")
	g.waitDeployed(project, "prod", b)
	if got := g.deployed(project, "staging"); got != "" {
		t.Errorf("deploy/staging = %s: the refused policy was applied", got)
	}
}

// The binary carries its own timezone data: a policy's timezone loads on
// a host without zoneinfo (a slim image). The host's zoneinfo and Go's
// are hidden in a private mount namespace; without unshare the test is
// skipped.
func TestCheckTimezoneWithoutZoneinfo(t *testing.T) {
	useBinary(t)
	if out, err := exec.Command("unshare", "-rm", "true").CombinedOutput(); err != nil {
		t.Skipf("no unprivileged mount namespace: %v %s", err, out)
	}
	goroot, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "policy.yaml")
	os.WriteFile(path, []byte(timedPolicy), 0o644)
	script := "for d in /usr/share/zoneinfo /usr/share/lib/zoneinfo /usr/lib/locale/TZ /etc/zoneinfo " + filepath.Join(strings.TrimSpace(string(goroot)), "lib", "time") + `; do
  if [ -d "$d" ]; then mount -t tmpfs none "$d" || exit 3; fi
done
[ ! -e /usr/share/zoneinfo/Europe/Berlin ] || exit 4
exec "$0" check "$1"`
	cmd := exec.Command("unshare", "-rm", "sh", "-c", script, binary, path)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")} // no ZONEINFO, no GOROOT
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "in Europe/Berlin") {
		t.Errorf("check without the host's zoneinfo: %v\n%s", err, out)
	}
}
