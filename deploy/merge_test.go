package deploy

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/gerritgate/gerritgate/storage/storagetest"
)

// work is a C git working repository whose commits are pushed into the
// upstream mirror, for histories that need real merges.
type work struct {
	t   *testing.T
	dir string
	up  string
}

func newWork(t *testing.T, r *repo) *work {
	t.Helper()
	w := &work{t: t, dir: t.TempDir(), up: r.up.Dir()}
	w.git("init", "-q", "--initial-branch=main")
	return w
}

func (w *work) git(args ...string) string {
	w.t.Helper()
	out, err := storagetest.Git(w.t, w.dir, nil, args...)
	if err != nil {
		w.t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(out)
}

func (w *work) write(path, content string) {
	w.t.Helper()
	p := filepath.Join(w.dir, path)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		w.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		w.t.Fatal(err)
	}
}

// commit commits everything in the work tree and returns the SHA.
func (w *work) commit(msg string) string {
	w.t.Helper()
	w.git("add", "-A")
	w.git("commit", "-q", "--allow-empty", "-m", msg)
	return w.git("rev-parse", "HEAD")
}

// publish pushes sha into the upstream mirror as its main branch.
func (w *work) publish(sha string) {
	w.t.Helper()
	w.git("push", "-q", "-f", w.up, sha+":refs/heads/main")
}

// renameBlindMerge writes a merge commit of ours and theirs whose tree is
// the path-by-path merge without rename detection, as Gerrit's JGit makes
// it (the cases here need no line merges).
func (w *work) renameBlindMerge(ours, theirs string) string {
	w.t.Helper()
	index := []string{"GIT_INDEX_FILE=" + filepath.Join(w.t.TempDir(), "index")}
	run := func(args ...string) string {
		out, err := storagetest.Git(w.t, w.dir, index, args...)
		if err != nil {
			w.t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(out)
	}
	run("read-tree", "-i", "-m", "--aggressive", run("merge-base", ours, theirs), ours, theirs)
	return w.git("commit-tree", run("write-tree"), "-p", ours, "-p", theirs, "-m", "Merge \"theirs\"")
}

// Gerrit's clean merges that rename-aware merge-tree calls conflicts (or
// merges differently) are accepted when their tree is the rename-blind
// merge; anything else in the tree still is not.
func TestCleanMergeWithoutRenameDetection(t *testing.T) {
	for _, tt := range []struct {
		name          string
		base, ours    func(w *work)
		theirs        func(w *work)
		tamper        bool
		wantApproved  bool
		wantInMessage string
	}{
		{
			name:         "one side deletes a file the other moves",
			base:         func(w *work) { w.write("apps/a.yaml", "a\n"); w.write("keep", "k\n") },
			ours:         func(w *work) { w.git("rm", "-q", "apps/a.yaml") },
			theirs:       func(w *work) { w.git("mv", "apps/a.yaml", "apps/b.yaml") },
			wantApproved: true,
		},
		{
			name:         "one side renames a directory the other adds to",
			base:         func(w *work) { w.write("old/x.yaml", "x\n"); w.write("keep", "k\n") },
			ours:         func(w *work) { w.git("mv", "old", "new") },
			theirs:       func(w *work) { w.write("old/y.yaml", "y\n") },
			wantApproved: true,
		},
		{
			name:   "a rename-blind merge with content of its own",
			base:   func(w *work) { w.write("apps/a.yaml", "a\n") },
			ours:   func(w *work) { w.git("rm", "-q", "apps/a.yaml") },
			theirs: func(w *work) { w.git("mv", "apps/a.yaml", "apps/b.yaml") },
			tamper: true,
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, r, f, d, target := setup(t)
			w := newWork(t, r)
			tt.base(w)
			base := w.commit("base")
			w.publish(base)
			target.Baseline = base
			if res := d.Reconcile(context.Background(), target); res.To != base {
				t.Fatalf("setup: %s %s", res.Reason, res.Message)
			}
			tt.ours(w)
			ours := w.commit("ours")
			w.git("checkout", "-q", base)
			tt.theirs(w)
			theirs := w.commit("theirs")
			merge := w.renameBlindMerge(ours, theirs)
			if tt.tamper {
				w.git("checkout", "-q", merge)
				w.write("evil.yaml", "evil\n")
				w.git("add", "-A")
				tree := w.git("write-tree")
				merge = w.git("commit-tree", tree, "-p", ours, "-p", theirs, "-m", "Merge \"theirs\"")
			}
			w.publish(merge)
			f.approved[ours], f.approved[theirs] = true, true

			res := d.Reconcile(context.Background(), target)
			if got := res.To == merge; got != tt.wantApproved {
				t.Errorf("deploy/prod = %s (%s %s), want at the merge %s: %v", res.To, res.Reason, res.Message, merge, tt.wantApproved)
			}
			if !tt.wantApproved && (res.Decision == nil || res.Decision.BlockedAt != merge) {
				t.Errorf("decision %+v, want blocked at the merge %s", res.Decision, merge)
			}
		})
	}
}

// A merge git cannot check (unrelated histories: a subtree import) is
// decided on its own: approved when its change is, blocking only itself
// when it belongs to no change, never failing the commits before it.
func TestMergeOfUnrelatedHistoriesIsDecidedOnItsOwn(t *testing.T) {
	for _, mergeApproved := range []bool{true, false} {
		_, r, f, d, target := setup(t)
		w := newWork(t, r)
		w.write("apps/a.yaml", "a\n")
		base := w.commit("base")
		w.publish(base)
		target.Baseline = base
		if res := d.Reconcile(context.Background(), target); res.To != base {
			t.Fatalf("setup: %s %s", res.Reason, res.Message)
		}
		w.write("apps/b.yaml", "b\n")
		before := w.commit("approved, before the import")
		w.git("checkout", "-q", "--orphan", "imported")
		w.git("rm", "-q", "-rf", ".")
		w.write("vendor/lib/x.go", "package lib\n")
		root := w.commit("the imported project's root")
		w.git("checkout", "-q", "main")
		w.git("merge", "-q", "--allow-unrelated-histories", "-m", "Import lib as a subtree", root)
		merge := w.git("rev-parse", "HEAD")
		w.publish(merge)
		f.approved[before], f.approved[root] = true, true
		f.approved[merge] = mergeApproved

		res := d.Reconcile(context.Background(), target)
		want := plumbing.NewHash(before).String()
		if mergeApproved {
			want = merge
		}
		if res.To != want {
			t.Errorf("merge approved=%v: deploy/prod = %s (%s %s), want %s", mergeApproved, res.To, res.Reason, res.Message, want)
		}
		if !mergeApproved && !strings.Contains(res.Message, "unrelated histories") {
			t.Errorf("merge of no change: message %q does not give git's reason", res.Message)
		}
	}
}
