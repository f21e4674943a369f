package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// timedPolicy is the example policy with the staging and prod:
// prod after staging, with a soak, windows and a freeze.
var timedPolicy = withStaging(`        after: staging
        soak: 30m
        windows: ["* 9-16 * * MON-THU"]
        timezone: Europe/Berlin
        freezes:
          - {from: 2026-12-20T00:00:00Z, until: 2027-01-04T00:00:00Z, reason: "year-end freeze"}
`)

// withStaging is the example policy with a staging environment before
// prod, and prodRules (YAML lines of prod's entry) added to prod.
func withStaging(prodRules string) string {
	return strings.Replace(reviewedPolicy, `      - name: prod
        policy: reviewed
        baseline: upstream
`, `      - name: staging
        policy: reviewed
        baseline: upstream
      - name: prod
        policy: reviewed
        baseline: upstream
`+prodRules, 1)
}

// gerritgate check prints each environment's rules of time and order and
// the environment graph; a bad rule
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
		"  └─ prod (policy reviewed, after staging, soak 30m",
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

// soakPolicy has prod after staging with a soak of 8s: long enough to
// see the hold in the API and in explain under load.
var soakPolicy = withStaging(`        after: staging
        soak: 8s
`)

// Prod, after staging with a soak, moves to a commit only once
// deploy/staging has held it for the soak (by the audit trail's times),
// and says meanwhile, in the API and in explain, that it is held and until
// when.
func TestProdWaitsForStagingSoak(t *testing.T) {
	useBinary(t)
	const soak = 8 * time.Second
	const held = "soaks on deploy/staging; until"
	sim := newSim(t, "MERGE_IF_NECESSARY")
	g := startGate(t, sim.setup(soakPolicy))
	root := sim.head()
	g.waitDeployed(project, "prod", root)
	a := sim.mergeApproved("A")
	g.waitDeployed(project, "staging", a)
	var prod envStatus
	var out string // explain's
	defer func() {
		if t.Failed() {
			t.Logf("last prod status: %s %q until %s; last explain prod:\n%s", prod.Reason, prod.Message, prod.Until, out)
		}
	}()
	waitFor(t, soak, "the API to say prod is Held while A soaks on staging, with an end", func() bool {
		prod = g.env(project, "prod")
		return prod.Reason == "Held" && !prod.Until.IsZero() && strings.Contains(prod.Message, held)
	})
	if got := g.deployed(project, "prod"); got == a {
		t.Fatalf("deploy/prod reached %s while the API says it is held: %q", a, prod.Message)
	}
	waitFor(t, time.Until(prod.Until), "explain to say prod is Held while A soaks on staging", func() bool {
		b, _ := exec.Command(binary, "explain", "--config", filepath.Join(g.dir, "gerritgate.yaml"), "--project", project, "--env", "prod").CombinedOutput()
		out = string(b)
		return strings.Contains(out, "Held: ") && strings.Contains(out, held)
	})
	g.waitDeployed(project, "prod", a)

	dir := g.cloneServed(t, project)
	staging, prodRec := readRecordAt(t, dir, "origin/audit/staging"), readRecordAt(t, dir, "origin/audit/prod")
	if staging.To != a || prodRec.To != a {
		t.Fatalf("last records: staging to %s, prod to %s, want both %s", staging.To, prodRec.To, a)
	}
	if held := prodRec.Time.Sub(staging.Time); held < soak {
		t.Errorf("deploy/prod moved to A %s after deploy/staging did, want at least the soak %s", held, soak)
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

// Inside a freeze, or outside every window, an environment is held: the
// API, the status page and explain say why and until when, and nothing
// moves.
func TestFreezeAndWindowHold(t *testing.T) {
	useBinary(t)
	now := time.Now().UTC()
	from, until := now.Add(-time.Hour).Truncate(time.Second), now.Add(time.Hour).Truncate(time.Second)
	// A window in the hour twelve hours from now: closed now, whatever
	// the time of day.
	closed := (now.Hour() + 12) % 24
	policy := strings.Replace(withStaging(fmt.Sprintf(`        freezes:
          - {from: %s, until: %s, reason: "release freeze"}
`, from.Format(time.RFC3339), until.Format(time.RFC3339))), `      - name: staging
        policy: reviewed
        baseline: upstream
`, fmt.Sprintf(`      - name: staging
        policy: reviewed
        baseline: upstream
        windows: ["* %d * * *"]
        timezone: UTC
`, closed), 1)
	sim := newSim(t, "MERGE_IF_NECESSARY")
	g := startGate(t, sim.setup(policy))
	sim.mergeApproved("A")
	g.settle()
	for _, tt := range []struct{ env, msg, until string }{
		{"prod", `inside freeze "release freeze"`, until.Format(time.RFC3339)},
		{"staging", fmt.Sprintf(`outside the deploy windows ["* %d * * *"] in UTC`, closed), ""},
	} {
		st := g.env(project, tt.env)
		if st.Reason != "Held" || !strings.Contains(st.Message, tt.msg) || st.Until.IsZero() || (tt.until != "" && !strings.Contains(st.Message, "until "+tt.until)) {
			t.Errorf("%s: %s %q until %s, want Held: %s, until %s", tt.env, st.Reason, st.Message, st.Until, tt.msg, tt.until)
		}
		if got := g.deployed(project, tt.env); got != "" {
			t.Errorf("deploy/%s = %s while held", tt.env, got)
		}
		out, _ := exec.Command(binary, "explain", "--config", filepath.Join(g.dir, "gerritgate.yaml"), "--project", project, "--env", tt.env).CombinedOutput()
		if !strings.Contains(string(out), "Held: ") || !strings.Contains(string(out), tt.msg) {
			t.Errorf("explain %s:\n%s", tt.env, out)
		}
	}
	resp, err := http.Get(g.url + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(page), `class="Held">Held<`) || !strings.Contains(string(page), "release freeze") {
		t.Errorf("status page does not show the hold:\n%s", page)
	}
}
