package deploy

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/gerritgate/gerritgate/gate"
	"github.com/gerritgate/gerritgate/storage"
)

// fakeGerrit answers from a map: commits listed in approved belong to an
// approved merged change; everything else belongs to no change.
type fakeGerrit struct {
	approved map[string]bool
	down     bool
	asked    [][]string
}

func (f *fakeGerrit) ChangesForCommits(ctx context.Context, project, branch string, shas []string) (map[string][]gate.Change, error) {
	if f.down {
		return nil, errors.New("503 Service Unavailable")
	}
	f.asked = append(f.asked, shas)
	out := map[string][]gate.Change{}
	reviewer := gate.Account{ID: 2, Username: "bob"}
	for i, sha := range shas {
		if !f.approved[sha] {
			continue
		}
		out[sha] = []gate.Change{{
			Project: project, Branch: branch, Number: i + 1, Status: "MERGED",
			Owner: gate.Account{ID: 1, Username: "alice"}, Submitter: reviewer, CurrentRevision: sha,
			Revisions: map[string]gate.Revision{sha: {SHA: sha, Number: 1, Uploader: gate.Account{ID: 1, Username: "alice"}}},
			Labels:    map[string][]gate.Vote{"Code-Review": {{Account: reviewer, Value: 2}}},
		}}
	}
	return out, nil
}

func (f *fakeGerrit) GroupMembers(ctx context.Context, group string, recursive bool) ([]gate.Account, error) {
	return nil, errors.New("no groups here")
}

var policy = &gate.Policy{Name: "reviewed", Labels: map[string]gate.LabelRule{"Code-Review": {Min: 2}}, SelfApproval: false}

// repo builds commits in the upstream mirror.
type repo struct {
	t  *testing.T
	up *storage.Repo
	n  int
}

func (r *repo) commit(content string, parents ...plumbing.Hash) plumbing.Hash {
	r.t.Helper()
	r.n++
	st := r.up.Git.Storer
	blob := st.NewEncodedObject()
	blob.SetType(plumbing.BlobObject)
	w, _ := blob.Writer()
	w.Write([]byte(content))
	w.Close()
	bh, _ := st.SetEncodedObject(blob)
	tree := &object.Tree{Entries: []object.TreeEntry{{Name: "f", Mode: filemode.Regular, Hash: bh}}}
	to := st.NewEncodedObject()
	tree.Encode(to)
	th, _ := st.SetEncodedObject(to)
	sig := object.Signature{Name: "a", Email: "a@example.com", When: time.Unix(1700000000+int64(r.n), 0).UTC()}
	c := &object.Commit{Author: sig, Committer: sig, Message: content + "\n", TreeHash: th, ParentHashes: parents}
	co := st.NewEncodedObject()
	c.Encode(co)
	h, err := st.SetEncodedObject(co)
	if err != nil {
		r.t.Fatal(err)
	}
	return h
}

func (r *repo) setBranch(h plumbing.Hash) {
	r.t.Helper()
	if err := r.up.Git.Storer.SetReference(plumbing.NewHashReference("refs/heads/main", h)); err != nil {
		r.t.Fatal(err)
	}
}

func setup(t *testing.T) (*storage.Store, *repo, *fakeGerrit, *Deployer, Target) {
	t.Helper()
	store, err := storage.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	up, err := store.Upstream("platform/fleet")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeGerrit{approved: map[string]bool{}}
	return store, &repo{t: t, up: up}, f, New(store, f),
		Target{Project: "platform/fleet", Branch: "main", Env: "prod", Policy: policy, Baseline: gate.BaselineUpstream}
}

func TestReconcile(t *testing.T) {
	store, r, f, d, target := setup(t)
	ctx := context.Background()
	served := func() plumbing.Hash {
		repo, _ := store.Served("platform/fleet")
		h, _ := repo.Ref(target.Ref())
		return h
	}

	res := d.Reconcile(ctx, target)
	if res.Reason != NoUpstream {
		t.Fatalf("no branch: %s %s", res.Reason, res.Message)
	}

	base := r.commit("base")
	r.setBranch(base)
	a := r.commit("a", base)
	b := r.commit("b", a)
	c := r.commit("c", b)
	steps := []struct {
		what       string
		prepare    func()
		wantReason Reason
		wantTip    plumbing.Hash
		wantMsg    string
	}{
		{"baseline upstream adopts the head", nil, Initialized, base, "baseline"},
		{"nothing new", nil, UpToDate, base, ""},
		{"a and b approved, c not", func() { r.setBranch(c); f.approved[a.String()], f.approved[b.String()] = true, true }, Advanced, b, "stopped before"},
		{"still not approved", nil, NotApproved, b, "pushed directly"},
		{"Gerrit down: nothing moves", func() { f.approved[c.String()] = true; f.down = true }, Failed, b, "503"},
		{"Gerrit back", func() { f.down = false }, Advanced, c, ""},
		{"history rewritten upstream", func() { r.setBranch(r.commit("rewrite", base)) }, Diverged, c, "rewritten"},
	}
	for _, st := range steps {
		if st.prepare != nil {
			st.prepare()
		}
		res := d.Reconcile(ctx, target)
		if res.Reason != st.wantReason || !strings.Contains(res.Message, st.wantMsg) {
			t.Errorf("%s: %s %q, want %s containing %q", st.what, res.Reason, res.Message, st.wantReason, st.wantMsg)
		}
		if got := served(); got != st.wantTip {
			t.Errorf("%s: deploy/prod = %s, want %s", st.what, got, st.wantTip)
		}
	}
}

func TestBaselineSHAMustBeOnTheBranch(t *testing.T) {
	_, r, _, d, target := setup(t)
	base := r.commit("base")
	elsewhere := r.commit("elsewhere")
	r.setBranch(r.commit("head", base))
	for _, tt := range []struct {
		baseline plumbing.Hash
		want     Reason
	}{
		{elsewhere, Failed},
		{plumbing.NewHash("1111111111111111111111111111111111111111"), Failed},
		{base, Initialized},
	} {
		target.Baseline = tt.baseline.String()
		res := d.Reconcile(context.Background(), target)
		if res.Reason != tt.want {
			t.Errorf("baseline %s: %s %s, want %s", tt.baseline, res.Reason, res.Message, tt.want)
		}
	}
}

// The range handed to gate is every commit from the tip (excluded) to the
// head, parents first, including what merges bring in, and nothing the tip
// already has.
func TestPendingRange(t *testing.T) {
	_, r, _, d, _ := setup(t)
	root := r.commit("root")
	old := r.commit("old side", root) // reachable from the tip via a merge
	tip := r.commit("tip", root, old)
	x := r.commit("x", tip)
	side := r.commit("side", root)
	m := r.commit("merge", x, side)
	y := r.commit("y", m)
	commits, reaches, err := d.pending("platform/fleet", r.up, tip, y)
	if err != nil || !reaches {
		t.Fatalf("pending: %v %v", err, reaches)
	}
	var got []string
	pos := map[string]int{}
	for i, c := range commits {
		got = append(got, strings.TrimSuffix(c.Subject, "\n"))
		pos[c.SHA] = i
	}
	if len(commits) != 4 {
		t.Fatalf("range = %v, want x, side, merge, y", got)
	}
	for _, h := range []plumbing.Hash{old, tip, root} {
		if _, in := pos[h.String()]; in {
			t.Errorf("range includes %s, which the tip already has: %v", h, got)
		}
	}
	for _, c := range commits {
		for _, p := range c.Parents {
			if j, in := pos[p]; in && j > pos[c.SHA] {
				t.Errorf("%s comes before its parent: %v", c.Subject, got)
			}
		}
	}
	// A head that does not descend from the tip is reported as such.
	if _, reaches, _ := d.pending("platform/fleet", r.up, x, side); reaches {
		t.Errorf("side does not descend from x, yet pending says it does")
	}
}
