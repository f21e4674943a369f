package e2e

import (
	"strings"
	"testing"

	"github.com/gerritgate/gerritgate/gate"
	"github.com/gerritgate/gerritgate/mirror/gerrit/gerrittest"
)

const strictPolicy = `repos:
  - project: platform/fleet
    branch: main
    environments:
      - {name: prod, policy: strict, baseline: upstream}
policies:
  reviewed:
    labels: {Code-Review: {min: 2}, Verified: {min: 1}}
    vetoes: {Code-Review: -2, Verified: -1}
    submitRequirements: satisfied
    selfApproval: false
  strict:
    extends: reviewed
    approvers: 2
    owners:
      - paths: ["clusters/prod/**"]
        groups: ["sre"]
`

// Every rule of the policy language, end to end through the binary: one
// change per case, merged on a fresh simulated Gerrit; the gate either
// deploys it or stops before it with that rule failing.
func TestPolicyRulesEndToEnd(t *testing.T) {
	type people struct{ alice, bob, carol, dave, ci gate.Account }
	tests := []struct {
		what       string
		submitType string
		reqs       []gerrittest.Requirement
		files      map[string]string
		act        func(s *sim, p people, n int) // votes and submits change n (by alice)
		deploys    bool
		failing    string // rule name that must fail
	}{
		{"two approvers, CI, no owned files", "", nil, nil, func(s *sim, p people, n int) {
			vote(s, n, p.bob, "Code-Review", 2, p.carol, "Code-Review", 2, p.ci, "Verified", 1)
			s.submitBy(n, p.bob)
		}, true, ""},
		{"one approver", "", nil, nil, func(s *sim, p people, n int) {
			vote(s, n, p.bob, "Code-Review", 2, p.ci, "Verified", 1)
			s.submitBy(n, p.bob)
		}, false, gate.RuleApprovers},
		{"self-approval does not count", "", nil, nil, func(s *sim, p people, n int) {
			vote(s, n, p.alice, "Code-Review", 2, p.bob, "Code-Review", 2, p.ci, "Verified", 1)
			s.submitBy(n, p.bob)
		}, false, gate.RuleApprovers},
		{"owned path without an owner's vote", "", nil, map[string]string{"clusters/prod/app.yaml": "x"}, func(s *sim, p people, n int) {
			vote(s, n, p.bob, "Code-Review", 2, p.carol, "Code-Review", 2, p.ci, "Verified", 1)
			s.submitBy(n, p.bob)
		}, false, gate.RuleOwners},
		{"owned path with an sre member's vote", "", nil, map[string]string{"clusters/prod/app.yaml": "x"}, func(s *sim, p people, n int) {
			vote(s, n, p.bob, "Code-Review", 2, p.dave, "Code-Review", 2, p.ci, "Verified", 1)
			s.submitBy(n, p.bob)
		}, true, ""},
		{"Verified veto", "", nil, nil, func(s *sim, p people, n int) {
			vote(s, n, p.bob, "Code-Review", 2, p.carol, "Code-Review", 2, p.ci, "Verified", -1, p.dave, "Verified", 1)
			s.submitBy(n, p.bob)
		}, false, "veto Verified"},
		{"unsatisfied submit requirement", "", []gerrittest.Requirement{gerrittest.CodeReviewRequirement(),
			{Name: "Security-Review", Submittability: "label:Verified=MIN"}}, nil, func(s *sim, p people, n int) {
			vote(s, n, p.bob, "Code-Review", 2, p.carol, "Code-Review", 2, p.ci, "Verified", 1)
			s.submitBy(n, p.bob)
		}, false, gate.RuleRequirements},
		{"rebase-always submit: approvals copied onto the submitter's patch set", gerrittest.RebaseAlways, nil, nil, func(s *sim, p people, n int) {
			vote(s, n, p.bob, "Code-Review", 2, p.carol, "Code-Review", 2, p.ci, "Verified", 1)
			s.submitBy(n, p.bob)
		}, true, ""},
		{"cherry-pick submit", gerrittest.CherryPick, nil, nil, func(s *sim, p people, n int) {
			vote(s, n, p.bob, "Code-Review", 2, p.carol, "Code-Review", 2, p.ci, "Verified", 1)
			s.submitBy(n, p.bob)
		}, true, ""},
		{"rework after the votes", "", nil, nil, func(s *sim, p people, n int) {
			vote(s, n, p.bob, "Code-Review", 2, p.carol, "Code-Review", 2, p.ci, "Verified", 1)
			if _, err := s.srv.NewPatchSet(n, p.alice, gerrittest.PatchSetInput{Files: map[string]string{"sneaky.yaml": "x"}}); err != nil {
				s.t.Fatal(err)
			}
			s.submitBy(n, p.bob)
		}, false, "label Code-Review"},
		{"a reviewer who pressed Rebase (uploader of a TRIVIAL_REBASE) and then voted counts", "", nil, nil, func(s *sim, p people, n int) {
			first := s.create("lands first", nil)
			vote(s, first, p.bob, "Code-Review", 2, p.carol, "Code-Review", 2, p.ci, "Verified", 1)
			s.submitBy(first, p.bob)
			ch, err := s.srv.NewPatchSet(n, p.carol, gerrittest.PatchSetInput{Rebase: true})
			s.must(err)
			if ps := ch.PatchSets[len(ch.PatchSets)-1]; ps.Kind != "TRIVIAL_REBASE" || ps.Uploader.ID != p.carol.ID {
				s.t.Fatalf("premise: carol's rebase should be a TRIVIAL_REBASE she uploaded, got %+v", ps)
			}
			vote(s, n, p.bob, "Code-Review", 2, p.carol, "Code-Review", 2, p.ci, "Verified", 1)
			s.submitBy(n, p.bob)
		}, true, ""},
		{"a reviewer's code kept by the owner's next rework: the reviewer does not count", "", nil, nil, func(s *sim, p people, n int) {
			_, err := s.srv.NewPatchSet(n, p.carol, gerrittest.PatchSetInput{Files: map[string]string{"apps/carol.yaml": "image: carol/own\n"}})
			s.must(err)
			_, err = s.srv.NewPatchSet(n, p.alice, gerrittest.PatchSetInput{Files: map[string]string{"apps/alice.yaml": "x\n"}})
			s.must(err)
			vote(s, n, p.bob, "Code-Review", 2, p.carol, "Code-Review", 2, p.ci, "Verified", 1)
			s.submitBy(n, p.bob)
		}, false, gate.RuleApprovers},
		{"a Verified -1 on patch set 1 that the rework dropped still vetoes", "", nil, nil, func(s *sim, p people, n int) {
			vote(s, n, p.dave, "Verified", -1)
			_, err := s.srv.NewPatchSet(n, p.alice, gerrittest.PatchSetInput{Files: map[string]string{"apps/fix.yaml": "x\n"}})
			s.must(err)
			vote(s, n, p.bob, "Code-Review", 2, p.carol, "Code-Review", 2, p.ci, "Verified", 1)
			s.submitBy(n, p.bob)
		}, false, "veto Verified"},
		{"a reviewer's forged 'successfully pushed' message does not block", "", nil, nil, func(s *sim, p people, n int) {
			vote(s, n, p.bob, "Code-Review", 2, p.carol, "Code-Review", 2, p.ci, "Verified", 1)
			s.submitBy(n, p.bob)
			s.must(s.srv.Review(n, p.dave, gerrittest.ReviewInput{Tag: "autogenerated:gerrit:merged", Message: "Change has been successfully pushed."}))
		}, true, ""},
		{"merged by push", "", nil, nil, func(s *sim, p people, n int) {
			vote(s, n, p.bob, "Code-Review", 2, p.carol, "Code-Review", 2, p.ci, "Verified", 1)
			if _, err := s.srv.MergeByPush(n, p.carol); err != nil {
				s.t.Fatal(err)
			}
		}, false, gate.RuleMerged},
	}
	for _, tt := range tests {
		t.Run(tt.what, func(t *testing.T) {
			submitType := tt.submitType
			if submitType == "" {
				submitType = gerrittest.MergeIfNecessary
			}
			opts := []gerrittest.ProjectOption{gerrittest.WithLabels(gerrittest.CodeReview(), gerrittest.Verified())}
			if tt.reqs != nil {
				opts = append(opts, gerrittest.WithRequirements(tt.reqs...))
			}
			s := newSimWith(t, submitType, opts...)
			p := people{alice: s.alice, bob: s.bob, carol: s.carol, dave: s.srv.AddAccount("dave"), ci: s.srv.AddAccount("ci")}
			if _, err := s.srv.AddGroup("sre", gerrittest.Members(p.dave), gerrittest.VisibleToAll()); err != nil {
				t.Fatal(err)
			}
			g := startGate(t, gateSetup{gerritURL: s.url, username: "gate", password: s.password, policy: strictPolicy})
			base := s.head()
			g.waitDeployed(project, "prod", base)
			n := s.create(tt.what, tt.files)
			tt.act(s, p, n)
			head := s.head()
			if head == base {
				t.Fatal("nothing was merged")
			}
			if tt.deploys {
				g.waitDeployed(project, "prod", head)
				return
			}
			g.settle()
			if got := g.deployed(project, "prod"); got != base {
				t.Fatalf("deploy/prod = %s, want it to stay at %s", got, base)
			}
			st := g.env(project, "prod")
			if st.Decision == nil || len(st.Decision.Verdicts) == 0 {
				t.Fatalf("no decision: %+v", st)
			}
			var failed []string
			for _, r := range st.Decision.Verdicts[len(st.Decision.Verdicts)-1].Rules {
				if !r.Pass {
					failed = append(failed, r.Name+": "+r.Detail)
				}
			}
			if !strings.Contains(strings.Join(failed, "\n"), tt.failing+":") {
				t.Errorf("failing rules %q do not include %q", failed, tt.failing)
			}
		})
	}
}

// vote casts (account, label, value) triples.
func vote(s *sim, n int, triples ...any) {
	s.t.Helper()
	for i := 0; i+2 < len(triples); i += 3 {
		s.must(s.srv.Vote(n, triples[i].(gate.Account), triples[i+1].(string), triples[i+2].(int)))
	}
}
