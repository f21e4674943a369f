package audit

import (
	"fmt"
	"reflect"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/gerritgate/gerritgate/gate"
)

// recheck decides an Advance record again from its evidence alone and
// reports whether it agrees.
func (v *verifier) recheck(c *object.Commit, rec *Record) bool {
	bad := func(format string, args ...any) bool {
		v.fail("audit %s: recheck: "+format, append([]any{short(c.Hash)}, args...)...)
		return false
	}
	if rec.Kind == Paid {
		return v.recheckPaid(rec, bad)
	}
	if rec.Policy.Rules == nil || rec.Evidence == nil || rec.Decision == nil {
		return bad("an advance record without policy rules, evidence or decision")
	}
	if h := policyHash(rec.Policy.Rules); h != rec.Policy.SHA256 {
		return bad("the recorded rules hash to %s, the record says %s", h[:16], shortSHA(rec.Policy.SHA256))
	}
	ev := rec.Evidence
	if ev.Base != rec.From || ev.Head != rec.To || ev.Project != rec.Project || ev.Branch != rec.Branch {
		return bad("the evidence is about %s %s..%s, the record about %s %s..%s", ev.Project, shortSHA(ev.Base), shortSHA(ev.Head), rec.Project, shortSHA(rec.From), shortSHA(rec.To))
	}
	if err := v.sameCommits(ev); err != nil {
		return bad("%v", err)
	}
	if err := v.sameFiles(ev); err != nil {
		return bad("%v", err)
	}
	got := gate.Evaluate(rec.Policy.Rules, *ev)
	if got.Target != rec.To {
		return bad("the recorded evidence does not support moving to %s: %s", shortSHA(rec.To), got.Why())
	}
	if !sameJSON(got, *rec.Decision) {
		return bad("the recorded verdicts differ from what the recorded evidence decides")
	}
	if !sameJSON(Summarize(ev, &got), rec.Commits) {
		return bad("the commit summary differs from the evidence")
	}
	return true
}

// sameCommits checks that the evidence lists exactly the commits git says
// entered (reachable from Head, not from Base, as covers found them), with
// their parents.
func (v *verifier) sameCommits(ev *gate.Range) error {
	entered := v.entered
	if entered == nil {
		return fmt.Errorf("the commits that entered are unknown: the step itself is wrong")
	}
	if len(entered) != len(ev.Commits) {
		return fmt.Errorf("the evidence lists %d commits, git says %d entered", len(ev.Commits), len(entered))
	}
	for _, c := range ev.Commits {
		ps, ok := entered[c.SHA]
		if !ok {
			return fmt.Errorf("the evidence lists %s, which did not enter", shortSHA(c.SHA))
		}
		if !reflect.DeepEqual(ps, c.Parents) && !(len(ps) == 0 && len(c.Parents) == 0) {
			return fmt.Errorf("the evidence gives %s other parents than git", shortSHA(c.SHA))
		}
	}
	return nil
}

// sameFiles checks the recorded changed files against git: the owners
// rules decided on them.
func (v *verifier) sameFiles(ev *gate.Range) error {
	for sha, files := range ev.Files {
		got, err := ChangedFiles(v.repo, plumbing.NewHash(sha))
		if err != nil {
			return fmt.Errorf("the evidence lists files of %s: %w", shortSHA(sha), err)
		}
		if !sameSet(got, files) {
			return fmt.Errorf("the evidence lists other changed files for %s than git (%d recorded, %d in git)", shortSHA(sha), len(files), len(got))
		}
	}
	return nil
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	in := map[string]bool{}
	for _, s := range a {
		in[s] = true
	}
	for _, s := range b {
		if !in[s] {
			return false
		}
	}
	return true
}
