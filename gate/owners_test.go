package gate

import (
	"strings"
	"testing"
)

// An owners group the caller could not resolve fails the rule with the
// reason, e.g. a subgroup the gate's account cannot see, not with a member
// list that leaves its members out.
func TestOwnersRuleSaysWhyAGroupIsUnresolved(t *testing.T) {
	sha := "1111111111111111111111111111111111111111"
	base := "0000000000000000000000000000000000000001"
	p := reviewed()
	p.Owners = []OwnerRule{{Paths: []string{"clusters/**"}, Groups: []string{"sre"}}}
	why := "group sre includes group pushers (e8c2), which the gate's Gerrit account cannot see"
	d := Evaluate(p, Range{
		Project: "platform/fleet", Branch: "main", Base: base, Head: sha,
		Commits:     []Commit{{SHA: sha, Subject: "s", Parents: []string{base}}},
		Changes:     map[string][]Change{sha: {merged(1, sha, approvedVotes())}},
		Files:       map[string][]string{sha: {"clusters/prod/app.yaml"}},
		GroupErrors: map[string]string{"sre": why},
	})
	v := d.Verdicts[0]
	for _, r := range v.Rules {
		if r.Name == RuleOwners && (r.Pass || !strings.Contains(r.Detail, why)) {
			t.Errorf("owners rule = %+v, want it failed saying %q", r, why)
		}
	}
	if v.Approved {
		t.Errorf("approved with an unresolvable owners group")
	}
}
