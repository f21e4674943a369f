package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gerritgate/gerritgate/gate"
	"github.com/gerritgate/gerritgate/mirror/gerrit/gerrittest"
)

const policyProject = "platform/gate-policy"

// lenientPolicy deploys what has Code-Review +2; policyV2 needs Verified
// +1 as well; brokenPolicy is policyV2 with a typo on line 9.
const lenientPolicy = `repos:
  - project: platform/fleet
    branch: main
    environments:
      - {name: prod, policy: reviewed, baseline: upstream}
policies:
  reviewed:
    labels: {Code-Review: {min: 2}}
    vetoes: {Code-Review: -2}
`

var (
	policyV2     = strings.Replace(lenientPolicy, "{min: 2}}", "{min: 2}, Verified: {min: 1}}", 1)
	brokenPolicy = strings.Replace(policyV2, "vetoes:", "vetos:", 1)
)

// reviewedStatus is the policy section of /api/v1/status.
type reviewedStatus struct {
	Project string `json:"project"`
	Commit  string `json:"commit"`
	Reason  string `json:"reason"`
	Waiting []struct {
		Commit  string `json:"commit"`
		Why     string `json:"why"`
		Message string `json:"message"`
	} `json:"waiting"`
}

func (g *gateProc) policyState() reviewedStatus {
	g.t.Helper()
	resp, err := http.Get(g.url + "/api/v1/status")
	if err != nil {
		g.t.Fatal(err)
	}
	defer resp.Body.Close()
	var s struct {
		Policy *reviewedStatus `json:"policy"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil || s.Policy == nil {
		g.t.Fatalf("status has no policy section (err %v)", err)
	}
	return *s.Policy
}

// waitPolicy waits until the reviewed policy's state satisfies ok.
func (g *gateProc) waitPolicy(what string, ok func(reviewedStatus) bool) reviewedStatus {
	g.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		p := g.policyState()
		if ok(p) {
			return p
		}
		if time.Now().After(deadline) {
			g.t.Fatalf("policy state never %s: %+v\n%s", what, p, g.log)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (g *gateProc) metricsText() string {
	g.t.Helper()
	resp, err := http.Get(g.url + "/metrics")
	if err != nil {
		g.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// The policy reviewed in Gerrit: nothing advances before an approved
// policy commit exists; an edit the policyPolicy has not approved (one
// member of gate-admins) changes no decision; once approved it decides at
// once; an approved commit that does not parse is refused with its
// file:line:col and the policy in force stays; every audit record names
// the policy commit it used; a restart finds the policy in force from its
// data directory.
func TestReviewedPolicy(t *testing.T) {
	s := newSim(t, "")
	dave := s.srv.AddAccount("dave")
	if _, err := s.srv.AddGroup("gate-admins", gerrittest.Members(s.bob, dave), gerrittest.VisibleToAll()); err != nil {
		t.Fatal(err)
	}
	s.must(s.srv.CreateProject(policyProject, "", gerrittest.WithLabels(gerrittest.CodeReview(), gerrittest.Verified())))
	policyChange := func(subject, content string) int {
		t.Helper()
		ch, err := s.srv.CreateChange(gerrittest.ChangeInput{Project: policyProject, Branch: "main", Owner: s.alice, Subject: subject, Files: map[string]string{"policy.yaml": content}})
		s.must(err)
		return ch.Number
	}
	policyHead := func() string {
		h, err := s.srv.BranchTip(policyProject, "main")
		s.must(err)
		return h
	}
	priv, pub := auditKey(t, t.TempDir(), "gate")
	g := startGate(t, gateSetup{
		gerritURL: s.url, username: "gate", password: s.password,
		policyKey: "{project: " + policyProject + ", branch: main, path: policy.yaml}",
		extra:     "policyPolicy:\n  group: gate-admins\naudit:\n  signingKey: " + priv + "\n",
	})

	// # No approved policy commit: nothing advances, and the status says why.
	fleet1 := s.mergeApproved("Add podinfo")
	g.settle()
	p := g.policyState()
	if p.Commit != "" || !strings.Contains(p.Reason, "no commit of main approved by the policyPolicy has a policy file that parses") {
		t.Errorf("before any policy commit: in force %q, reason %q; want none with a reason", p.Commit, p.Reason)
	}
	if got := g.deployed(project, "prod"); got != "" {
		t.Fatalf("deploy/prod = %s with no policy in force, want nothing", got)
	}

	// # The first policy, approved by two members of gate-admins.
	n := policyChange("Gate platform/fleet", lenientPolicy)
	vote(s, n, s.bob, "Code-Review", 2, dave, "Code-Review", 2)
	s.submitBy(n, s.bob)
	p1 := policyHead()
	g.waitPolicy("in force at P1", func(p reviewedStatus) bool { return p.Commit == p1 })
	g.waitDeployed(project, "prod", fleet1)

	// # An edit approved by one member only: waits, decides nothing.
	n2 := policyChange("Require Verified", policyV2)
	vote(s, n2, s.bob, "Code-Review", 2)
	s.submitBy(n2, s.bob)
	p2 := policyHead()
	p = g.waitPolicy("with P2 waiting", func(p reviewedStatus) bool { return len(p.Waiting) > 0 && p.Waiting[0].Commit == p2 })
	if p.Commit != p1 || p.Waiting[0].Why != "unapproved" || !strings.Contains(p.Waiting[0].Message, "2 distinct members of gate-admins") {
		t.Errorf("after an edit one admin approved: %+v; want P1 in force, P2 waiting unapproved for want of a second member", p)
	}
	n3 := s.create("Raise replicas", nil)
	s.must(s.srv.Vote(n3, s.bob, "Code-Review", 2)) // no Verified: enough under P1 only
	fleet2 := s.submit(n3)
	g.waitDeployed(project, "prod", fleet2)

	// # The second member approves it: in force at once.
	s.must(s.srv.Vote(n2, dave, "Code-Review", 2))
	g.waitPolicy("in force at P2", func(p reviewedStatus) bool { return p.Commit == p2 && len(p.Waiting) == 0 })
	n4 := s.create("Lower replicas", nil)
	s.must(s.srv.Vote(n4, s.bob, "Code-Review", 2))
	fleet3 := s.submit(n4)
	g.settle()
	if got := g.deployed(project, "prod"); got != fleet2 {
		t.Errorf("deploy/prod = %s, want it held at %s: P2 needs Verified", got, fleet2)
	}
	if e := g.env(project, "prod"); e.Reason != "NotApproved" || !strings.Contains(e.Message, "Verified") {
		t.Errorf("prod under P2: %s %q, want NotApproved for Verified", e.Reason, e.Message)
	}
	s.must(s.srv.Vote(n4, s.carol, "Verified", 1))
	g.waitDeployed(project, "prod", fleet3)

	// # An approved commit that does not parse: refused, P2 stays.
	n5 := policyChange("Typo", brokenPolicy)
	vote(s, n5, s.bob, "Code-Review", 2, dave, "Code-Review", 2)
	s.submitBy(n5, s.bob)
	p3 := policyHead()
	p = g.waitPolicy("with P3 refused", func(p reviewedStatus) bool { return len(p.Waiting) > 0 && p.Waiting[0].Commit == p3 })
	wantErr := "policy.yaml@" + p3[:12] + ":9:5: unknown field \"vetos\""
	if p.Commit != p2 || p.Waiting[0].Why != "unparsable" || !strings.Contains(p.Waiting[0].Message, wantErr) {
		t.Errorf("after a broken policy: %+v; want P2 in force and P3 unparsable with %q", p, wantErr)
	}
	n6 := s.create("Scale out", nil)
	s.must(s.srv.Vote(n6, s.bob, "Code-Review", 2))
	fleet4 := s.submit(n6)
	g.settle()
	if got := g.deployed(project, "prod"); got != fleet3 {
		t.Errorf("deploy/prod = %s, want it held at %s: P2 (needs Verified) stays in force", got, fleet3)
	}
	m := g.metricsText()
	for _, want := range []string{
		`gerritgate_policy_commit_info{branch="main",commit="` + p2 + `",path="policy.yaml",project="` + policyProject + `"} 1`,
		`gerritgate_policy_waiting{commit="` + p3 + `",why="unparsable"} 1`,
		`gerritgate_policy_ok 0`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	// # Each audit record names the policy commit it was decided under.
	dir := filepath.Join(t.TempDir(), "fleet.git")
	if out, err := git(t, "", "clone", "-q", "--bare", g.url+"/"+project+".git", dir); err != nil {
		t.Fatal(out)
	}
	for _, c := range []struct{ rev, commit string }{{"audit/prod", p2}, {"audit/prod~1", p1}} {
		rec := readRecordAt(t, dir, c.rev)
		want := gate.Source{Project: policyProject, Branch: "main", Path: "policy.yaml", Commit: c.commit}
		if rec.Policy.Source == nil || *rec.Policy.Source != want {
			t.Errorf("%s: policy source %+v, want %+v", c.rev, rec.Policy.Source, want)
		}
	}
	if out, err := runCmd(binary, "verify", "--recheck", "--key", pub, dir); err != nil {
		t.Errorf("verify --recheck: %v\n%s", err, out)
	}

	// # A restart keeps P2 in force from the data directory.
	g.stop()
	g.start()
	if p := g.policyState(); p.Commit != p2 {
		t.Errorf("after a restart the policy in force is %q, want %s", p.Commit, p2)
	}
	g.settle()
	if got := g.deployed(project, "prod"); got != fleet3 || fleet4 == fleet3 {
		t.Errorf("after a restart deploy/prod = %s, want %s", got, fleet3)
	}
}
