package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gerritgate/gerritgate/mirror/gerrit/gerrittest"
)

// gerritgate check: a good policy prints what each environment requires and
// exits 0; a bad one exits non-zero naming file:line:column.
func TestCheckCommand(t *testing.T) {
	useBinary(t)
	dir := t.TempDir()
	good := filepath.Join(dir, "policy.yaml")
	os.WriteFile(good, []byte(strictPolicy), 0o644)
	out, err := exec.Command(binary, "check", good).CombinedOutput()
	if err != nil {
		t.Fatalf("check of a good policy: %v\n%s", err, out)
	}
	for _, want := range []string{"platform/fleet main -> deploy/prod (policy strict", "needs Code-Review +2 or more from 2 distinct accounts",
		"changes to clusters/prod/** need Code-Review +2 or more from a member of sre", "policy OK"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("check output lacks %q:\n%s", want, out)
		}
	}
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte(strings.Replace(strictPolicy, "policy: strict", "policy: strcit", 1)), 0o644)
	out, err = exec.Command(binary, "check", bad).CombinedOutput()
	if err == nil || !strings.Contains(string(out), bad+":5:") || !strings.Contains(string(out), `undefined policy "strcit"`) {
		t.Errorf("check of a bad policy: %v\n%s", err, out)
	}
}

// gerritgate check prints each repo entry's environment graph: every
// environment under the one it comes after, with its policy and rules of
// time and order (issue 12, done-means 4).
func TestCheckPrintsEnvironmentGraph(t *testing.T) {
	useBinary(t)
	policy := filepath.Join(t.TempDir(), "policy.yaml")
	os.WriteFile(policy, []byte(timedPolicy), 0o644)
	out, err := exec.Command(binary, "check", policy).CombinedOutput()
	if err != nil {
		t.Fatalf("check of a good policy: %v\n%s", err, out)
	}
	want := `platform/fleet main environments, each under the one it comes after:
  staging (policy reviewed)
  └─ prod (policy reviewed, after staging, soak 30m, windows ["* 9-16 * * MON-THU"] in Europe/Berlin, freeze 2026-12-20T00:00:00Z until 2027-01-04T00:00:00Z: year-end freeze)
policy OK
`
	if !strings.HasSuffix(string(out), want) {
		t.Errorf("check output does not end with the environment graph\n%s\ngot:\n%s", want, out)
	}
}

// Every command that takes flags (all but version) prints its usage for
// --help (or -h) and exits 0, and does nothing else: check does not take
// --help for a file, serve and demo start nothing and exit, and nothing
// writes a file (key new no key, token new no token).
func TestSubcommandHelp(t *testing.T) {
	useBinary(t)
	dir := t.TempDir()
	for _, args := range [][]string{
		{"check", "--help"}, {"check", "-h"}, {"serve", "--help"}, {"demo", "--help"}, {"explain", "--help"},
		{"adopt", "--help"}, {"hold", "--help"}, {"release", "--help"}, {"verify", "--help"}, {"key", "--help"},
		{"key", "new", "--help"}, {"token", "--help"}, {"token", "new", "-h"}, {"--help"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // a command that started would not exit
		cmd := exec.CommandContext(ctx, binary, args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		cancel()
		if err != nil || !strings.Contains(strings.ToLower(string(out)), "usage") || strings.Contains(string(out), "no such file") {
			t.Errorf("gerritgate %s: %v, want exit 0 with its usage:\n%s", strings.Join(args, " "), err, out)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("--help wrote %d files in the working directory, want none (first %s)", len(entries), entries[0].Name())
	}
	out, err := exec.Command(binary, "check", "--strict").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "check takes no flags") {
		t.Errorf("check --strict: %v, want a refusal naming the flag:\n%s", err, out)
	}
}

// The pre-submit job README shows (examples/ci/check-policy.sh) in a
// checkout of a policy change's patch set, fetched from Gerrit as CI
// fetches it: a policy that parses passes, one that does not fails
// (non-zero) naming policy.yaml:line:column.
func TestCheckAsPreSubmitJob(t *testing.T) {
	useBinary(t)
	s := newSim(t, "")
	s.must(s.srv.CreateProject(policyProject, "", gerrittest.WithLabels(gerrittest.CodeReview(), gerrittest.Verified())))
	script, err := filepath.Abs("../examples/ci/check-policy.sh")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		what, content string
		pass          bool
		want          string
	}{
		{"good", lenientPolicy, true, "policy OK"},
		{"broken", brokenPolicy, false, "policy.yaml:9:5: unknown field \"vetos\""},
	} {
		ch, err := s.srv.CreateChange(gerrittest.ChangeInput{Project: policyProject, Branch: "main", Owner: s.alice, Subject: tt.what, Files: map[string]string{"policy.yaml": tt.content}})
		s.must(err)
		dir := filepath.Join(t.TempDir(), "checkout")
		for _, args := range [][]string{
			{"clone", "-q", s.srv.RepoDir(policyProject), dir},
			{"-C", dir, "fetch", "-q", "origin", ch.PatchSets[len(ch.PatchSets)-1].Ref},
			{"-C", dir, "checkout", "-q", "FETCH_HEAD"},
		} {
			if out, err := git(t, "", args...); err != nil {
				t.Fatalf("%s: git %v: %v\n%s", tt.what, args, err, out)
			}
		}
		cmd := exec.Command("sh", script)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GERRITGATE="+binary)
		out, err := cmd.CombinedOutput()
		if (err == nil) != tt.pass || !strings.Contains(string(out), tt.want) {
			t.Errorf("%s policy: check-policy.sh err = %v, want pass %v and output with %q:\n%s", tt.what, err, tt.pass, tt.want, out)
		}
	}
}
