package deploy

import (
	"context"
	git "github.com/go-git/go-git/v5"
	"strings"
	"testing"
	"time"

	"github.com/gerritgate/gerritgate/audit"
)

// Every movement of deploy/<env> (the baseline, each bounded advance, an
// adoption) appends one signed record, in the transaction that moves the
// deploy ref and the tag, and the trail verifies and rechecks.
func TestEveryMovementIsRecorded(t *testing.T) {
	store, r, f, _, target := setup(t)
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
