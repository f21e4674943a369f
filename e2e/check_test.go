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
