//go:build realgerrit

package e2e

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Issue 15: the policy reviewed in Gerrit, against a real Gerrit. The
// policyPolicy needs Code-Review +2 from two members of sre (alice, and
// bob through sre-leads: setup.sh), carol uploads. An edit only alice
// approved is merged (Gerrit needs one +2) and changes no decision; bob's
// +2 after submit puts it in force at once; an approved commit that does
// not parse is refused with file:line:col and the policy in force stays.
func TestRealGerritPolicyUnderReview(t *testing.T) {
	r := newRealGerrit(t)
	p := r.createProject("MERGE_IF_NECESSARY")
	pp := r.createProject("MERGE_IF_NECESSARY")
	w, wp := r.workspace(p), r.workspace(pp)
	root := r.tip(p)
	g := startGate(t, gateSetup{
		gerritURL: r.url, username: r.env["GERRIT_GATE_USER"], password: r.env["GERRIT_GATE_PASSWORD"],
		policyKey: "{project: " + pp + ", branch: main, path: policy.yaml}",
		extra:     "policyPolicy:\n  group: sre\n",
	})
	g.settle()
	if st := g.policyState(); st.Commit != "" || st.Reason == "" {
		t.Fatalf("before any policy commit: %+v, want none in force with a reason", st)
	}
	if got := g.deployed(p, "prod"); got != "" {
		t.Fatalf("deploy/prod = %s with no policy in force", got)
	}

	// # P1, approved by alice and bob: the gate starts.
	c1 := wp.uploadFile(r.tip(pp), "Gate the fleet", "policy.yaml", realPolicy(p, "upstream"))
	r.mustVote(alice, c1, map[string]int{"Code-Review": 2})
	r.mustVote(bob, c1, map[string]int{"Code-Review": 2, "Verified": 1})
	p1 := r.submit(c1)
	g.waitPolicy("in force at P1", func(s reviewedStatus) bool { return s.Commit == p1 })
	g.waitDeployed(p, "prod", root)

	// # P2 (two approvers for the fleet), approved by alice only: waits.
	strict := strings.Replace(realPolicy(p, "upstream"), "    vetoes: {Code-Review: -2}\n", "    vetoes: {Code-Review: -2}\n    approvers: 2\n", 1)
	c2 := wp.uploadFile(p1, "Two approvers", "policy.yaml", strict)
	r.mustVote(alice, c2, map[string]int{"Code-Review": 2})
	r.mustVote(bob, c2, map[string]int{"Verified": 1})
	p2 := r.submit(c2)
	st := g.waitPolicy("with P2 waiting", func(s reviewedStatus) bool { return len(s.Waiting) > 0 && s.Waiting[0].Commit == p2 })
	if st.Commit != p1 || st.Waiting[0].Why != "unapproved" {
		t.Errorf("P2 approved by alice alone: %+v, want P1 in force and P2 unapproved", st)
	}
	a := w.mergeApproved(root, "A: one approver") // alice +2: enough under P1
	g.waitDeployed(p, "prod", a)

	// # bob approves P2 after submit: in force at once.
	r.mustVote(bob, c2, map[string]int{"Code-Review": 2})
	g.waitPolicy("in force at P2", func(s reviewedStatus) bool { return s.Commit == p2 && len(s.Waiting) == 0 })
	b := w.mergeApproved(a, "B: one approver")
	st2 := stays(t, g, p, a, b)
	if approved, rules := verdict(t, st2, b); approved || !strings.Contains(rules, "needs 2 distinct accounts") {
		t.Errorf("B under P2: approved=%v %s; want refused for want of a second approver", approved, rules)
	}

	// # P3 does not parse: refused with its place, P2 stays.
	c3 := wp.uploadFile(p2, "Typo", "policy.yaml", strings.Replace(strict, "vetoes:", "vetos:", 1))
	r.mustVote(alice, c3, map[string]int{"Code-Review": 2})
	r.mustVote(bob, c3, map[string]int{"Code-Review": 2, "Verified": 1})
	p3 := r.submit(c3)
	st = g.waitPolicy("with P3 refused", func(s reviewedStatus) bool { return len(s.Waiting) > 0 && s.Waiting[0].Commit == p3 })
	if st.Commit != p2 || st.Waiting[0].Why != "unparsable" || !strings.Contains(st.Waiting[0].Message, "policy.yaml@"+p3[:12]+":") {
		t.Errorf("P3 does not parse: %+v, want P2 in force and P3 unparsable with its file:line:col", st)
	}
	stays(t, g, p, a, b)

	// The policy change gets the gate's message, like any deployment.
	deadline := time.Now().Add(30 * time.Second)
	for {
		var msgs []struct {
			Message string `json:"message"`
		}
		r.must(gateU, http.MethodGet, c2.path()+"/messages", nil, &msgs)
		found := false
		for _, m := range msgs {
			found = found || strings.Contains(m.Message, "deploy/gerritgate-policy")
		}
		if found {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no gate message on policy change %d after 30s: %+v", c2.number, msgs)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// uploadFile makes a commit as carol on base writing content to file and
// pushes it for review; it returns the new change.
func (w *workspace) uploadFile(base, subject, file, content string) change {
	w.t.Helper()
	c := change{project: w.project, changeID: "I" + randomHex(w.t, 20)}
	w.git(carol, "fetch", "-q", "origin")
	w.git(carol, "checkout", "-q", "--detach", base)
	writeFile(w.t, filepath.Join(w.dir, file), content)
	w.git(carol, "add", file)
	w.git(carol, "commit", "-q", "-m", subject+"\n\nChange-Id: "+c.changeID+"\n")
	c.sha = w.git(carol, "rev-parse", "HEAD")
	w.git(carol, "push", "-q", "origin", "HEAD:refs/for/main")
	c.number = w.changeNumber(c.changeID)
	return c
}
