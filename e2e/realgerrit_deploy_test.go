//go:build realgerrit

package e2e

import (
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// uploadEdit makes a commit as carol on base whose content is whatever
// edit does in the work tree (git commands as carol), and pushes it for
// review to refs/for/<branch>.
func (w *workspace) uploadEdit(branch, base, subject string, edit func()) change {
	w.t.Helper()
	c := change{project: w.project, changeID: "I" + randomHex(w.t, 20)}
	w.git(carol, "fetch", "-q", "origin")
	w.git(carol, "checkout", "-q", "--detach", base)
	edit()
	w.git(carol, "add", "-A")
	w.git(carol, "commit", "-q", "-m", subject+"\n\nChange-Id: "+c.changeID+"\n")
	c.sha = w.git(carol, "rev-parse", "HEAD")
	w.git(carol, "push", "-q", "origin", "HEAD:refs/for/"+branch)
	c.number = w.changeNumber(c.changeID)
	return c
}

// changeNumber finds the one change of the workspace's project with a
// Change-Id.
func (w *workspace) changeNumber(changeID string) int {
	w.t.Helper()
	var found []changeInfo
	w.r.must(gateU, http.MethodGet, "/changes/?q="+url.QueryEscape("change:"+changeID+" project:"+w.project), nil, &found)
	if len(found) != 1 {
		w.t.Fatalf("%d changes with Change-Id %s in %s, want 1", len(found), changeID, w.project)
	}
	return found[0].Number
}

func (w *workspace) write(path, content string) {
	w.t.Helper()
	p := filepath.Join(w.dir, path)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		w.t.Fatal(err)
	}
	writeFile(w.t, p, content)
}

// Issue 8 item 7: Gerrit merges (MERGE_IF_NECESSARY) with JGit, without
// rename detection; git merge-tree calls these merges conflicts. The gate
// deploys Gerrit's merge commit because its tree is the rename-blind
// merge of its parents.
func TestRealGerritRenameBlindMerges(t *testing.T) {
	for _, tt := range []struct {
		name          string
		setup         map[string]string
		first, second func(w *workspace)
	}{
		{
			name:   "one change deletes a file another moves",
			setup:  map[string]string{"apps/a.yaml": "a: 1\n", "keep.yaml": "k\n"},
			first:  func(w *workspace) { w.git(carol, "rm", "-q", "apps/a.yaml") },
			second: func(w *workspace) { w.git(carol, "mv", "apps/a.yaml", "apps/b.yaml") },
		},
		{
			name:   "one change renames a directory another adds to",
			setup:  map[string]string{"old/x.yaml": "x: 1\n", "keep.yaml": "k\n"},
			first:  func(w *workspace) { w.git(carol, "mv", "old", "new") },
			second: func(w *workspace) { w.write("old/y.yaml", "y: 1\n") },
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := newRealGerrit(t)
			p := r.createProject("MERGE_IF_NECESSARY")
			w := r.workspace(p)
			setup := w.uploadEdit("main", r.tip(p), "setup", func() {
				for path, content := range tt.setup {
					w.write(path, content)
				}
			})
			r.approve(setup)
			base := r.submit(setup)
			g := startRealGate(t, r, p, "upstream", "")
			g.waitDeployed(p, "prod", base)

			x := w.uploadEdit("main", base, "X", func() { tt.first(w) })
			y := w.uploadEdit("main", base, "Y", func() { tt.second(w) })
			r.approve(x)
			r.approve(y)
			if got := r.submit(x); got != x.sha {
				t.Fatalf("premise: X should fast-forward main, tip is %s", got)
			}
			m := r.submit(y)
			w.git(carol, "fetch", "-q", "origin")
			if parents := w.git(carol, "log", "-1", "--format=%P", m); parents != x.sha+" "+y.sha {
				t.Fatalf("premise: Gerrit should merge Y with parents X Y; %s has %q", m, parents)
			}
			if err := mergeTreeConflicts(t, filepath.Join(w.dir, ".git"), x.sha, y.sha); err != nil {
				t.Fatalf("premise: %v", err)
			}
			g.waitDeployed(p, "prod", m)
		})
	}
}

// Issue 8 item 12: a reviewed merge of stable into main brings a commit
// reviewed and merged on stable. Without acceptFrom the gate says the
// commit belongs to the stable change; with acceptFrom: [stable] it
// deploys. (Gerrit refuses a plain change built on stable's commit as an
// implicit merge; the merge must be explicit.)
func TestRealGerritAcceptFrom(t *testing.T) {
	r := newRealGerrit(t)
	p := r.createProject("MERGE_IF_NECESSARY")
	w := r.workspace(p)
	root := r.tip(p)
	r.must(admin, http.MethodPut, "/projects/"+url.PathEscape(p)+"/branches/stable", map[string]any{"revision": root}, nil)

	fix := w.uploadEdit("stable", root, "fix on stable", func() { w.write("fix.yaml", "fix: 1\n") })
	r.approve(fix)
	r.must(bob, http.MethodPost, fix.path()+"/submit", nil, nil)
	up := change{project: p, changeID: "I" + randomHex(t, 20)}
	w.git(carol, "fetch", "-q", "origin")
	w.git(carol, "checkout", "-q", "--detach", root)
	w.git(carol, "merge", "-q", "--no-ff", "-m", "Merge stable into main\n\nChange-Id: "+up.changeID+"\n", fix.sha)
	up.sha = w.git(carol, "rev-parse", "HEAD")
	w.git(carol, "push", "-q", "origin", "HEAD:refs/for/main")
	up.number = w.changeNumber(up.changeID)
	r.approve(up)
	head := r.submit(up)
	if head != up.sha {
		t.Fatalf("premise: main should fast-forward to the reviewed merge %s, tip is %s", up.sha, head)
	}

	strict := startRealGate(t, r, p, root, "")
	st := stays(t, strict, p, root, fix.sha)
	if approved, rules := verdict(t, st, fix.sha); approved || !strings.Contains(rules, "on branch stable") {
		t.Errorf("verdict on stable's fix without acceptFrom: approved=%v %s; want refused naming branch stable", approved, rules)
	}
	strict.stop()

	policy := strings.Replace(realPolicy(p, root), "    branch: main\n", "    branch: main\n    acceptFrom: [stable]\n", 1)
	g := startGate(t, gateSetup{gerritURL: r.url, username: r.env["GERRIT_GATE_USER"], password: r.env["GERRIT_GATE_PASSWORD"], policy: policy})
	g.waitDeployed(p, "prod", head)
}

// Issue 8 item 11: the owners group deployers (set up by setup.sh; the
// gate account owns it) includes pushers, which the gate account cannot
// see. Gerrit leaves pusher out of deployers' members without a sign; the
// gate notices the hidden subgroup and says which group and which
// permission, instead of "no member voted (members: alice)".
func TestRealGerritOwnersSubgroupHiddenFromGate(t *testing.T) {
	r := newRealGerrit(t)
	p := r.createProject("MERGE_IF_NECESSARY")
	w := r.workspace(p)
	root := r.tip(p)
	policy := strings.Replace(realPolicy(p, "upstream"), "    vetoes: {Code-Review: -2}\n",
		"    vetoes: {Code-Review: -2}\n    owners:\n      - paths: [\"clusters/**\"]\n        groups: [deployers]\n", 1)
	g := startGate(t, gateSetup{gerritURL: r.url, username: r.env["GERRIT_GATE_USER"], password: r.env["GERRIT_GATE_PASSWORD"], policy: policy})
	g.waitDeployed(p, "prod", root)

	c := w.upload(root, "A: touches clusters/")
	r.mustVote(pusher, c, map[string]int{"Code-Review": 2})
	r.mustVote(bob, c, map[string]int{"Verified": 1})
	a := r.submit(c)
	st := stays(t, g, p, root, a)
	approved, rules := verdict(t, st, a)
	if approved || !strings.Contains(rules, "group deployers includes group pushers") || !strings.Contains(rules, "owner group") {
		t.Errorf("verdict on A, approved by pusher (in pushers, inside deployers): approved=%v %s; want refused naming the hidden subgroup and the permission", approved, rules)
	}
}
