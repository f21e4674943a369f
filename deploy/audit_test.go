package deploy

import (
	"context"
	git "github.com/go-git/go-git/v5"
	"strings"
	"testing"
	"time"

	"github.com/gerritgate/gerritgate/audit"
	"github.com/gerritgate/gerritgate/storage"
)

// Every movement of deploy/<env> (the baseline, each bounded advance, an
// adoption) appends one signed record, in the transaction that moves the
// deploy ref and the tag, and the trail verifies and rechecks.
func TestEveryMovementIsRecorded(t *testing.T) {
	store, r, f, _, target := setup(t)
	s, keyring := testKey(t)
	d := New(store, f, WithSigner(s), WithVersion("v-test"), WithMaxRange(2))
	ctx := context.Background()
	base := r.commit("base")
	a := r.commit("a", base)
	b := r.commit("b", a)
	c := r.commit("c", b)
	pushed := r.commit("pushed past review", c)
	r.setBranch(pushed)
	for _, h := range []string{a.String(), b.String(), c.String()} {
		f.approved[h] = true
	}
	target.Baseline = base.String()
	var kinds []string
	for _, want := range []Reason{Initialized, Advanced, NotApproved} {
		if res := d.Reconcile(ctx, target); res.Reason != want {
			t.Fatalf("reconcile: %s %s, want %s", res.Reason, res.Message, want)
		}
	}
	kinds = append(kinds, "baseline", "advance", "advance") // a+b in one window, c in the next
	res := d.Adopt(ctx, target, Adoption{Project: target.Project, Env: target.Env, Commit: pushed.String(), Reason: "INC-42", By: "ops@host", At: time.Date(2026, 12, 2, 17, 0, 0, 0, time.UTC)})
	if res.Reason != Adopted {
		t.Fatalf("adopt: %s %s", res.Reason, res.Message)
	}
	kinds = append(kinds, "adopt")
	for _, action := range []string{ActionHold, ActionRelease} {
		if res := d.Operate(ctx, target, Adoption{Project: target.Project, Env: target.Env, Reason: "change freeze", By: "ops@host", Action: action}); res.Reason == Failed {
			t.Fatalf("%s: %s", action, res.Message)
		}
		kinds = append(kinds, action)
	}

	rep := verifyServed(t, store, keyring)
	var got []string
	for _, e := range rep.Environments[0].Timeline {
		got = append(got, string(e.Kind))
	}
	if strings.Join(got, ",") != strings.Join(kinds, ",") {
		t.Errorf("records %v, want %v", got, kinds)
	}
	tl := rep.Environments[0].Timeline
	if tl[1].To != b.String() || !tl[1].Rechecked || tl[3].By != "ops@host" {
		t.Errorf("timeline %+v: want the first advance to end at b, rechecked, and the adoption by ops@host", tl)
	}
}

func testKey(t *testing.T) (*audit.Signer, *audit.Keyring) {
	t.Helper()
	priv, pub, err := audit.NewKey("test", "test@example.com")
	if err != nil {
		t.Fatal(err)
	}
	s, err := audit.ReadSigner(strings.NewReader(priv), "test key")
	if err != nil {
		t.Fatal(err)
	}
	keyring, err := audit.ReadKeyring(pub)
	if err != nil {
		t.Fatal(err)
	}
	return s, keyring
}

// verifyServed runs gerritgate verify's check, with recheck, on the
// served repository and fails unless the trail holds.
func verifyServed(t *testing.T, store *storage.Store, keyring *audit.Keyring) *audit.Report {
	t.Helper()
	served, _ := store.Served("platform/fleet")
	clone, err := git.PlainOpen(served.Dir())
	if err != nil {
		t.Fatal(err)
	}
	rep, err := audit.Verify(clone.Storer, audit.Options{Keyring: keyring, Recheck: true})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Fatalf("the deployer's own trail does not verify: %q", rep.Problems)
	}
	return rep
}

// The gate advances deploy/<env> to a merge that brings the deployed
// commit in as its second parent (the deployed commit is not on the new
// tip's first-parent line, as when Gerrit fast-forwards to a merge made
// on a topic branch), and adopts past another such merge; verify accepts
// both steps, since its rule is the gate's: the old tip is an ancestor of
// the new one.
func TestStepOffTheFirstParentLineVerifies(t *testing.T) {
	store, r, f, _, target := setup(t)
	s, keyring := testKey(t)
	d := New(store, f, WithSigner(s))
	ctx := context.Background()
	root := r.emptyRoot()
	side := r.commit("side", root)
	r.setBranch(side)
	target.Baseline = side.String()
	if res := d.Reconcile(ctx, target); res.Reason != Initialized {
		t.Fatalf("baseline: %s %s", res.Reason, res.Message)
	}
	main := root
	for _, m := range []string{"m1", "m2"} {
		main = r.commit(m, main)
		f.approved[main.String()] = true
	}
	merge := r.commit("merge side", main, side)
	f.approved[merge.String()] = true
	r.setBranch(merge)
	if res := d.Reconcile(ctx, target); res.Reason != Advanced || res.To != merge.String() {
		t.Fatalf("advance to the merge: %s %s (to %s)", res.Reason, res.Message, res.To)
	}
	other := r.commit("m3", main)
	pushed := r.commit("merge again, unreviewed", other, merge)
	r.setBranch(pushed)
	if res := d.Adopt(ctx, target, Adoption{Project: target.Project, Env: target.Env, Commit: pushed.String(), Reason: "INC-7", By: "ops@host"}); res.Reason != Adopted {
		t.Fatalf("adopt: %s %s", res.Reason, res.Message)
	}
	tl := verifyServed(t, store, keyring).Environments[0].Timeline
	if len(tl) != 3 || !tl[1].Rechecked || tl[2].To != pushed.String() {
		t.Errorf("timeline %+v: want baseline, the rechecked advance to the merge, the adoption", tl)
	}
}
