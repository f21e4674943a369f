package deploy

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/gerritgate/gerritgate/gate"
)

// With baseline: upstream, a branch the gate has never deployed (a new
// environment, a branch that appears later, a project a glob matches later)
// is decided from its root: only Gerrit's empty initial commit and
// approved commits are deployed, never the head as it happens to be.
func TestBaselineUpstreamIsDecidedFromTheRoot(t *testing.T) {
	for _, tt := range []struct {
		name       string
		build      func(r *repo, approve func(...plumbing.Hash)) (head, want plumbing.Hash)
		wantReason Reason
		wantMsg    string
	}{
		{
			name: "Gerrit's initial empty commit only",
			build: func(r *repo, approve func(...plumbing.Hash)) (plumbing.Hash, plumbing.Hash) {
				root := r.emptyRoot()
				return root, root
			},
			wantReason: Initialized,
		},
		{
			name: "reviewed history after the empty commit, then a direct push",
			build: func(r *repo, approve func(...plumbing.Hash)) (plumbing.Hash, plumbing.Hash) {
				a := r.commit("a", r.emptyRoot())
				b := r.commit("b", a)
				approve(a, b)
				return r.commit("pushed past review", b), b
			},
			wantReason: Initialized,
			wantMsg:    "stopped before",
		},
		{
			name: "a root pushed directly (an imported repository)",
			build: func(r *repo, approve func(...plumbing.Hash)) (plumbing.Hash, plumbing.Hash) {
				a := r.commit("a", r.commit("imported"))
				approve(a)
				return a, plumbing.ZeroHash
			},
			wantReason: AwaitingBaseline,
			wantMsg:    "gerritgate adopt",
		},
		{
			name: "a reviewed root",
			build: func(r *repo, approve func(...plumbing.Hash)) (plumbing.Hash, plumbing.Hash) {
				root := r.commit("root through review")
				a := r.commit("a", root)
				approve(root, a)
				return a, a
			},
			wantReason: Initialized,
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			store, r, f, d, target := setup(t)
			head, want := tt.build(r, func(hs ...plumbing.Hash) {
				for _, h := range hs {
					f.approved[h.String()] = true
				}
			})
			r.setBranch(head)
			res := d.Reconcile(context.Background(), target)
			if res.Reason != tt.wantReason || !strings.Contains(res.Message, tt.wantMsg) {
				t.Errorf("reconcile: %s %q, want %s containing %q", res.Reason, res.Message, tt.wantReason, tt.wantMsg)
			}
			served, _ := store.Served("platform/fleet")
			got, _ := served.Ref(target.Ref())
			if got != want {
				t.Errorf("deploy/prod = %s, want %s", got, want)
			}
			if baseline, _ := served.Ref(target.BaselineRef()); baseline != want {
				t.Errorf("baseline ref = %s, want %s", baseline, want)
			}
			ex, err := d.Explain(context.Background(), target, 0)
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantReason == AwaitingBaseline && ex.Reason != AwaitingBaseline {
				t.Errorf("explain: %s %q, want %s", ex.Reason, ex.Message, AwaitingBaseline)
			}
		})
	}
}

// More pending commits than maxRange are decided in bounded windows of
// first-parent steps, so the branch advances through the approved prefix
// instead of failing every poll.
func TestLongRangeAdvancesInBoundedSteps(t *testing.T) {
	store, r, f, _, target := setup(t)
	d := New(store, f, WithMaxRange(2))
	root := r.emptyRoot()
	r.setBranch(root)
	if res := d.Reconcile(context.Background(), target); res.Reason != Initialized {
		t.Fatalf("first reconcile: %s %s", res.Reason, res.Message)
	}
	var line []plumbing.Hash
	prev := root
	for _, s := range []string{"c1", "c2", "c3", "c4", "c5", "c6", "c7"} {
		prev = r.commit(s, prev)
		line = append(line, prev)
	}
	for _, h := range line[:5] {
		f.approved[h.String()] = true
	}
	r.setBranch(line[6])
	res := d.Reconcile(context.Background(), target)
	if res.Reason != Advanced || res.To != line[4].String() {
		t.Errorf("7 pending, maxRange 2, c6 unapproved: %s to %s %q, want Advanced to c5 %s", res.Reason, res.To, res.Message, line[4])
	}
	for _, asked := range f.asked {
		if len(asked) > 2 {
			t.Errorf("asked Gerrit about %d commits at once, more than maxRange 2", len(asked))
		}
	}
	f.approved[line[5].String()], f.approved[line[6].String()] = true, true
	if res := d.Reconcile(context.Background(), target); res.Reason != Advanced || res.To != line[6].String() {
		t.Errorf("all approved: %s to %s %q, want Advanced to the head", res.Reason, res.To, res.Message)
	}

	// One first-parent step that brings more than maxRange commits still
	// cannot be decided at once, and says so.
	side := r.commit("s1", line[6])
	side = r.commit("s2", side)
	side = r.commit("s3", side)
	r.setBranch(r.commit("merge", line[6], side))
	if res := d.Reconcile(context.Background(), target); res.Reason != Failed || !strings.Contains(res.Message, "more than 2 commits") {
		t.Errorf("a merge bringing 4 commits, maxRange 2: %s %q, want Failed", res.Reason, res.Message)
	}
}

// A long range that fails in a later window reports what the earlier
// windows did: the ref moved, then the error stopped it.
func TestLongRangeFailingAfterAdvancing(t *testing.T) {
	store, r, f, _, target := setup(t)
	n := NewNotifier() // not run: the test reads what it queued
	target.Notify = []gate.Receiver{{URL: "http://127.0.0.1:9/hook", Type: gate.ReceiverGeneric}}
	d := New(store, f, WithMaxRange(2), WithNotifier(n))
	root := r.emptyRoot()
	r.setBranch(root)
	if res := d.Reconcile(context.Background(), target); res.Reason != Initialized {
		t.Fatalf("first reconcile: %s %s", res.Reason, res.Message)
	}
	prev := root
	var line []plumbing.Hash
	for _, s := range []string{"c1", "c2", "c3", "c4", "c5"} {
		prev = r.commit(s, prev)
		line = append(line, prev)
		f.approved[prev.String()] = true
	}
	r.setBranch(prev)
	// The first window is decided and asked again before its move (two
	// questions), then Gerrit goes away.
	f.downAfter = len(f.asked) + 2
	res := d.Reconcile(context.Background(), target)
	if res.Reason != Failed || res.From != root.String() || res.To != line[1].String() {
		t.Errorf("failed in the second window: %s from %s to %s, want Failed from the root to c2 %s", res.Reason, res.From, res.To, line[1])
	}
	want := "advanced deploy/prod from " + short(root) + " to " + short(line[1]) + ", then failed: "
	if !strings.HasPrefix(res.Message, want) || !strings.Contains(res.Message, "503") {
		t.Errorf("message %q, want it to start %q and give Gerrit's error", res.Message, want)
	}
	served, _ := store.Served("platform/fleet")
	if got := mustRef(t, served, target.Ref()); got != line[1] {
		t.Errorf("deploy/prod is at %s, want c2 %s", got, line[1])
	}
	var got []string
	for len(n.queue) > 0 {
		b := (<-n.queue).body
		got = append(got, fmt.Sprintf("%s %s", b.Reason, b.To))
	}
	want = fmt.Sprint([]string{"Initialized " + root.String(), "Failed " + line[1].String()})
	if fmt.Sprint(got) != want {
		t.Errorf("Flux notified of %v, want %v: the failed reconcile moved the ref", got, want)
	}
}

// A deployed commit that the head reaches only through a second parent
// cannot be stepped to along the first-parent line: the long range is
// refused, not reported as diverged.
func TestLongRangeOffTheFirstParentLine(t *testing.T) {
	store, r, f, _, target := setup(t)
	d := New(store, f, WithMaxRange(2))
	root := r.emptyRoot()
	side := r.commit("side", root)
	r.setBranch(side)
	target.Baseline = side.String()
	if res := d.Reconcile(context.Background(), target); res.Reason != Initialized {
		t.Fatalf("first reconcile: %s %s", res.Reason, res.Message)
	}
	main := root
	for _, s := range []string{"m1", "m2", "m3"} {
		main = r.commit(s, main)
		f.approved[main.String()] = true
	}
	merge := r.commit("merge side", main, side)
	f.approved[merge.String()] = true
	r.setBranch(merge)
	res := d.Reconcile(context.Background(), target)
	if res.Reason != Failed || !strings.Contains(res.Message, "first-parent line") {
		t.Errorf("%s %q, want Failed saying the deployed commit is off the first-parent line", res.Reason, res.Message)
	}
}

// A failure after the deploy ref moved (pointing the new served
// repository's HEAD at it) reports the move: Failed, with To where the
// ref is.
func TestFailureAfterTheMoveReportsIt(t *testing.T) {
	store, r, f, d, target := setup(t)
	root := r.emptyRoot()
	a := r.commit("a", root)
	f.approved[a.String()] = true
	r.setBranch(a)
	served, err := store.Served(target.Project)
	if err != nil {
		t.Fatal(err)
	}
	// HEAD is written through HEAD.tmp: a directory there makes it fail.
	if err := os.Mkdir(filepath.Join(served.Dir(), "HEAD.tmp"), 0o750); err != nil {
		t.Fatal(err)
	}
	res := d.Reconcile(context.Background(), target)
	if res.Reason != Failed || res.To != a.String() || !strings.HasPrefix(res.Message, "created deploy/prod at "+short(a)+", then failed: ") || !strings.Contains(res.Message, "HEAD") {
		t.Errorf("%s to %s %q, want Failed to a %s saying deploy/prod was created, then pointing HEAD failed", res.Reason, res.To, res.Message, a)
	}
	if got := mustRef(t, served, target.Ref()); got != a {
		t.Errorf("deploy/prod is at %s, want a %s", got, a)
	}
}

// An adoption that fails after moving deploy/<env> says where it is and
// notifies Flux of the move.
func TestAdoptionFailingAfterTheMove(t *testing.T) {
	store, r, f, _, target := setup(t)
	n := NewNotifier() // not run: the test reads what it queued
	target.Notify = []gate.Receiver{{URL: "http://127.0.0.1:9/hook", Type: gate.ReceiverGeneric}}
	d := New(store, f, WithNotifier(n))
	a := r.commit("unreviewed", r.emptyRoot())
	r.setBranch(a)
	served, _ := store.Served(target.Project)
	if err := os.Mkdir(filepath.Join(served.Dir(), "HEAD.tmp"), 0o750); err != nil {
		t.Fatal(err)
	}
	res := d.Adopt(context.Background(), target, Adoption{Project: target.Project, Env: target.Env, Commit: a.String(), Reason: "INC-3", By: "ops@host"})
	if res.Reason != Failed || res.To != a.String() || !strings.Contains(res.Message, "HEAD") {
		t.Errorf("adopt: %s to %s %q, want Failed at %s naming HEAD", res.Reason, res.To, res.Message, a)
	}
	if len(n.queue) != 1 || (<-n.queue).body.To != a.String() {
		t.Errorf("Flux not notified of the adopted commit")
	}
}
