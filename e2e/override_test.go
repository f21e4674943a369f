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

	gogitrepo "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"

	"github.com/gerritgate/gerritgate/audit"
)

// forcePush rewrites main in Gerrit's repository: a commit on top of
// base that does not contain what came after it. It returns the commit.
func (s *sim) forcePush(base string) string {
	s.t.Helper()
	repo := s.repoDir()
	tree, err := git(s.t, "", "--git-dir", repo, "rev-parse", base+"^{tree}")
	if err != nil {
		s.t.Fatal(tree)
	}
	rewritten, err := git(s.t, "", "--git-dir", repo, "commit-tree", "-p", base, "-m", "rewritten", strings.TrimSpace(tree))
	if err != nil {
		s.t.Fatal(rewritten)
	}
	rewritten = strings.TrimSpace(rewritten)
	if out, err := git(s.t, "", "--git-dir", repo, "update-ref", "refs/heads/main", rewritten); err != nil {
		s.t.Fatal(out)
	}
	return rewritten
}

func (g *gateProc) page() string {
	g.t.Helper()
	resp, err := http.Get(g.url + "/")
	if err != nil {
		g.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// operatorCmd runs a gerritgate operator command (override, rewind)
// against the running gate's config, for prod.
func (g *gateProc) operatorCmd(cmd string, args ...string) (string, error) {
	base := []string{cmd, "--config", filepath.Join(g.dir, "gerritgate.yaml"), "--project", project, "--env", "prod", "--operator", "Olga Ops"}
	out, err := exec.Command(binary, append(base, args...)...).CombinedOutput()
	return string(out), err
}

// withProdFreeze is the example policy with prod frozen around now.
func withProdFreeze(t *testing.T) string {
	now := time.Now().UTC()
	p := strings.Replace(reviewedPolicy, "        baseline: upstream\n", fmt.Sprintf("        baseline: upstream\n        freezes:\n          - {from: %s, until: %s, reason: \"release freeze\"}\n",
		now.Add(-time.Hour).Format(time.RFC3339), now.Add(24*time.Hour).Format(time.RFC3339)), 1)
	if p == reviewedPolicy {
		t.Fatal("the example policy changed: no prod baseline line to add a freeze after")
	}
	return p
}

// Issue 12: gerritgate override moves prod once past a freeze and a
// missing approval, never off the upstream branch nor backwards without
// --rewind; prod then owes the approval (API, page, explain, metric) and
// stays where the override put it, though a later commit is approved;
// approving the overridden commit after the fact pays the debt (recorded)
// and, once the freeze ends, prod advances again. The trail verifies.
func TestOverridePastFreezeLeavesDebt(t *testing.T) {
	useBinary(t)
	key, pub := auditKey(t, t.TempDir(), "gate")
	sim := newSim(t, "MERGE_IF_NECESSARY")
	g := startGate(t, signedSetup(sim, key))
	a := sim.mergeApproved("A")
	g.waitDeployed(project, "prod", a)
	policyFile := filepath.Join(g.dir, "policy.yaml")
	if err := os.WriteFile(policyFile, []byte(withProdFreeze(t)), 0o644); err != nil {
		t.Fatal(err)
	}
	xChange, x := sim.mergeUnapproved("X: hotfix, Code-Review +1 only")
	y := sim.mergeApproved("Y: approved, after X")
	waitFor(t, 30*time.Second, "prod held by the freeze", func() bool {
		st := g.env(project, "prod")
		return st.Reason == "Held" && strings.Contains(st.Message, "release freeze")
	})
	// A commit the mirror has, on another branch: not on main.
	if out, err := git(t, "", "--git-dir", sim.repoDir(), "update-ref", "refs/heads/side", a); err != nil {
		t.Fatal(out)
	}
	side, err := sim.srv.DirectPush(project, "side", sim.carol, "S: on another branch", map[string]string{"side.yaml": "s"})
	sim.must(err)
	g.settle()

	for _, tt := range []struct {
		what string
		args []string
		want string
	}{
		{"a commit off the upstream branch", []string{"--to", side, "--reason", "r", "--ticket", "INC-77", "--expires", "1h"}, "is not on the upstream branch"},
		{"no ticket", []string{"--to", x, "--reason", "r", "--expires", "1h"}, "override needs --project, --env, --to, --reason, --ticket and --expires"},
		{"no expiry", []string{"--to", x, "--reason", "r", "--ticket", "INC-77"}, "--expires"},
		{"an expiry past the bound", []string{"--to", x, "--reason", "r", "--ticket", "INC-77", "--expires", "169h"}, "at most 168h0m0s"},
	} {
		if out, err := g.operatorCmd("override", tt.args...); err == nil || !strings.Contains(out, tt.want) {
			t.Errorf("override with %s: %v, want a refusal saying %q:\n%s", tt.what, err, tt.want, out)
		}
		if got := g.deployed(project, "prod"); got != a {
			t.Fatalf("override with %s moved deploy/prod to %s", tt.what, got)
		}
	}

	out, err := g.operatorCmd("override", "--to", x, "--reason", "INC-77: pods crash-looping", "--ticket", "INC-77", "--expires", "2h")
	if err != nil || !strings.Contains(out, "overrode deploy/prod") {
		t.Fatalf("override past the freeze: %v\n%s", err, out)
	}
	if got := g.deployed(project, "prod"); got != x {
		t.Fatalf("deploy/prod = %s after the override, want X %s", got, x)
	}
	g.settle()
	if got := g.deployed(project, "prod"); got != x {
		t.Fatalf("deploy/prod = %s after the override and two polls, want it to stay at X %s (Y %s is approved, but prod owes X's approval)", got, x, y)
	}
	st := g.env(project, "prod")
	if st.Reason != "InDebt" || st.Debt == nil || strings.Join(st.Debt.Unapproved, ",") != x || st.Debt.Ticket != "INC-77" || st.Debt.Overdue ||
		!strings.Contains(st.Debt.By, "Olga Ops") || !strings.Contains(st.Message, x[:12]) {
		t.Errorf("prod after the override: %+v %+v, want InDebt owing X %s, ticket INC-77, by Olga Ops", st, st.Debt, x)
	}
	if m := g.metrics(); !strings.Contains(m, `gerritgate_override_debt_commits{environment="prod",project="platform/fleet"} 1`) {
		t.Errorf("metrics do not count the debt:\n%s", grepLines(m, "gerritgate_override_debt"))
	}
	if page := g.page(); !strings.Contains(page, "override debt") || !strings.Contains(page, "INC-77") || !strings.Contains(page, x[:12]) {
		t.Errorf("the status page does not show the debt:\n%s", page)
	}
	explained, _ := exec.Command(binary, "explain", "--config", filepath.Join(g.dir, "gerritgate.yaml"), "--project", project, "--env", "prod").CombinedOutput()
	for _, want := range []string{"InDebt: in debt", "override debt: 1 of 1 commits not approved, owed for ", "NOT APPROVED " + x[:12], "needs Code-Review +2"} {
		if !strings.Contains(string(explained), want) {
			t.Errorf("explain prod in debt does not say %q:\n%s", want, explained)
		}
	}
	if out, err := g.operatorCmd("override", "--to", a, "--reason", "back", "--ticket", "INC-77", "--expires", "1h"); err == nil || !strings.Contains(out, "only with --rewind") {
		t.Errorf("override backwards without --rewind: %v\n%s", err, out)
	}

	sim.approve(xChange)
	waitFor(t, 30*time.Second, "the debt paid", func() bool { return g.env(project, "prod").Debt == nil })
	g.settle()
	if st := g.env(project, "prod"); st.Reason != "Held" || !strings.Contains(st.Message, "release freeze") {
		t.Errorf("prod after paying, inside the freeze: %s %q, want Held by the freeze", st.Reason, st.Message)
	}
	if got := g.deployed(project, "prod"); got != x {
		t.Fatalf("deploy/prod = %s inside the freeze after paying, want X %s: the override moved it once", got, x)
	}
	if m := g.metrics(); !strings.Contains(m, `gerritgate_override_debt_commits{environment="prod",project="platform/fleet"} 0`) {
		t.Errorf("metrics after paying:\n%s", grepLines(m, "gerritgate_override_debt"))
	}
	if err := os.WriteFile(policyFile, []byte(reviewedPolicy), 0o644); err != nil {
		t.Fatal(err)
	}
	g.waitDeployed(project, "prod", y)

	out, ok := gerritgateVerify(t, g.url+"/"+project+".git", "--key", pub, "--recheck")
	if !ok || !strings.Contains(out, "override") || !strings.Contains(out, "paid") {
		t.Errorf("verify of a trail with an override and its payment:\n%s", out)
	}
}

// An override's debt unpaid past --expires is overdue: the environment
// stays where the override put it (never reverted, never advanced), and
// the API, the page and the metrics say it is overdue.
func TestOverrideDebtOverdue(t *testing.T) {
	useBinary(t)
	sim := newSim(t, "MERGE_IF_NECESSARY")
	g := startGate(t, gateSetup{gerritURL: sim.url, username: "gate", password: sim.password, policy: reviewedPolicy})
	a := sim.mergeApproved("A")
	g.waitDeployed(project, "prod", a)
	_, x := sim.mergeUnapproved("X: Code-Review +1 only")
	y := sim.mergeApproved("Y")
	g.settle()
	const expires = 8 * time.Second
	out, err := g.operatorCmd("override", "--to", x, "--reason", "INC-78", "--ticket", "INC-78", "--expires", expires.String())
	if err != nil {
		t.Fatalf("override: %v\n%s", err, out)
	}
	if st := g.env(project, "prod"); st.Reason != "InDebt" || st.Debt == nil || st.Debt.Overdue || !strings.Contains(st.Message, "; due ") {
		t.Errorf("prod before the expiry: %+v, want InDebt, due, not overdue", st)
	}
	waitFor(t, expires+30*time.Second, "the debt to be overdue", func() bool {
		d := g.env(project, "prod").Debt
		return d != nil && d.Overdue
	})
	g.settle()
	st := g.env(project, "prod")
	if st.Reason != "InDebt" || !strings.Contains(st.Message, "OVERDUE since") || st.Debt.AgeSeconds < int64(expires/time.Second) {
		t.Errorf("prod after the expiry: %+v %+v, want InDebt, OVERDUE, aged past %s", st, st.Debt, expires)
	}
	if got := g.deployed(project, "prod"); got != x {
		t.Errorf("deploy/prod = %s after the expiry, want it to stay at X %s (not reverted to A %s, not advanced to Y %s)", got, x, a, y)
	}
	if m := g.metrics(); !strings.Contains(m, `gerritgate_override_debt_overdue{environment="prod",project="platform/fleet"} 1`) {
		t.Errorf("metrics do not flag the overdue debt:\n%s", grepLines(m, "gerritgate_override_debt"))
	}
	if page := g.page(); !strings.Contains(page, "OVERDUE since") {
		t.Errorf("the status page does not flag the overdue debt:\n%s", page)
	}
}

// Issue 12: after a force-push rewrote main, prod is Diverged; gerritgate
// rewind moves it to a commit of the new history (not to one off it),
// recorded with the old tip, and prod is gated again from there. verify
// accepts the trail, and rejects it when the rewind's record is turned
// into an adoption, even signed by the service's key.
func TestRewindAfterForcePush(t *testing.T) {
	useBinary(t)
	key, pub := auditKey(t, t.TempDir(), "gate")
	sim := newSim(t, "MERGE_IF_NECESSARY")
	g := startGate(t, signedSetup(sim, key))
	base := sim.head()
	a := sim.mergeApproved("A")
	g.waitDeployed(project, "prod", a)

	rewritten := sim.forcePush(base)
	waitFor(t, 30*time.Second, "prod to diverge", func() bool { return g.env(project, "prod").Reason == "Diverged" })

	if out, err := g.operatorCmd("rewind", "--to", a, "--reason", "main was force-pushed", "--ticket", "CHG-9"); err == nil || !strings.Contains(out, "is not on the upstream branch") {
		t.Errorf("rewind to the old history: %v\n%s", err, out)
	}
	if out, err := g.operatorCmd("rewind", "--to", rewritten, "--reason", "main was force-pushed"); err == nil || !strings.Contains(out, "--ticket") {
		t.Errorf("rewind without a ticket: %v\n%s", err, out)
	}
	out, err := g.operatorCmd("rewind", "--to", rewritten, "--reason", "main was force-pushed", "--ticket", "CHG-9")
	if err != nil || !strings.Contains(out, "rewound deploy/prod from "+a[:12]) {
		t.Fatalf("rewind: %v\n%s", err, out)
	}
	if got := g.deployed(project, "prod"); got != rewritten {
		t.Fatalf("deploy/prod = %s after the rewind, want %s", got, rewritten)
	}
	b := sim.mergeApproved("B, after the rewind")
	g.waitDeployed(project, "prod", b)
	_, c := sim.mergeUnapproved("C: Code-Review +1 only")
	g.settle()
	if got := g.deployed(project, "prod"); got != b {
		t.Fatalf("deploy/prod = %s, want it to stay at B %s: C %s is not approved", got, b, c)
	}

	out, ok := gerritgateVerify(t, g.url+"/"+project+".git", "--key", pub, "--recheck")
	if !ok || !strings.Contains(out, "rewind") || !strings.Contains(out, "ticket CHG-9") {
		t.Fatalf("verify of a trail with a rewind (and its ticket):\n%s", out)
	}

	// The same move recorded as an adoption: a non-forward move without
	// the rewind record.
	dir := filepath.Join(t.TempDir(), "c")
	if out, err := git(t, "", "clone", "-q", g.url+"/"+project+".git", dir); err != nil {
		t.Fatalf("git clone: %v\n%s", err, out)
	}
	r, err := gogitrepo.PlainOpen(dir)
	if err != nil {
		t.Fatal(err)
	}
	tip, err := r.Reference("refs/remotes/origin/audit/prod", true)
	if err != nil {
		t.Fatal(err)
	}
	chain, err := audit.Chain(r.Storer, tip.Hash())
	if err != nil {
		t.Fatal(err)
	}
	signer, err := audit.LoadSigner(key)
	if err != nil {
		t.Fatal(err)
	}
	parent, forged := plumbing.ZeroHash, false
	for _, c := range chain {
		rec := readRecord(t, c)
		if rec.Kind == audit.Rewind {
			rec.Kind, forged = audit.Adopt, true
		}
		parent = rewrite(t, r, rec, parent, signer)
	}
	if !forged {
		t.Fatalf("the trail has no rewind record")
	}
	if out, err := git(t, dir, "update-ref", "refs/remotes/origin/audit/prod", parent.String()); err != nil {
		t.Fatal(out)
	}
	if out, ok := gerritgateVerify(t, dir, "--key", pub); ok || !strings.Contains(out, "the step is not a fast-forward") {
		t.Errorf("verify of a trail whose rewind is recorded as an adoption: ok=%v\n%s", ok, out)
	}
}
