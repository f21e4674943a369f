//go:build realgerrit

package e2e

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// One commit, two changes, on a real Gerrit: carol's change on main and
// the same commit pushed for review to stable with the base push option
// (`git push -o base=<sha>`), which is how Gerrit makes a second change
// of a commit it already has. The stable reviewer's Code-Review -2 holds
// the commit on main even though its main change is approved and
// submitted, and the status names the stable change; withdrawing the -2
// lets it deploy (the simulator's TestVetoOnAnotherChangeOfTheSameCommit,
// here with Gerrit as the judge of what can exist).
func TestRealGerritVetoOnAnotherChangeOfTheSameCommit(t *testing.T) {
	r, p, w, base, g := gatedProject(t, "MERGE_IF_NECESSARY")
	r.must(admin, http.MethodPut, "/projects/"+url.PathEscape(p)+"/branches/stable", map[string]any{"revision": base}, nil)
	c := w.upload(base, "A: fix for main and stable")

	// What Gerrit refuses: the commit again without a base ("no new
	// changes": it is already in the repository), and again for main even
	// with a base (one change per branch and Change-Id).
	for _, tt := range []struct {
		what, opts, ref, refusal string
	}{
		{"for stable without a base", "", "refs/for/stable", "no new changes"},
		{"for main with a base", "base=" + base, "refs/for/main", "already exists"},
	} {
		args := []string{"push", "origin", c.sha + ":" + tt.ref}
		if tt.opts != "" {
			args = []string{"push", "-o", tt.opts, "origin", c.sha + ":" + tt.ref}
		}
		out, err := w.gitErr(carol, args...)
		t.Logf("push %s: %v\n%s", tt.what, err, strings.TrimSpace(out))
		if err == nil || !strings.Contains(out, tt.refusal) {
			t.Fatalf("premise: Gerrit should refuse the commit %s with %q; git said %v:\n%s", tt.what, tt.refusal, err, out)
		}
	}
	// What it accepts: the same commit for stable with a base.
	w.git(carol, "push", "-q", "-o", "base="+base, "origin", c.sha+":refs/for/stable")
	var found []changeInfo
	r.must(gateU, http.MethodGet, "/changes/?o=CURRENT_REVISION&q="+url.QueryEscape("commit:"+c.sha+" project:"+p), nil, &found)
	var other change
	for _, ci := range found {
		if ci.Number != c.number {
			other = change{project: p, number: ci.Number, sha: ci.CurrentRevision, changeID: c.changeID}
		}
	}
	if len(found) != 2 || other.sha != c.sha {
		t.Fatalf("premise: commit:%s should find change %d and a second change whose patch set 1 is that commit; got %+v", c.sha, c.number, found)
	}

	r.approve(c)
	r.mustVote(bob, other, map[string]int{"Code-Review": -2})
	tip := r.submit(c)
	if tip != c.sha {
		t.Fatalf("premise: the submit should fast-forward main to %s, got %s", c.sha, tip)
	}
	st := stays(t, g, p, base, tip)
	want := fmt.Sprintf("change %d (branch stable, NEW), which also has this commit as patch set 1: vetoed: Code-Review -2 by bob", other.number)
	if st.Reason != "NotApproved" || !strings.Contains(st.Message, want) {
		t.Fatalf("status %s: %q, want NotApproved saying %q", st.Reason, st.Message, want)
	}

	r.mustVote(bob, other, map[string]int{"Code-Review": 0})
	g.waitDeployed(p, "prod", tip)
}
