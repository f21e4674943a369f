package gate

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzParsePolicy: ParsePolicy never panics; an error always names the
// file; a policy that parses survives a round trip through a canonical
// form of itself (every field written out) unchanged, with the same
// Summary; and no policy that parses approves a commit nobody reviewed.
//
// The seeds in the test file and in testdata/fuzz/FuzzParsePolicy run with
// every go test; go test -fuzz=FuzzParsePolicy ./gate/ explores further.
func FuzzParsePolicy(f *testing.F) {
	for _, s := range []string{goodPolicy, fullPolicy, matchPolicy, envPolicy} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParsePolicy("fuzz.yaml", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.yaml") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		canon := canonical(t, c)
		if canon == nil {
			return
		}
		c2, err := ParsePolicy("canonical.yaml", canon)
		if err != nil {
			t.Fatalf("the canonical form of a valid policy does not parse: %v\n%s", err, canon)
		}
		if !reflect.DeepEqual(c, c2) {
			t.Fatalf("round trip changed the policy:\n%#v\n%#v\n%s", c, c2, canon)
		}
		for name, p := range c.Policies {
			s1, s2 := p.Summary(), c2.Policies[name].Summary()
			if !reflect.DeepEqual(s1, s2) || len(s1) < 3 {
				t.Fatalf("summary of %s: %q, after round trip %q", name, s1, s2)
			}
			failsClosed(t, p)
		}
		for _, r := range c.Repos {
			if _, err := c.Match(r.Project); err != nil && !strings.Contains(err.Error(), ErrAmbiguous.Error()) {
				t.Fatalf("Match(%q): %v", r.Project, err)
			}
		}
	})
}

// failsClosed checks that p approves neither a direct push nor a merged
// change without a single vote, nor (without selfApproval) one only its
// owner voted on.
func failsClosed(t *testing.T, p *Policy) {
	t.Helper()
	const sha = "1111111111111111111111111111111111111111"
	rng := func(ch ...Change) Range {
		return Range{
			Project: "p", Branch: "main", Base: parent, Head: sha,
			Commits: []Commit{{SHA: sha, Parents: []string{parent}}},
			Changes: map[string][]Change{sha: ch},
			Files:   map[string][]string{sha: {"a"}},
			Groups:  map[string][]Account{},
		}
	}
	ch := Change{
		Project: "p", Branch: "main", Number: 1, Status: "MERGED", Owner: alice, Submitter: bob,
		CurrentRevision: sha, Revisions: map[string]Revision{sha: {SHA: sha, Number: 1, Uploader: alice, Kind: "REWORK", Author: aliceGit}},
		Labels: map[string][]Vote{}, SubmitRequirements: []SubmitRequirement{{Name: "Code-Review", Status: "SATISFIED"}},
	}
	if d := Evaluate(p, rng()); d.Target != parent {
		t.Fatalf("policy %s approves a direct push: %+v", p.Name, d)
	}
	if d := Evaluate(p, rng(ch)); d.Target != parent {
		t.Fatalf("policy %s approves a change without votes: %+v", p.Name, d)
	}
	if p.SelfApproval {
		return
	}
	for l, r := range p.Labels {
		ch.Labels[l] = []Vote{{Account: alice, Value: r.Min}}
	}
	if d := Evaluate(p, rng(ch)); d.Target != parent {
		t.Fatalf("policy %s approves a change only its owner voted on: %+v", p.Name, d)
	}
}

// canonical writes c as a policy file that sets every field: JSON, which
// is YAML. It returns nil for a config JSON cannot carry faithfully.
func canonical(t *testing.T, c *Config) []byte {
	t.Helper()
	var repos []any
	for _, r := range c.Repos {
		var envs []any
		for _, e := range r.Environments {
			env := map[string]any{"name": e.Name, "policy": e.Policy, "baseline": e.Baseline}
			if e.After != "" {
				env["after"] = e.After
			}
			if e.Soak > 0 {
				env["soak"] = e.Soak.String()
			}
			if e.Schedule.Location != nil {
				var specs []string
				for _, w := range e.Schedule.Windows {
					specs = append(specs, w.Spec)
				}
				env["windows"], env["timezone"] = specs, e.Schedule.Location.String()
			}
			var freezes []any
			for _, f := range e.Schedule.Freezes {
				freezes = append(freezes, map[string]any{"from": f.From.Format(time.RFC3339Nano), "until": f.Until.Format(time.RFC3339Nano), "reason": f.Reason})
			}
			if freezes != nil {
				env["freezes"] = freezes
			}
			envs = append(envs, env)
		}
		repo := map[string]any{"project": r.Project, "branch": r.Branch, "environments": envs}
		if r.AcceptFrom != nil {
			repo["acceptFrom"] = r.AcceptFrom
		}
		repos = append(repos, repo)
	}
	policies := map[string]any{}
	for name, p := range c.Policies {
		labels := map[string]any{}
		for l, r := range p.Labels {
			labels[l] = map[string]any{"min": r.Min}
		}
		m := map[string]any{
			"labels":          labels,
			"vetoes":          p.Vetoes,
			"allowOverridden": p.AllowOverridden,
			"selfApproval":    p.SelfApproval,
			"approvers":       p.Approvers,
		}
		if p.Extends != "" {
			m["extends"] = p.Extends
		}
		if p.SubmitRequirements.AllApplicable {
			m["submitRequirements"] = RequirementsSatisfied
		} else if len(p.SubmitRequirements.Names) > 0 {
			m["submitRequirements"] = p.SubmitRequirements.Names
		}
		if p.Owners != nil {
			owners := []any{}
			for _, o := range p.Owners {
				owners = append(owners, map[string]any{"paths": o.Paths, "groups": o.Groups})
			}
			m["owners"] = owners
		}
		policies[name] = m
	}
	out, err := json.Marshal(map[string]any{"repos": repos, "policies": policies})
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	if !utf8.Valid(out) || strings.Contains(string(out), `\ufffd`) {
		return nil // json.Marshal replaced invalid UTF-8: not the same strings
	}
	return out
}

// TestParsePolicyLibraryPanic: go-yaml 1.19.2 panics decoding this; the
// policy file is refused instead.
func TestParsePolicyLibraryPanic(t *testing.T) {
	src := "repos:\n  !0000000000\n000000000:\n    000000: 00000000000\n0000000000: 000000"
	_, err := ParsePolicy("p.yaml", []byte(src))
	if err == nil || !strings.HasPrefix(err.Error(), "p.yaml: ") {
		t.Errorf("err = %v, want a p.yaml error", err)
	}
}
