package deploy

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gogit "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"

	"github.com/gerritgate/gerritgate/audit"
)

// An operator's adoption is the only way past the policy: it moves
// deploy/<env> forward to a named commit of the branch, never back or off
// the branch, and leaves a durable record of who, why and when.
func TestAdopt(t *testing.T) {
	store, r, f, d, target := setup(t)
	ctx := context.Background()
	imported := r.commit("imported")
	a := r.commit("a", imported)
	pushed := r.commit("pushed past review", a)
	b := r.commit("b", pushed)
	f.approved[a.String()], f.approved[b.String()] = true, true
	elsewhere := r.commit("not on the branch", a)
	r.setBranch(b)
	if res := d.Reconcile(ctx, target); res.Reason != AwaitingBaseline {
		t.Fatalf("imported root: %s %s, want AwaitingBaseline", res.Reason, res.Message)
	}
	now := time.Date(2026, 12, 2, 17, 0, 0, 0, time.UTC)
	adopt := func(c plumbing.Hash, reason string) Result {
		return d.Adopt(ctx, target, Adoption{Project: target.Project, Env: target.Env, Commit: c.String(), Reason: reason, By: "ops@host", At: now})
	}
	served, _ := store.Served("platform/fleet")
	deployed := func() plumbing.Hash { h, _ := served.Ref(target.Ref()); return h }

	for _, tt := range []struct {
		what    string
		commit  plumbing.Hash
		reason  string
		want    Reason
		wantTip plumbing.Hash
	}{
		{"a commit off the branch", elsewhere, "x", Failed, plumbing.ZeroHash},
		{"no reason", a, " ", Failed, plumbing.ZeroHash},
		{"the reviewed commit after the import", a, "imported from the old repo, reviewed there", Adopted, a},
		{"back to the import", imported, "x", Failed, a},
	} {
		res := adopt(tt.commit, tt.reason)
		if res.Reason != tt.want || deployed() != tt.wantTip {
			t.Errorf("%s: %s %q, deploy/prod %s; want %s at %s", tt.what, res.Reason, res.Message, deployed(), tt.want, tt.wantTip)
		}
	}
	if base, _ := served.Ref(target.BaselineRef()); base != a {
		t.Errorf("baseline ref = %s, want the adopted %s", base, a)
	}
	if res := d.Reconcile(ctx, target); res.Reason != NotApproved || deployed() != a {
		t.Errorf("after adopting a: %s %q, want NotApproved at the push", res.Reason, res.Message)
	}
	if res := adopt(pushed, "hotfix during the outage, INC-42"); res.Reason != Adopted {
		t.Fatalf("adopt the push: %s %s", res.Reason, res.Message)
	}
	if res := d.Reconcile(ctx, target); res.Reason != Advanced || deployed() != b {
		t.Errorf("after adopting the push: %s %q, want Advanced to b", res.Reason, res.Message)
	}

	rec, _ := served.Ref(target.AdoptedRef())
	c, err := served.Commit(rec)
	if err != nil {
		t.Fatalf("adoption record: %v", err)
	}
	for _, want := range []string{pushed.String(), "INC-42", "ops@host", "2026-12-02T17:00:00Z", "From: " + a.String()} {
		if !strings.Contains(c.Message, want) {
			t.Errorf("record %q does not say %q", c.Message, want)
		}
	}
	if len(c.Parents) != 2 || c.Parents[0] != pushed {
		t.Fatalf("record parents = %v, want the adopted commit and the previous record", c.Parents)
	}
	first, err := served.Commit(c.Parents[1])
	if err != nil || !strings.Contains(first.Message, "reviewed there") {
		t.Errorf("previous record: %v %q", err, first.Message)
	}
}

func TestAdoptionRequests(t *testing.T) {
	dir := t.TempDir()
	a := Adoption{Project: "p", Env: "prod", Commit: strings.Repeat("a", 40), Reason: "r", By: "me", At: time.Unix(1, 0).UTC()}
	id, err := RequestAdoption(dir, a)
	if err != nil {
		t.Fatal(err)
	}
	if _, done, _ := AdoptionResult(dir, id); done {
		t.Fatal("answered before the service saw it")
	}
	reqs, ids := AdoptionRequests(dir)
	got := reqs[id]
	if owner := ProcessAccount(); got.Account == nil || *got.Account != *owner {
		t.Errorf("request owned by %s, want %s (this process wrote it)", got.Account, owner)
	}
	got.Account = nil
	if len(ids) != 1 || ids[0] != id || got != a {
		t.Fatalf("requests = %v %v, want %s: %+v", ids, reqs, id, a)
	}
	if err := FinishAdoption(dir, id, Result{Reason: Adopted, Message: "ok"}); err != nil {
		t.Fatal(err)
	}
	if _, ids := AdoptionRequests(dir); len(ids) != 0 {
		t.Errorf("request still waiting after it was answered: %v", ids)
	}
	res, done, err := AdoptionResult(dir, id)
	if err != nil || !done || res.Reason != Adopted {
		t.Errorf("result = %+v %v %v", res, done, err)
	}
}

// An adoption applied after the operator asked (a request waits for the
// next poll) is recorded at the time deploy/<env> moved: a soak after it
// counts from the move, not from the asking.
func TestAdoptRecordsTheMoveTime(t *testing.T) {
	store, r, f, _, target := setup(t)
	moved := time.Date(2026, 12, 2, 18, 0, 0, 0, time.UTC)
	d := New(store, f, WithClock(func() time.Time { return moved }))
	root := r.commit("imported")
	r.setBranch(root)
	asked := moved.Add(-time.Hour)
	res := d.Adopt(context.Background(), target, Adoption{Project: target.Project, Env: target.Env, Commit: root.String(), Reason: "import", By: "ops@host", At: asked})
	if res.Reason != Adopted || !res.Time.Equal(moved) {
		t.Fatalf("adopt: %s %q at %s, want Adopted at %s", res.Reason, res.Message, res.Time, moved)
	}
	served, _ := store.Served("platform/fleet")
	got, err := Contained(served, "prod")
	if err != nil || len(got) != 1 || !got[0].Since.Equal(moved) {
		t.Errorf("contained after the adoption: %+v %v, want the import since %s", got, err, moved)
	}
}

// The audit record of a request applied by the service names the request
// file's owner (from its stat) beside the "by" the file claims; an
// "account" in the request itself is ignored. Verify shows it.
func TestRequestFileOwnerIsRecorded(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to give the request file another owner")
	}
	store, r, _, d, target := setup(t)
	ctx := context.Background()
	base := r.commit("base")
	initialize(t, d, r, &target, base)
	dataDir := t.TempDir()
	id, err := RequestAdoption(dataDir, Adoption{Project: target.Project, Env: target.Env, Action: ActionHold, Reason: "INC-2", By: "root@elsewhere", At: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dataDir, adoptDir, id+".json")
	// A forged account in the request is not the request's to say.
	data, _ := os.ReadFile(path)
	data = append(bytes.TrimSuffix(bytes.TrimSpace(data), []byte("}")), []byte(`,"Account":{"uid":0,"user":"root"},"account":{"uid":0}}`)...)
	if err := os.WriteFile(path, data, 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(path, 4242, 4242); err != nil {
		t.Fatal(err)
	}
	reqs, ids := AdoptionRequests(dataDir)
	if len(ids) != 1 {
		t.Fatalf("requests %v, want the one left", ids)
	}
	a := reqs[ids[0]]
	if a.Account == nil || a.Account.UID != 4242 {
		t.Fatalf("request account %+v, want uid 4242 (the file's owner)", a.Account)
	}
	if res := d.Operate(ctx, target, a); res.Reason != Held {
		t.Fatalf("hold: %s %s", res.Reason, res.Message)
	}
	served, _ := store.Served("platform/fleet")
	_, rec, err := recordAt(served, target.HoldRef())
	if err != nil || rec == nil {
		t.Fatalf("hold record: %v", err)
	}
	if o := rec.Operator; o.By != "root@elsewhere" || o.Account == nil || o.Account.UID != 4242 {
		t.Errorf("hold record operator %+v account %+v, want by root@elsewhere and uid 4242", o, o.Account)
	}
	repo, err := gogit.PlainOpen(served.Dir())
	if err != nil {
		t.Fatal(err)
	}
	rep, err := audit.Verify(repo.Storer, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tl := rep.Environments[0].Timeline
	if got := tl[len(tl)-1].Account; !strings.HasPrefix(got, "uid 4242") {
		t.Errorf("verify shows account %q for the hold, want uid 4242", got)
	}
}
