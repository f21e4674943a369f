package gate

import (
	"fmt"
	"strings"
	"testing"
)

var (
	dave = Account{ID: 1000004, Username: "dave", Email: "dave@example.com"}
	erin = Account{ID: 1000005, Username: "erin", Email: "erin@example.com"}
	ci   = Account{ID: 1000099, Username: "ci", Email: "ci@example.com"}
)

const (
	ps1SHA = "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1"
	ps2SHA = "b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2"
	ps3SHA = "c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3"
	parent = "0000000000000000000000000000000000000001"
)

// strict is the policy every rule below is tested under: each rule in it
// has a case where it alone fails.
func strict() *Policy {
	return &Policy{
		Name:               "prod",
		Labels:             map[string]LabelRule{"Code-Review": {Min: 2}, "Verified": {Min: 1}},
		Vetoes:             map[string]int{"Code-Review": -2, "Verified": -1},
		SubmitRequirements: Requirements{AllApplicable: true},
		Approvers:          2,
		Owners:             []OwnerRule{{Paths: []string{"infra/**", "clusters/prod/**"}, Groups: []string{"sre"}}},
	}
}

// fixture is one commit with its change, files and groups, approved under
// strict() until a case changes it: alice owns and uploaded patch set 1,
// bob and carol (sre) reviewed it, ci verified it, bob submitted it.
type fixture struct {
	sha    string
	ch     Change
	files  []string
	groups map[string][]Account
	noFile bool // leave Range.Files without the commit
}

func newFixture() *fixture {
	return &fixture{
		sha: ps1SHA,
		ch: Change{
			Project: "platform/fleet", Branch: "main", Number: 7, Status: "MERGED",
			Owner: alice, Submitter: bob, CurrentRevision: ps1SHA,
			Revisions: map[string]Revision{ps1SHA: {SHA: ps1SHA, Number: 1, Uploader: alice, Kind: "REWORK", Author: aliceGit}},
			Labels: map[string][]Vote{
				"Code-Review": {{Account: bob, Value: 2}, {Account: carol, Value: 2}, {Account: dave, Value: 0}},
				"Verified":    {{Account: ci, Value: 1}},
			},
			SubmitRequirements: []SubmitRequirement{
				{Name: "Code-Review", Status: "SATISFIED"},
				{Name: "Verified", Status: "SATISFIED", IsLegacy: true},
				{Name: "No-Unresolved-Comments", Status: "NOT_APPLICABLE"},
			},
			Messages: []Message{
				{Author: bob, Message: "Patch Set 1: Code-Review+2", RevisionNumber: 1},
				{Author: carol, Message: "Patch Set 1: Code-Review+2\n\nLooks good", RevisionNumber: 1},
				{Author: ci, Message: "Patch Set 1: Verified+1\n\nBuild succeeded", RevisionNumber: 1},
			},
		},
		files:  []string{"infra/main.tf", "README.md"},
		groups: map[string][]Account{"sre": {carol, dave}},
	}
}

// rebased makes the change merged by a rebasing submit: bob's submit wrote
// patch set 2 with the given kind, and the reviews stay on patch set 1.
func (f *fixture) rebased(kind string) *fixture {
	f.sha = ps2SHA
	f.ch.CurrentRevision = ps2SHA
	f.ch.Revisions[ps2SHA] = Revision{SHA: ps2SHA, Number: 2, Uploader: bob, Kind: kind, Author: aliceGit}
	return f
}

// reworked makes alice upload patch set 2, a REWORK, which bob, carol and
// ci review again; it is merged as is.
func (f *fixture) reworked() *fixture {
	f.rebased("REWORK")
	f.ch.Revisions[ps2SHA] = Revision{SHA: ps2SHA, Number: 2, Uploader: alice, Kind: "REWORK", Author: aliceGit}
	return f.say(bob, 2, "Patch Set 2: Code-Review+2").say(carol, 2, "Patch Set 2: Code-Review+2").say(ci, 2, "Patch Set 2: Verified+1")
}

// third makes the change merge at patch set 3: patch set 2 uploaded by
// up2 with kind2, 3 by up3 with kind3, all authored by alice; bob and ci
// review patch set 3.
func (f *fixture) third(up2 Account, kind2 string, up3 Account, kind3 string) *fixture {
	f.sha = ps3SHA
	f.ch.CurrentRevision = ps3SHA
	f.ch.Revisions[ps2SHA] = Revision{SHA: ps2SHA, Number: 2, Uploader: up2, Kind: kind2, Author: aliceGit}
	f.ch.Revisions[ps3SHA] = Revision{SHA: ps3SHA, Number: 3, Uploader: up3, Kind: kind3, Author: aliceGit}
	return f.say(bob, 3, "Patch Set 3: Code-Review+2").say(ci, 3, "Patch Set 3: Verified+1")
}

func (f *fixture) vote(label string, a Account, value int) *fixture {
	votes := f.ch.Labels[label]
	for i := range votes {
		if votes[i].Account.ID == a.ID {
			votes[i].Value = value
			return f
		}
	}
	f.ch.Labels[label] = append(votes, Vote{Account: a, Value: value})
	return f
}

func (f *fixture) say(a Account, ps int, text string) *fixture {
	f.ch.Messages = append(f.ch.Messages, Message{Author: a, Message: text, RevisionNumber: ps})
	return f
}

func (f *fixture) requirement(name, status string) *fixture {
	for i := range f.ch.SubmitRequirements {
		if f.ch.SubmitRequirements[i].Name == name {
			f.ch.SubmitRequirements[i].Status = status
			return f
		}
	}
	f.ch.SubmitRequirements = append(f.ch.SubmitRequirements, SubmitRequirement{Name: name, Status: status})
	return f
}

func (f *fixture) rng() Range {
	r := Range{
		Project: "platform/fleet", Branch: "main", Base: parent, Head: f.sha,
		Commits: []Commit{{SHA: f.sha, Parents: []string{parent}, Subject: "change"}},
		Changes: map[string][]Change{f.sha: {f.ch}},
		Files:   map[string][]string{},
		Groups:  f.groups,
	}
	if !f.noFile {
		r.Files[f.sha] = f.files
	}
	return r
}

type ruleCase struct {
	what    string
	policy  func(*Policy) // changes strict(); nil keeps it
	fix     func(*fixture)
	failing string // rule that must fail; "" for an approved commit
	detail  string // in the failing rule's detail, or in the named passing rule's
	passing string // with failing == "": a rule whose detail must hold detail
}

func runRuleCases(t *testing.T, cases []ruleCase) {
	t.Helper()
	for _, tt := range cases {
		p := strict()
		if tt.policy != nil {
			tt.policy(p)
		}
		f := newFixture()
		if tt.fix != nil {
			tt.fix(f)
		}
		d := Evaluate(p, f.rng())
		v, _ := d.Verdict(f.sha)
		if tt.failing == "" {
			if !v.Approved || d.Target != f.sha {
				t.Errorf("%s: approved = %v (target %.8s), want approved; rules:\n%s", tt.what, v.Approved, d.Target, showRules(v.Rules))
				continue
			}
			if tt.passing != "" {
				r, ok := findRule(v.Rules, tt.passing)
				if !ok || !strings.Contains(r.Detail, tt.detail) {
					t.Errorf("%s: rule %q detail %q, want it to mention %q", tt.what, tt.passing, r.Detail, tt.detail)
				}
			}
			continue
		}
		if v.Approved || d.Target != parent {
			t.Errorf("%s: approved = %v, want rule %q to block; rules:\n%s", tt.what, v.Approved, tt.failing, showRules(v.Rules))
			continue
		}
		r, ok := findRule(v.Rules, tt.failing)
		if !ok || r.Pass {
			t.Errorf("%s: rule %q did not fail; rules:\n%s", tt.what, tt.failing, showRules(v.Rules))
			continue
		}
		if !strings.Contains(r.Detail, tt.detail) {
			t.Errorf("%s: rule %q detail %q, want it to mention %q", tt.what, tt.failing, r.Detail, tt.detail)
		}
		if !strings.Contains(d.Why(), r.Detail) {
			t.Errorf("%s: Why() = %q leaves out the failing detail", tt.what, d.Why())
		}
	}
}

func findRule(rules []Rule, name string) (Rule, bool) {
	for _, r := range rules {
		if r.Name == name {
			return r, true
		}
	}
	return Rule{}, false
}

func showRules(rules []Rule) string {
	var b strings.Builder
	for _, r := range rules {
		fmt.Fprintf(&b, "\t%s pass=%v: %s\n", r.Name, r.Pass, r.Detail)
	}
	return b.String()
}

func TestRuleBaseline(t *testing.T) {
	runRuleCases(t, []ruleCase{
		{what: "the fixture is approved", passing: "owners", detail: "infra/main.tf) approved by carol +2, member of sre"},
		{what: "labels name their voters", passing: "label Code-Review", detail: "Code-Review +2 or more by bob +2, carol +2"},
		{what: "approvers are counted", passing: "approvers", detail: "has 2: bob +2, carol +2"},
		{what: "requirements are shown", passing: "submit requirements", detail: "Code-Review SATISFIED, Verified SATISFIED, No-Unresolved-Comments NOT_APPLICABLE"},
		{what: "vetoes say what they looked for", passing: "veto Verified", detail: "no Verified vote at -1 or below"},
		{what: "merged says how", passing: "merged", detail: "patch set 1) of change 7, submitted by bob"},
	})
}

func TestRuleMerged(t *testing.T) {
	var cases []ruleCase
	for _, status := range []string{"NEW", "ABANDONED", "DRAFT", "merged", "SUBMITTED"} {
		cases = append(cases, ruleCase{what: "status " + status, fix: func(f *fixture) { f.ch.Status = status }, failing: "merged", detail: "is " + status + ", not MERGED"})
	}
	cases = append(cases,
		ruleCase{what: "no status", fix: func(f *fixture) { f.ch.Status = "" }, failing: "merged", detail: "of no status"},
		ruleCase{what: "direct push", fix: func(f *fixture) { f.ch.Submitter = Account{} }, failing: "merged", detail: "direct push"},
		ruleCase{what: "no stored requirements and no submit message", fix: func(f *fixture) {
			f.ch.SubmitRequirements = nil
			f.ch.Messages = nil
		}, failing: "merged", detail: "no sign of Gerrit's submit"},
		ruleCase{what: "merged by push, pusher named as submitter (Gerrit 3.13)", fix: func(f *fixture) {
			f.ch.Messages = append(f.ch.Messages, Message{Author: f.ch.Submitter, Tag: "autogenerated:gerrit:merged", Message: "Change has been successfully pushed."})
		}, failing: "merged", detail: "direct push"},
		ruleCase{what: "a user's review tagged as Gerrit's push message does not make it merged by push", fix: func(f *fixture) {
			f.say(erin, 1, "Patch Set 1:\n\nChange has been successfully pushed.")
			f.ch.Messages[len(f.ch.Messages)-1].Tag = "autogenerated:gerrit:merged"
		}, passing: "merged", detail: "submitted by bob"},
		ruleCase{what: "a user's review tagged as Gerrit's submit message is no sign of submit", fix: func(f *fixture) {
			f.ch.SubmitRequirements = nil
			f.ch.Messages = []Message{{Author: bob, Tag: "autogenerated:gerrit:merged", Message: "Patch Set 1:\n\nChange has been successfully merged"}}
		}, failing: "merged", detail: "no sign of Gerrit's submit"},
		ruleCase{what: "Gerrit's submit message by someone else than the submitter is no sign of submit", fix: func(f *fixture) {
			f.ch.SubmitRequirements = nil
			f.ch.Messages = []Message{{Author: erin, Tag: "autogenerated:gerrit:merged", Message: "Change has been successfully merged"}}
		}, failing: "merged", detail: "no sign of Gerrit's submit"},
		ruleCase{what: "Gerrit's submit message by the submitter is a sign of submit", policy: func(p *Policy) { p.SubmitRequirements = Requirements{} }, fix: func(f *fixture) {
			f.ch.SubmitRequirements = nil
			f.ch.Messages = append(f.ch.Messages, Message{Author: bob, Tag: "autogenerated:gerrit:merged", Message: "Change has been successfully merged"})
		}, passing: "merged", detail: "submitted by bob"},
		ruleCase{what: "Gerrit's submit message for a submit on behalf of the submitter is a sign of submit", policy: func(p *Policy) { p.SubmitRequirements = Requirements{} }, fix: func(f *fixture) {
			f.ch.SubmitRequirements = nil
			f.ch.Messages = append(f.ch.Messages, Message{Author: bob, RealAuthor: ci, Tag: "autogenerated:gerrit:merged", Message: "Change has been successfully merged"})
		}, passing: "merged", detail: "submitted by bob"},
		ruleCase{what: "another patch set merged", fix: func(f *fixture) {
			f.ch.CurrentRevision = ps2SHA
			f.ch.Revisions[ps2SHA] = Revision{SHA: ps2SHA, Number: 2, Uploader: alice, Kind: "REWORK", Author: aliceGit}
		}, failing: "merged", detail: "merged another patch set"},
	)
	runRuleCases(t, cases)
}

func TestRuleLabels(t *testing.T) {
	runRuleCases(t, []ruleCase{
		{what: "no Verified vote", fix: func(f *fixture) { delete(f.ch.Labels, "Verified") }, failing: "label Verified", detail: "needs Verified +1 or more; no votes"},
		{what: "only +1s", fix: func(f *fixture) { f.vote("Code-Review", bob, 1).vote("Code-Review", carol, 1) }, failing: "label Code-Review", detail: "votes: bob +1, carol +1"},
		{what: "Verified 0 placeholder only", fix: func(f *fixture) { f.vote("Verified", ci, 0) }, failing: "label Verified", detail: "no votes"},
		{what: "higher than min counts", policy: func(p *Policy) { p.Labels["Code-Review"] = LabelRule{Min: 1} }, passing: "label Code-Review", detail: "+1 or more by bob +2"},
		{what: "a label the policy does not name is ignored", fix: func(f *fixture) { f.vote("Other", bob, -2) }},
	})
}

func TestRuleVetoes(t *testing.T) {
	runRuleCases(t, []ruleCase{
		{what: "Code-Review -2", fix: func(f *fixture) { f.vote("Code-Review", dave, -2) }, failing: "veto Code-Review", detail: "Code-Review -2 by dave"},
		{what: "Code-Review -1 is no veto", fix: func(f *fixture) { f.vote("Code-Review", dave, -1) }},
		{what: "Verified -1", fix: func(f *fixture) { f.vote("Verified", erin, -1) }, failing: "veto Verified", detail: "Verified -1 by erin"},
		{what: "after submit", fix: func(f *fixture) {
			f.ch.Labels["Code-Review"] = append(f.ch.Labels["Code-Review"], Vote{Account: erin, Value: -2, PostSubmit: true})
		}, failing: "veto Code-Review", detail: "Code-Review -2 by erin (after submit)"},
		{what: "by the owner, selfApproval off", fix: func(f *fixture) { f.vote("Code-Review", alice, -2) }, failing: "veto Code-Review", detail: "by alice"},
		{what: "cast on a patch set a REWORK replaced", fix: func(f *fixture) {
			f.rebased("REWORK").vote("Code-Review", erin, -2).say(erin, 1, "Patch Set 1: Code-Review-2")
			f.say(bob, 2, "Patch Set 2: Code-Review+2").say(carol, 2, "Patch Set 2: Code-Review+2").say(ci, 2, "Patch Set 2: Verified+1")
		}, failing: "veto Code-Review", detail: "by erin"},
		{what: "a veto label Gerrit does not report (typo or removed label)", policy: func(p *Policy) { p.Vetoes["Verifed"] = -1 },
			failing: "veto Verifed", detail: "Gerrit reports no label Verifed on change 7, so a veto on it cannot be ruled out: is it misspelt in the policy, or was it removed from the project?"},
		{what: "a veto below the label's lowest value can never fire", policy: func(p *Policy) { p.Vetoes["Verified"] = -2 },
			fix:     func(f *fixture) { f.ch.LabelRanges = map[string]LabelRange{"Verified": {Min: -1, Max: 1}} },
			failing: "veto Verified", detail: "label Verified goes from -1 to +1 on change 7, so a veto at -2 can never be cast: fix the policy"},
		{what: "a veto at the label's lowest value", fix: func(f *fixture) { f.ch.LabelRanges = map[string]LabelRange{"Verified": {Min: -1, Max: 1}} },
			passing: "veto Verified", detail: "no Verified vote at -1 or below"},
		{what: "labels reported, but none at all", fix: func(f *fixture) { f.ch.Labels = map[string][]Vote{} }, failing: "veto Code-Review", detail: "Gerrit reports no label Code-Review"},
		{what: "a reported label without votes is no veto", policy: func(p *Policy) { p.Vetoes["Security"] = -1 }, fix: func(f *fixture) { f.ch.Labels["Security"] = []Vote{} },
			passing: "veto Security", detail: "no Security vote at -1 or below"},
		{what: "a veto on patch set 1 that the copy condition dropped from patch set 2", fix: func(f *fixture) {
			// erin's -2 on 1; alice reworks; Gerrit lists erin at 0 on 2.
			f.reworked().vote("Code-Review", erin, 0).say(erin, 1, "Patch Set 1: Code-Review-2")
		}, failing: "veto Code-Review", detail: "vetoed: Code-Review -2 by erin (on patch set 1, not replaced by that voter since)"},
		{what: "a veto the voter changed to +1 on the same patch set", fix: func(f *fixture) {
			f.say(erin, 1, "Patch Set 1: Code-Review-2").say(erin, 1, "Patch Set 1: Code-Review+1").vote("Code-Review", erin, 1)
		}},
		{what: "a veto the voter removed", fix: func(f *fixture) {
			f.say(erin, 1, "Patch Set 1: Code-Review-2").say(erin, 1, "Patch Set 1: -Code-Review")
		}},
		{what: "a veto the voter replaced on a later patch set", fix: func(f *fixture) {
			f.reworked().say(erin, 1, "Patch Set 1: Code-Review-2")
			f.say(erin, 2, "Patch Set 2: Code-Review+1").vote("Code-Review", erin, 1)
		}},
		{what: "a later vote on an earlier patch set does not lift a veto on a later one", fix: func(f *fixture) {
			f.reworked()
			f.say(erin, 2, "Patch Set 2: Code-Review-2").say(erin, 1, "Patch Set 1: Code-Review+1")
		}, failing: "veto Code-Review", detail: "Code-Review -2 by erin (on patch set 2"},
		{what: "a veto in a message filed under another patch set still stands", fix: func(f *fixture) {
			f.reworked().say(erin, 1, "Patch Set 1: Code-Review-2")
			f.ch.Messages[len(f.ch.Messages)-1].RevisionNumber = 2
		}, failing: "veto Code-Review", detail: "Code-Review -2 by erin (on patch set 2"},
		{what: "a veto Gerrit removed (Remove Reviewer permission) no longer vetoes", fix: func(f *fixture) {
			f.say(erin, 1, "Patch Set 1: Code-Review-2").say(dave, 1, "Removed Code-Review-2 by <GERRIT_ACCOUNT_1000005>\n")
		}},
		{what: "a veto removed with its reviewer no longer vetoes", fix: func(f *fixture) {
			f.say(erin, 1, "Patch Set 1: Code-Review-2 Verified-1")
			f.say(dave, 1, "Removed reviewer <GERRIT_ACCOUNT_1000005> with the following votes:\n\n* Code-Review-2 by <GERRIT_ACCOUNT_1000005>\n* Verified-1 by <GERRIT_ACCOUNT_1000005>\n")
		}},
		{what: "a removal on patch set 1 does not lift a veto cast on patch set 2", fix: func(f *fixture) {
			f.reworked().say(erin, 2, "Patch Set 2: Code-Review-2").say(dave, 1, "Removed Code-Review-2 by <GERRIT_ACCOUNT_1000005>\n")
		}, failing: "veto Code-Review", detail: "Code-Review -2 by erin (on patch set 2"},
		{what: "a removal of another account's vote does not lift the veto", fix: func(f *fixture) {
			f.say(erin, 1, "Patch Set 1: Code-Review-2").say(dave, 1, "Removed Code-Review-2 by <GERRIT_ACCOUNT_1000004>\n")
		}, failing: "veto Code-Review", detail: "Code-Review -2 by erin (on patch set 1"},
		{what: "a user's review that looks like a removal lifts nothing", fix: func(f *fixture) {
			f.say(erin, 1, "Patch Set 1: Code-Review-2").say(dave, 1, "Patch Set 1:\n\nRemoved Code-Review-2 by <GERRIT_ACCOUNT_1000005>\n")
		}, failing: "veto Code-Review", detail: "Code-Review -2 by erin (on patch set 1"},
		{what: "a removal with no patch set lifts nothing", fix: func(f *fixture) {
			f.say(erin, 1, "Patch Set 1: Code-Review-2").say(dave, 0, "Removed Code-Review-2 by <GERRIT_ACCOUNT_1000005>\n")
		}, failing: "veto Code-Review", detail: "Code-Review -2 by erin (on patch set 1"},
		{what: "another voter's +2 does not lift a veto", fix: func(f *fixture) {
			f.say(erin, 1, "Patch Set 1: Code-Review-2").say(bob, 1, "Patch Set 1: Code-Review+2")
		}, failing: "veto Code-Review", detail: "Code-Review -2 by erin (on patch set 1"},
		{what: "a Verified -1 on patch set 1 vetoes too", fix: func(f *fixture) {
			f.say(erin, 1, "Patch Set 1: Verified-1 Code-Review+1")
		}, failing: "veto Verified", detail: "Verified -1 by erin (on patch set 1"},
	})
}

func TestVetoNamedOnce(t *testing.T) {
	f := newFixture()
	f.vote("Code-Review", erin, -2).say(erin, 1, "Patch Set 1: Code-Review-2")
	v, _ := Evaluate(strict(), f.rng()).Verdict(f.sha)
	r, _ := findRule(v.Rules, "veto Code-Review")
	if strings.Count(r.Detail, "erin") != 1 {
		t.Errorf("veto detail %q names erin more than once", r.Detail)
	}
}

func TestRuleSubmitRequirements(t *testing.T) {
	allow := func(p *Policy) { p.AllowOverridden = true }
	named := func(names ...string) func(*Policy) {
		return func(p *Policy) { p.SubmitRequirements = Requirements{Names: names} }
	}
	var cases []ruleCase
	for _, st := range []struct {
		status  string
		all     bool // counts under satisfied
		allowed bool // counts under satisfied with allowOverridden
		named   bool // counts when named
		note    string
	}{
		{"SATISFIED", true, true, true, ""},
		{"NOT_APPLICABLE", true, true, false, "named in the policy, so it must be SATISFIED"},
		{"UNSATISFIED", false, false, false, "UNSATISFIED"},
		{"ERROR", false, false, false, "ERROR"},
		{"OVERRIDDEN", false, true, false, "allowOverridden is false"},
		{"FORCED", false, true, false, "allowOverridden is false"},
		{"TIMEOUT", false, false, false, "unknown status, not met"},
		{"satisfied", false, false, false, "unknown status, not met"},
		{"", false, false, false, "Extra (no status)"},
	} {
		set := func(f *fixture) { f.requirement("Extra", st.status) }
		for _, c := range []struct {
			mode   string
			policy func(*Policy)
			pass   bool
		}{
			{"satisfied", nil, st.all},
			{"satisfied with allowOverridden", allow, st.allowed},
			{"named", named("Code-Review", "Extra"), st.named},
		} {
			rc := ruleCase{what: fmt.Sprintf("%s requirement under %s", st.status, c.mode), policy: c.policy, fix: set}
			if c.pass {
				rc.passing, rc.detail = "submit requirements", "Extra "+st.status
			} else {
				rc.failing, rc.detail = "submit requirements", "not met: Extra"
			}
			cases = append(cases, rc)
			if !c.pass && st.note != "" && c.mode != "named" {
				rc.detail = st.note
				rc.what += " (note)"
				cases = append(cases, rc)
			}
		}
	}
	cases = append(cases,
		ruleCase{what: "OVERRIDDEN named with allowOverridden", policy: func(p *Policy) { named("Extra")(p); allow(p) }, fix: func(f *fixture) { f.requirement("Extra", "OVERRIDDEN") }, passing: "submit requirements", detail: "Extra OVERRIDDEN (allowOverridden)"},
		ruleCase{what: "NOT_APPLICABLE named", policy: named("Extra"), fix: func(f *fixture) { f.requirement("Extra", "NOT_APPLICABLE") }, failing: "submit requirements", detail: "Extra NOT_APPLICABLE (named in the policy, so it must be SATISFIED)"},
		ruleCase{what: "named requirement missing", policy: named("Code-Review", "Security-Review"), failing: "submit requirements", detail: "Security-Review not reported by Gerrit; met: Code-Review SATISFIED"},
		ruleCase{what: "named requirement reported twice, once unsatisfied", policy: named("Code-Review"), fix: func(f *fixture) {
			f.ch.SubmitRequirements = append(f.ch.SubmitRequirements, SubmitRequirement{Name: "Code-Review", Status: "UNSATISFIED", IsLegacy: true})
		}, failing: "submit requirements", detail: "not met: Code-Review UNSATISFIED"},
		ruleCase{what: "no requirement reported", fix: func(f *fixture) { f.ch.SubmitRequirements = nil }, failing: "submit requirements", detail: "Gerrit reported no submit requirement results for change 7"},
		ruleCase{what: "unset: statuses are not looked at", policy: func(p *Policy) { p.SubmitRequirements = Requirements{} }, fix: func(f *fixture) { f.requirement("Code-Review", "UNSATISFIED") }},
	)
	runRuleCases(t, cases)
}

func TestRuleApprovers(t *testing.T) {
	runRuleCases(t, []ruleCase{
		{what: "one reviewer for two approvers", fix: func(f *fixture) { f.vote("Code-Review", carol, 0) }, failing: "approvers", detail: "needs 2 distinct accounts with Code-Review +2 or more, has 1: bob +2"},
		{what: "the same account twice", fix: func(f *fixture) {
			f.vote("Code-Review", carol, 0)
			f.ch.Labels["Code-Review"] = append(f.ch.Labels["Code-Review"], Vote{Account: bob, Value: 2})
		}, failing: "approvers", detail: "has 1: bob +2"},
		{what: "+1 does not approve", fix: func(f *fixture) { f.vote("Code-Review", carol, 1) }, failing: "approvers", detail: "has 1"},
		{what: "three for two", fix: func(f *fixture) { f.vote("Code-Review", erin, 2).say(erin, 1, "Patch Set 1: Code-Review+2") }, passing: "approvers", detail: "has 3"},
		{what: "one approver needed", policy: func(p *Policy) { p.Approvers = 1 }, fix: func(f *fixture) { f.vote("Code-Review", bob, 0) }},
		{what: "a post-submit review counts", fix: func(f *fixture) {
			f.vote("Code-Review", bob, 0)
			f.ch.Labels["Code-Review"] = append(f.ch.Labels["Code-Review"], Vote{Account: erin, Value: 2, PostSubmit: true})
			f.say(erin, 1, "Patch Set 1: Code-Review+2")
		}, passing: "approvers", detail: "erin +2 (after submit)"},
	})
}

func TestRuleOwners(t *testing.T) {
	runRuleCases(t, []ruleCase{
		{what: "no sre member voted", fix: func(f *fixture) {
			f.vote("Code-Review", carol, 0).vote("Code-Review", erin, 2).say(erin, 1, "Patch Set 1: Code-Review+2")
		}, failing: "owners", detail: "infra/**, clusters/prod/** (infra/main.tf) needs Code-Review +2 or more by a member of sre: no member voted (members: carol, dave)"},
		{what: "sre member voted +1", fix: func(f *fixture) {
			f.vote("Code-Review", carol, 1).vote("Code-Review", erin, 2).say(erin, 1, "Patch Set 1: Code-Review+2")
		}, failing: "owners", detail: "no member voted"},
		{what: "group not resolved", fix: func(f *fixture) { f.groups = map[string][]Account{} }, failing: "owners", detail: "group sre could not be resolved"},
		{what: "nil groups", fix: func(f *fixture) { f.groups = nil }, failing: "owners", detail: "group sre could not be resolved"},
		{what: "group without members", fix: func(f *fixture) { f.groups = map[string][]Account{"sre": {}} }, failing: "owners", detail: "the group has no members"},
		{what: "files unknown", fix: func(f *fixture) { f.noFile = true }, failing: "owners", detail: "files this commit changes are unknown"},
		{what: "no owned file", fix: func(f *fixture) { f.files = []string{"README.md", "docs/infra/x.md"}; f.groups = nil }, passing: "owners", detail: "none of the 2 changed files has owners"},
		{what: "no file at all", fix: func(f *fixture) { f.files = []string{} }, passing: "owners", detail: "none of the 0 changed files"},
		{what: "deep path under **", fix: func(f *fixture) { f.files = []string{"clusters/prod/eu/west/app.yaml"} }, passing: "owners", detail: "clusters/prod/eu/west/app.yaml) approved by carol"},
		{what: "one of two groups approves", policy: func(p *Policy) { p.Owners[0].Groups = []string{"dba", "sre"} }, fix: func(f *fixture) { f.groups["dba"] = []Account{erin} }, passing: "owners", detail: "approved by carol +2, member of sre"},
		{what: "one group resolved and approving, the other not resolved", policy: func(p *Policy) { p.Owners[0].Groups = []string{"dba", "sre"} }, failing: "owners", detail: "group dba could not be resolved"},
		{what: "a file under two entries needs both", policy: func(p *Policy) {
			p.Owners = append(p.Owners, OwnerRule{Paths: []string{"infra/*.tf"}, Groups: []string{"dba"}})
		}, fix: func(f *fixture) { f.groups["dba"] = []Account{erin} }, failing: "owners", detail: "infra/*.tf (infra/main.tf) needs Code-Review +2 or more by a member of dba: no member voted (members: erin)"},
		{what: "a file under two entries with both approved", policy: func(p *Policy) {
			p.Owners = append(p.Owners, OwnerRule{Paths: []string{"infra/*.tf"}, Groups: []string{"dba"}})
		}, fix: func(f *fixture) { f.groups["dba"] = []Account{bob} }, passing: "owners", detail: "infra/*.tf (infra/main.tf) approved by bob +2, member of dba"},
		{what: "two members needed, one approved", policy: func(p *Policy) { p.Owners[0].Approvals = 2 }, failing: "owners",
			detail: "needs Code-Review +2 or more by 2 distinct members of sre: only 1: carol +2, member of sre"},
		{what: "two members needed, the second's vote is the owner's own", policy: func(p *Policy) { p.Owners[0].Approvals = 2 }, fix: func(f *fixture) {
			f.groups["sre"] = []Account{carol, alice}
			f.vote("Code-Review", alice, 2).say(alice, 1, "Patch Set 1: Code-Review+2")
		}, failing: "owners", detail: "only 1: carol +2, member of sre; alice +2 (not counted: change owner"},
		{what: "two members needed, two approved", policy: func(p *Policy) { p.Owners[0].Approvals = 2 }, fix: func(f *fixture) {
			f.groups["sre"] = []Account{bob, carol}
		}, passing: "owners", detail: "approved by bob +2, member of sre; carol +2, member of sre"},
		{what: "many files are cut short", fix: func(f *fixture) {
			f.vote("Code-Review", carol, 0).vote("Code-Review", erin, 2).say(erin, 1, "Patch Set 1: Code-Review+2")
			f.files = []string{"infra/1", "infra/2", "infra/3", "infra/4", "infra/5", "infra/6", "infra/7"}
		}, failing: "owners", detail: "infra/5 and 2 more files"},
	})
}

// TestRuleSelfApproval covers which votes count: owner, uploaders, copies.
func TestRuleSelfApproval(t *testing.T) {
	allowSelf := func(p *Policy) { p.SelfApproval = true }
	ownerApproves := func(f *fixture) {
		f.vote("Code-Review", carol, 0).vote("Code-Review", alice, 2).say(alice, 1, "Patch Set 1: Code-Review+2")
	}
	runRuleCases(t, []ruleCase{
		{what: "owner's +2 does not count", fix: ownerApproves, failing: "approvers", detail: "alice +2 (not counted: change owner, and selfApproval is false)"},
		{what: "owner's +2 counts with selfApproval", policy: allowSelf, fix: func(f *fixture) { ownerApproves(f); f.groups["sre"] = []Account{alice} }},
		{what: "owner's Verified does not count", fix: func(f *fixture) { f.ch.Labels["Verified"] = []Vote{{Account: alice, Value: 1}} }, failing: "label Verified", detail: "alice +1 (not counted: change owner"},
		{what: "unknown owner", fix: func(f *fixture) { f.ch.Owner = Account{} }, failing: "label Code-Review", detail: "the change owner is unknown"},
		{what: "unknown owner with selfApproval", policy: allowSelf, fix: func(f *fixture) { f.ch.Owner = Account{} }},
		{what: "uploader of the reviewed patch set", fix: func(f *fixture) {
			// carol pushed patch set 2 with her own code, then approved it.
			f.rebased("REWORK")
			f.ch.Revisions[ps2SHA] = Revision{SHA: ps2SHA, Number: 2, Uploader: carol, Kind: "REWORK", Author: aliceGit}
			f.say(bob, 2, "Patch Set 2: Code-Review+2").say(carol, 2, "Patch Set 2: Code-Review+2").say(ci, 2, "Patch Set 2: Verified+1")
		}, failing: "approvers", detail: "carol +2 (not counted: uploader of patch set 2, the one reviewed, and selfApproval is false)"},
		{what: "uploader of the code a trivial rebase carries", fix: func(f *fixture) {
			// carol pushed patch set 2 (REWORK), erin rebased it (3), carol approved 3.
			f.third(carol, "REWORK", erin, "TRIVIAL_REBASE").say(carol, 3, "Patch Set 3: Code-Review+2")
		}, failing: "approvers", detail: "carol +2 (not counted: uploader of patch set 2 (REWORK), whose code the reviewed patch set 3 may carry"},
		{what: "uploader of an earlier REWORK is excluded: its code may survive the next rework", fix: func(f *fixture) {
			// carol pushed patch set 2 with her code, alice reworked it in 3
			// keeping it, carol approved 3.
			f.third(carol, "REWORK", alice, "REWORK").say(carol, 3, "Patch Set 3: Code-Review+2")
		}, failing: "approvers", detail: "carol +2 (not counted: uploader of patch set 2 (REWORK), whose code the reviewed patch set 3 may carry"},
		{what: "uploader of patch set 1 whom the owner replaced by reworks", fix: func(f *fixture) {
			// erin uploaded patch set 1 of alice's change; alice reworked it twice.
			f.third(alice, "REWORK", alice, "REWORK").vote("Code-Review", carol, 0).vote("Code-Review", erin, 2).say(erin, 3, "Patch Set 3: Code-Review+2")
			f.ch.Revisions[ps1SHA] = Revision{SHA: ps1SHA, Number: 1, Uploader: erin, Kind: "REWORK", Author: aliceGit}
		}, failing: "approvers", detail: "erin +2 (not counted: uploader of patch set 1 (REWORK), whose code the reviewed patch set 3 may carry"},
		{what: "a reviewer who pressed Rebase (TRIVIAL_REBASE uploader) and then voted counts", fix: func(f *fixture) {
			f.rebased("TRIVIAL_REBASE")
			f.ch.Revisions[ps2SHA] = Revision{SHA: ps2SHA, Number: 2, Uploader: carol, Kind: "TRIVIAL_REBASE", Author: aliceGit}
			f.say(carol, 2, "Patch Set 2: Code-Review+2")
		}, passing: "approvers", detail: "has 2: bob +2 (on patch set 1), carol +2"},
		{what: "the uploader of a NO_CODE_CHANGE patch set counts", fix: func(f *fixture) {
			f.rebased("NO_CODE_CHANGE")
			f.ch.Revisions[ps2SHA] = Revision{SHA: ps2SHA, Number: 2, Uploader: carol, Kind: "NO_CODE_CHANGE", Author: aliceGit}
			f.say(carol, 2, "Patch Set 2: Code-Review+2")
		}},
		{what: "a rebase that resolved conflicts (REWORK) excludes the rebaser", fix: func(f *fixture) {
			f.rebased("REWORK")
			f.ch.Revisions[ps2SHA] = Revision{SHA: ps2SHA, Number: 2, Uploader: carol, Kind: "REWORK", Author: aliceGit}
			f.say(carol, 2, "Patch Set 2: Code-Review+2").say(bob, 2, "Patch Set 2: Code-Review+2").say(ci, 2, "Patch Set 2: Verified+1")
		}, failing: "approvers", detail: "carol +2 (not counted: uploader of patch set 2, the one reviewed"},
		{what: "the git author who did not upload does not count", fix: func(f *fixture) {
			f.ch.Revisions[ps1SHA] = Revision{SHA: ps1SHA, Number: 1, Uploader: alice, Kind: "REWORK", Author: Person{Name: "Carol", Email: "CAROL@example.com"}}
		}, failing: "approvers", detail: "carol +2 (not counted: git author (CAROL@example.com) of patch set 1, and selfApproval is false)"},
		{what: "the git author of an earlier patch set that a rework kept does not count", fix: func(f *fixture) {
			f.rebased("REWORK")
			f.ch.Revisions[ps2SHA] = Revision{SHA: ps2SHA, Number: 2, Uploader: alice, Kind: "REWORK", Author: aliceGit}
			f.ch.Revisions[ps1SHA] = Revision{SHA: ps1SHA, Number: 1, Uploader: alice, Kind: "REWORK", Author: Person{Email: "carol@example.com"}}
			f.say(carol, 2, "Patch Set 2: Code-Review+2").say(bob, 2, "Patch Set 2: Code-Review+2").say(ci, 2, "Patch Set 2: Verified+1")
		}, failing: "approvers", detail: "carol +2 (not counted: git author (carol@example.com) of patch set 1"},
		{what: "the git author of a code-preserving patch set does not count either", fix: func(f *fixture) {
			f.rebased("NO_CODE_CHANGE")
			f.ch.Revisions[ps2SHA] = Revision{SHA: ps2SHA, Number: 2, Uploader: bob, Kind: "NO_CODE_CHANGE", Author: Person{Email: "carol@example.com"}}
			f.say(carol, 2, "Patch Set 2: Code-Review+2")
		}, failing: "approvers", detail: "carol +2 (not counted: git author (carol@example.com) of patch set 2"},
		{what: "git author with selfApproval counts", policy: allowSelf, fix: func(f *fixture) {
			f.ch.Revisions[ps1SHA] = Revision{SHA: ps1SHA, Number: 1, Uploader: alice, Kind: "REWORK", Author: Person{Email: "carol@example.com"}}
		}},
		{what: "unknown git author", fix: func(f *fixture) {
			f.ch.Revisions[ps1SHA] = Revision{SHA: ps1SHA, Number: 1, Uploader: alice, Kind: "REWORK"}
		}, failing: "label Code-Review", detail: "the git author of patch set 1 is unknown, and selfApproval is false"},
		{what: "a voter Gerrit reports no email for", fix: func(f *fixture) {
			f.ch.Labels["Verified"] = []Vote{{Account: Account{ID: ci.ID, Username: "ci"}, Value: 1}}
		}, failing: "label Verified", detail: "Gerrit reports no email for ci, so they cannot be ruled out as git author of patch set 1"},
		{what: "a vote posted on behalf of a reviewer by the git author does not count", fix: func(f *fixture) {
			f.ch.Revisions[ps1SHA] = Revision{SHA: ps1SHA, Number: 1, Uploader: alice, Kind: "REWORK", Author: Person{Email: "erin@example.com"}}
			f.ch.Messages[0].RealAuthor = erin
		}, failing: "approvers", detail: "bob +2 (posted on its behalf by erin; not counted: posted on the voter's behalf by erin, who is the git author (erin@example.com) of patch set 1"},
		{what: "a vote posted on behalf of a reviewer by the owner does not count", fix: func(f *fixture) {
			f.ch.Messages[0].RealAuthor = alice
		}, failing: "approvers", detail: "bob +2 (posted on its behalf by alice; not counted: posted on the voter's behalf by alice, the change owner"},
		{what: "a vote posted on behalf of a reviewer by someone else counts", fix: func(f *fixture) {
			f.ch.Messages[0].RealAuthor = erin
		}, passing: "approvers", detail: "bob +2 (posted on its behalf by erin)"},
		{what: "rebase submit: the submitter reviewed patch set 1", fix: func(f *fixture) { f.rebased("TRIVIAL_REBASE") }, passing: "label Code-Review", detail: "bob +2 (on patch set 1)"},
		{what: "rebase submit: no message records the submitter's vote", fix: func(f *fixture) {
			f.rebased("TRIVIAL_REBASE")
			f.ch.Messages = f.ch.Messages[1:] // bob's
		}, failing: "approvers", detail: "bob +2 (not counted: no change message records this vote, so who cast it, and on whose behalf, is unknown, and selfApproval is false)"},
		{what: "no message records the vote, selfApproval: counts only if it would on any patch set", policy: allowSelf, fix: func(f *fixture) {
			f.rebased("REWORK")
			f.ch.Messages = f.ch.Messages[1:] // bob's
			f.say(carol, 2, "Patch Set 2: Code-Review+2").say(ci, 2, "Patch Set 2: Verified+1")
		}, failing: "approvers", detail: "bob +2 (not counted: no change message says which patch set it was cast on, and if it was patch set 1: cast on patch set 1, but patch set 2 is REWORK"},
		{what: "rebase submit: no message records a vote, selfApproval", policy: allowSelf, fix: func(f *fixture) {
			f.rebased("TRIVIAL_REBASE")
			f.ch.Messages = []Message{{Author: alice, Message: "Uploaded patch set 1.", RevisionNumber: 1}}
		}},
		{what: "no change messages at all: earlier vetoes cannot be checked", policy: allowSelf, fix: func(f *fixture) {
			f.rebased("TRIVIAL_REBASE")
			f.ch.Messages = nil
		}, failing: "veto Code-Review", detail: "Gerrit reported no change messages for change 7, so vetoes on patch sets before the merged one cannot be checked"},
		{what: "no change messages on a change merged at patch set 1: its labels hold every vote", policy: allowSelf, fix: func(f *fixture) { f.ch.Messages = nil }},
		{what: "rebase submit: the submitter's vote after submit on the patch set the submit wrote counts", fix: func(f *fixture) {
			f.rebased("TRIVIAL_REBASE").vote("Code-Review", bob, 0)
			f.ch.Labels["Code-Review"] = append(f.ch.Labels["Code-Review"], Vote{Account: bob, Value: 2, PostSubmit: true})
			f.ch.Messages = f.ch.Messages[1:]
			f.say(bob, 2, "Patch Set 2: Code-Review+2")
		}, passing: "approvers", detail: "bob +2 (after submit)"},
		{what: "cherry-pick submit that needed a code change", fix: func(f *fixture) { f.rebased("REWORK") }, failing: "label Code-Review", detail: "bob +2 (on patch set 1; not counted: cast on patch set 1, but patch set 2 is REWORK: a vote does not carry over a code change)"},
		{what: "copied across REWORK but one vote cast on it", fix: func(f *fixture) {
			f.rebased("REWORK").say(carol, 2, "Patch Set 2: Code-Review+2").say(ci, 2, "Patch Set 2: Verified+1")
		}, failing: "approvers", detail: "has 1: carol +2; bob +2 (on patch set 1; not counted"},
		{what: "every vote cast on the REWORK patch set", fix: func(f *fixture) {
			f.reworked()
		}},
		{what: "copied across a patch set of unknown kind", fix: func(f *fixture) { f.rebased("") }, failing: "label Code-Review", detail: "patch set 2 is of unknown kind"},
		{what: "copied across a kind Gerrit may add later", fix: func(f *fixture) { f.rebased("SOMETHING_NEW") }, failing: "label Verified", detail: "patch set 2 is SOMETHING_NEW"},
		{what: "copied across a missing patch set", fix: func(f *fixture) {
			f.rebased("TRIVIAL_REBASE")
			f.ch.Revisions[ps2SHA] = Revision{SHA: ps2SHA, Number: 3, Uploader: bob, Kind: "TRIVIAL_REBASE", Author: aliceGit}
		}, failing: "label Code-Review", detail: "patch set 2 is unknown"},
		{what: "two revisions claim one number", fix: func(f *fixture) {
			f.rebased("TRIVIAL_REBASE")
			f.ch.Revisions[ps3SHA] = Revision{SHA: ps3SHA, Number: 2, Uploader: bob, Kind: "TRIVIAL_REBASE", Author: aliceGit}
		}, failing: "label Code-Review", detail: "patch set 2 is unknown"},
		{what: "the latest message records another value", fix: func(f *fixture) {
			f.rebased("TRIVIAL_REBASE").say(bob, 1, "Patch Set 1: -Code-Review")
		}, failing: "approvers", detail: "bob +2 (not counted: no change message records this vote"},
		{what: "a vote cast later on an outdated patch set does not move the reviewed one", fix: func(f *fixture) {
			// Gerrit 3.13 accepts votes on outdated patch sets, after merge too.
			f.reworked().say(bob, 1, "Patch Set 1: Code-Review+2").say(carol, 1, "Patch Set 1: Code-Review+2")
		}, passing: "approvers", detail: "has 2: bob +2, carol +2"},
		{what: "a message on another patch set than it says is ignored", fix: func(f *fixture) {
			f.rebased("TRIVIAL_REBASE")
			f.ch.Messages[0].RevisionNumber = 2
		}, failing: "approvers", detail: "bob +2 (not counted: no change message records this vote"},
		{what: "an unidentified voter", fix: func(f *fixture) { f.ch.Labels["Verified"] = []Vote{{Account: Account{Username: "ghost"}, Value: 1}} }, failing: "label Verified", detail: "ghost +1 (not counted: vote by an unidentified account)"},
	})
	for _, kind := range copySafeKinds() {
		runRuleCases(t, []ruleCase{{what: "copied across " + kind, fix: func(f *fixture) { f.rebased(kind) }}})
	}
}

// TestDeadlocks: policies that no review can meet on a given change must
// say so in words a person can act on.
func TestDeadlocks(t *testing.T) {
	runRuleCases(t, []ruleCase{
		{what: "the only owner-group member is the author", fix: func(f *fixture) {
			f.groups["sre"] = []Account{alice}
			f.vote("Code-Review", alice, 2).say(alice, 1, "Patch Set 1: Code-Review+2")
		}, failing: "owners", detail: "needs Code-Review +2 or more by a member of sre: alice +2 (not counted: change owner, and selfApproval is false), member of sre"},
		{what: "the only owner-group member is the author and did not vote", fix: func(f *fixture) { f.groups["sre"] = []Account{alice} }, failing: "owners", detail: "no member voted (members: alice)"},
		{what: "approvers: 2 with one reviewer", fix: func(f *fixture) { f.ch.Labels["Code-Review"] = []Vote{{Account: bob, Value: 2}} }, failing: "approvers", detail: "needs 2 distinct accounts with Code-Review +2 or more, has 1: bob +2"},
		{what: "approvers: 2, the second being the owner", fix: func(f *fixture) {
			f.vote("Code-Review", carol, 0).vote("Code-Review", alice, 2).say(alice, 1, "Patch Set 1: Code-Review+2")
		}, failing: "approvers", detail: "has 1: bob +2; alice +2 (not counted: change owner"},
		{what: "the only reviewer reworked the change", policy: func(p *Policy) { p.Approvers = 1; p.Owners = nil }, fix: func(f *fixture) {
			f.rebased("REWORK").vote("Code-Review", carol, 0)
			f.ch.Messages = []Message{{Author: bob, Message: "Patch Set 2: Code-Review+2", RevisionNumber: 2}, {Author: ci, Message: "Patch Set 2: Verified+1", RevisionNumber: 2}}
		}, failing: "label Code-Review", detail: "bob +2 (not counted: uploader of patch set 2, the one reviewed, and selfApproval is false)"},
		{what: "the owner group is everyone but nobody may count", fix: func(f *fixture) {
			f.groups["sre"] = []Account{alice, bob}
			f.vote("Code-Review", carol, 0)
			f.rebased("TRIVIAL_REBASE")
			f.ch.Messages = nil
		}, failing: "owners", detail: "bob +2 (not counted: no change message records this vote"},
		{what: "named requirement the project does not have", policy: func(p *Policy) { p.SubmitRequirements = Requirements{Names: []string{"Security-Review"}} }, failing: "submit requirements", detail: "Security-Review not reported by Gerrit"},
	})
}

func TestParseVoteMessage(t *testing.T) {
	tests := []struct {
		msg   string
		ps    int
		votes map[string]int // nil: not a vote message
	}{
		{"Patch Set 1: Code-Review+2", 1, map[string]int{"Code-Review": 2}},
		{"Patch Set 12: Code-Review-1 Verified+1\n\nNits inline.", 12, map[string]int{"Code-Review": -1, "Verified": 1}},
		{"Patch Set 3: -Code-Review\n\nremoved", 3, map[string]int{"Code-Review": 0}},
		{"Patch Set 2: Code-Review+2 (1 comment)", 2, map[string]int{"Code-Review": 2}},
		{"Uploaded patch set 2: Code-Review+2.", 2, map[string]int{"Code-Review": 2}},
		{"Uploaded patch set 3: Patch Set 2 was rebased.", 0, nil},
		{"Patch Set 2:\n\nCode-Review+2", 0, nil},
		{"Patch Set 2: Looks good", 0, nil},
		{"Change has been successfully rebased and submitted as b2b2 by bob", 0, nil},
		{"I think Patch Set 1: Code-Review+2", 0, nil},
		{"Patch Set 0: Code-Review+2", 0, nil},
		{"Patch Set 1: Code-Review+2222", 0, nil},
		{"Patch Set 1: Label-With-Digits-2+1", 1, map[string]int{"Label-With-Digits-2": 1}},
	}
	for _, tt := range tests {
		ps, votes, ok := parseVoteMessage(tt.msg)
		if !ok {
			if tt.votes != nil {
				t.Errorf("parseVoteMessage(%q) found no votes, want %v on patch set %d", tt.msg, tt.votes, tt.ps)
			}
			continue
		}
		if tt.votes == nil {
			t.Errorf("parseVoteMessage(%q) = %d %v, want no votes", tt.msg, ps, votes)
			continue
		}
		if ps != tt.ps || fmt.Sprint(votes) != fmt.Sprint(tt.votes) {
			t.Errorf("parseVoteMessage(%q) = %d %v, want %d %v", tt.msg, ps, votes, tt.ps, tt.votes)
		}
	}
}

// TestCopySafe: every change kind Gerrit reports is decided, and anything
// else (a kind added later, none, another spelling) is not copy-safe.
func TestCopySafe(t *testing.T) {
	for _, tt := range []struct {
		kind string
		want bool
	}{
		{"TRIVIAL_REBASE", true},
		{"TRIVIAL_REBASE_WITH_MESSAGE_UPDATE", true},
		{"MERGE_FIRST_PARENT_UPDATE", true},
		{"NO_CODE_CHANGE", true},
		{"NO_CHANGE", true},
		{"REWORK", false},
		{"", false},
		{"trivial_rebase", false},
		{"TRIVIAL_REBASE ", false},
		{"SOMETHING_NEW", false},
	} {
		if got := copySafe(tt.kind); got != tt.want {
			t.Errorf("copySafe(%q) = %v, want %v", tt.kind, got, tt.want)
		}
	}
	for _, kind := range copySafeKinds() {
		if !copySafe(kind) {
			t.Errorf("copySafeKinds lists %s, which copySafe refuses", kind)
		}
	}
}
