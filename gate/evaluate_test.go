package gate

import (
	"strings"
	"testing"
)

var (
	alice = Account{ID: 1000001, Username: "alice"}
	bob   = Account{ID: 1000002, Username: "bob"}
	carol = Account{ID: 1000003, Username: "carol"}
)

func reviewed() *Policy {
	return &Policy{
		Name:   "reviewed",
		Labels: map[string]LabelRule{"Code-Review": {Min: 2}, "Verified": {Min: 1}},
		Vetoes: map[string]int{"Code-Review": -2},
	}
}

// merged returns a change merged by submit at sha with the given votes.
func merged(n int, sha string, votes map[string][]Vote) Change {
	return Change{
		Project: "platform/fleet", Branch: "main", Number: n, Status: "MERGED",
		Owner: alice, Submitter: bob, CurrentRevision: sha,
		Revisions: map[string]Revision{sha: {SHA: sha, Number: 1, Uploader: alice}},
		Labels:    votes,
	}
}

func approvedVotes() map[string][]Vote {
	return map[string][]Vote{
		"Code-Review": {{Account: bob, Value: 2}, {Account: carol, Value: 0}},
		"Verified":    {{Account: carol, Value: 1}},
	}
}

func TestEvaluateCommit(t *testing.T) {
	const sha = "1111111111111111111111111111111111111111"
	c := Commit{SHA: sha, Parents: []string{"0000000000000000000000000000000000000001"}, Subject: "s"}
	tests := []struct {
		what     string
		changes  func() []Change
		approved bool
		failing  string // rule that must fail
		detail   string // in the failing rule's detail
	}{
		{"approved", func() []Change { return []Change{merged(1, sha, approvedVotes())} }, true, "", ""},
		{"direct push", func() []Change { return nil }, false, "provenance", "pushed directly"},
		{"missing Verified", func() []Change {
			v := approvedVotes()
			delete(v, "Verified")
			return []Change{merged(1, sha, v)}
		}, false, "label Verified", "no votes"},
		{"only +1", func() []Change {
			v := approvedVotes()
			v["Code-Review"] = []Vote{{Account: bob, Value: 1}}
			return []Change{merged(1, sha, v)}
		}, false, "label Code-Review", "bob +1"},
		{"vetoed", func() []Change {
			v := approvedVotes()
			v["Code-Review"] = append(v["Code-Review"], Vote{Account: carol, Value: -2})
			return []Change{merged(1, sha, v)}
		}, false, "veto Code-Review", "carol"},
		{"vetoed after submit", func() []Change {
			v := approvedVotes()
			v["Code-Review"] = append(v["Code-Review"], Vote{Account: carol, Value: -2, PostSubmit: true})
			return []Change{merged(1, sha, v)}
		}, false, "veto Code-Review", "after submit"},
		{"not merged", func() []Change {
			ch := merged(1, sha, approvedVotes())
			ch.Status = "NEW"
			return []Change{ch}
		}, false, "merged", "is NEW"},
		{"abandoned", func() []Change {
			ch := merged(1, sha, approvedVotes())
			ch.Status = "ABANDONED"
			return []Change{ch}
		}, false, "merged", "ABANDONED"},
		{"older patch set", func() []Change {
			ch := merged(1, "2222222222222222222222222222222222222222", approvedVotes())
			ch.Revisions[sha] = Revision{SHA: sha, Number: 1}
			return []Change{ch}
		}, false, "merged", "merged another patch set"},
		{"merged by push", func() []Change {
			ch := merged(1, sha, approvedVotes())
			ch.Submitter = Account{}
			return []Change{ch}
		}, false, "merged", "direct push"},
		{"other branch", func() []Change {
			ch := merged(1, sha, approvedVotes())
			ch.Branch = "dev"
			return []Change{ch}
		}, false, "provenance", "other projects or branches"},
		{"other project", func() []Change {
			ch := merged(1, sha, approvedVotes())
			ch.Project = "platform/other"
			return []Change{ch}
		}, false, "provenance", "other projects or branches"},
		{"one of two changes approved", func() []Change {
			bad := merged(1, sha, map[string][]Vote{})
			return []Change{bad, merged(2, sha, approvedVotes())}
		}, true, "", ""},
	}
	for _, tt := range tests {
		v := EvaluateCommit(reviewed(), "platform/fleet", "main", c, tt.changes())
		if v.Approved != tt.approved {
			t.Errorf("%s: approved = %v, want %v (rules %+v)", tt.what, v.Approved, tt.approved, v.Rules)
			continue
		}
		if tt.failing == "" {
			for _, r := range v.Rules {
				if !r.Pass {
					t.Errorf("%s: rule %s failed in an approved verdict", tt.what, r.Name)
				}
			}
			continue
		}
		found := false
		for _, r := range v.Rules {
			if r.Name == tt.failing && !r.Pass {
				found = true
				if !strings.Contains(r.Detail, tt.detail) {
					t.Errorf("%s: detail %q does not mention %q", tt.what, r.Detail, tt.detail)
				}
			}
		}
		if !found {
			t.Errorf("%s: rule %q did not fail; rules %+v", tt.what, tt.failing, v.Rules)
		}
	}
}

// graph builds a Range from "sha:parent,parent" specs, parents first.
func graph(base, head string, specs ...string) Range {
	r := Range{Project: "platform/fleet", Branch: "main", Base: base, Head: head, Changes: map[string][]Change{}}
	for _, s := range specs {
		sha, parents, _ := strings.Cut(s, ":")
		c := Commit{SHA: sha, Subject: "commit " + sha}
		if parents != "" {
			c.Parents = strings.Split(parents, ",")
		}
		r.Commits = append(r.Commits, c)
	}
	return r
}

func TestEvaluateRange(t *testing.T) {
	ok := func(r *Range, shas ...string) {
		for _, s := range shas {
			r.Changes[s] = []Change{merged(len(r.Changes)+1, s, approvedVotes())}
		}
	}
	clean := func(r *Range, sha string) {
		for i := range r.Commits {
			if r.Commits[i].SHA == sha {
				r.Commits[i].CleanMerge = true
			}
		}
	}
	tests := []struct {
		what        string
		rng         func() Range
		wantTarget  string
		wantBlocked string
	}{
		{"all approved", func() Range {
			r := graph("base", "c", "a:base", "b:a", "c:b")
			ok(&r, "a", "b", "c")
			return r
		}, "c", ""},
		{"stops before unapproved", func() Range {
			r := graph("base", "d", "a:base", "b:a", "c:b", "d:c")
			ok(&r, "a", "b", "d")
			return r
		}, "b", "c"},
		{"first unapproved", func() Range {
			r := graph("base", "b", "a:base", "b:a")
			ok(&r, "b")
			return r
		}, "base", "a"},
		{"clean gerrit merge of approved side commit", func() Range {
			r := graph("base", "m", "a:base", "s:base", "m:a,s")
			ok(&r, "a", "s")
			clean(&r, "m")
			return r
		}, "m", ""},
		{"evil merge", func() Range {
			r := graph("base", "m", "a:base", "s:base", "m:a,s")
			ok(&r, "a", "s")
			return r
		}, "a", "m"},
		{"clean merge bringing in a direct push", func() Range {
			r := graph("base", "m", "a:base", "s:base", "m:a,s")
			ok(&r, "a")
			clean(&r, "m")
			return r
		}, "a", "s"},
		{"history that does not descend from base", func() Range {
			// head's first-parent chain never reaches base: a rewrite.
			r := graph("base", "y", "x:", "y:x")
			ok(&r, "x", "y")
			return r
		}, "base", "y"},
		{"parents out of order are refused", func() Range {
			r := graph("base", "b", "b:a", "a:base")
			ok(&r, "a", "b")
			return r
		}, "a", "b"},
	}
	for _, tt := range tests {
		d := Evaluate(reviewed(), tt.rng())
		if d.Target != tt.wantTarget || d.BlockedAt != tt.wantBlocked {
			t.Errorf("%s: target %q blocked at %q, want %q and %q", tt.what, d.Target, d.BlockedAt, tt.wantTarget, tt.wantBlocked)
		}
		if tt.wantBlocked != "" && !strings.Contains(d.Why(), short(tt.wantBlocked)) {
			t.Errorf("%s: Why() = %q does not name %s", tt.what, d.Why(), tt.wantBlocked)
		}
	}
}
