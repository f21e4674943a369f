package deploy

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/gerritgate/gerritgate/audit"
	"github.com/gerritgate/gerritgate/storage"
)

// Contained reads, from the trail the deployer writes, since when
// deploy/<env> has held each commit of its history; a commit lost and
// regained counts from the regaining, and a clock set back never makes a
// commit older.
func TestContained(t *testing.T) {
	store, r, f, _, target := setup(t)
	clock := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	d := New(store, f, WithClock(func() time.Time { return clock }))
	ctx := context.Background()
	at := func(hm string) time.Time {
		t, _ := time.Parse("15:04", hm)
		return time.Date(2026, 12, 2, t.Hour(), t.Minute(), 0, 0, time.UTC)
	}
	served, err := store.Served("platform/fleet")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := Contained(served, "prod"); err != nil || got != nil {
		t.Fatalf("no deploy/prod yet: %v, %v, want nothing", got, err)
	}

	base := r.commit("base")
	a := r.commit("a", base)
	b := r.commit("b", a)
	c := r.commit("c", b)
	r.setBranch(c)
	target.Baseline = base.String()
	for _, step := range []struct {
		at      string
		approve []plumbing.Hash
		want    Reason
	}{
		{"10:00", nil, Initialized},
		{"10:10", []plumbing.Hash{a}, Advanced},
		{"10:20", []plumbing.Hash{b, c}, Advanced},
	} {
		clock = at(step.at)
		for _, h := range step.approve {
			f.approved[h.String()] = true
		}
		if res := d.Reconcile(ctx, target); res.Reason != step.want {
			t.Fatalf("reconcile at %s: %s %s, want %s", step.at, res.Reason, res.Message, step.want)
		}
	}
	check := func(what string, want map[plumbing.Hash]string) {
		t.Helper()
		got, err := Contained(served, "prod")
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		order := []plumbing.Hash{c, b, a, base}
		if len(got) != len(order) {
			t.Fatalf("%s: history %+v, want c, b, a, base", what, got)
		}
		for i, h := range order {
			if got[i].SHA != h.String() || !got[i].Since.Equal(at(want[h])) {
				t.Errorf("%s: [%d] = %.7s since %s, want %.7s since %s", what, i, got[i].SHA, got[i].Since.Format("15:04"), h, want[h])
			}
		}
	}
	check("deployer's trail", map[plumbing.Hash]string{c: "10:20", b: "10:20", a: "10:10", base: "10:00"})

	// By hand, as a rewind would: deploy/prod to x (a's child off the
	// line, so only a and base stay contained), then back to c with a
	// clock set back to before the rewind.
	x := (&repo{t: t, up: served}).commit("x", a)
	move := func(to plumbing.Hash, when time.Time, moveDeploy bool) {
		t.Helper()
		tip, _ := served.Ref(target.Ref())
		prev, _ := served.Ref(audit.Ref("prod"))
		rec := &audit.Record{Schema: audit.Schema, Kind: audit.Adopt, Project: target.Project, Branch: "main", Environment: "prod",
			From: tip.String(), To: to.String(), Time: when, Operator: &audit.Operator{By: "test", Reason: "test"}}
		h, err := audit.Write(served.Objects(), rec, prev, nil)
		if err != nil {
			t.Fatal(err)
		}
		ups := []storage.RefUpdate{{Name: audit.Ref("prod"), Old: prev, New: h}}
		if moveDeploy {
			ups = append(ups, storage.RefUpdate{Name: target.Ref(), Old: tip, New: to, Force: true})
		}
		if err := served.UpdateRefs(ups...); err != nil {
			t.Fatal(err)
		}
	}
	move(x, at("10:30"), true)
	move(c, at("10:25"), true)
	check("rewound and regained", map[plumbing.Hash]string{c: "10:30", b: "10:30", a: "10:10", base: "10:00"})

	// A record that does not end at the tip, or a trail of another
	// environment, is an error.
	move(b, at("10:40"), false)
	if _, err := Contained(served, "prod"); err == nil || !strings.Contains(err.Error(), "a movement is not recorded") {
		t.Errorf("trail ending off the tip: err = %v", err)
	}
	served.UpdateRefs(storage.RefUpdate{Name: "refs/heads/deploy/staging", New: c}, storage.RefUpdate{Name: audit.Ref("staging"), New: mustRef(t, served, audit.Ref("prod"))})
	if _, err := Contained(served, "staging"); err == nil || !strings.Contains(err.Error(), `is for environment "prod"`) {
		t.Errorf("another environment's trail: err = %v", err)
	}
	// A record without a time (the zero time, which would count from the
	// epoch) is an error, not soaked since 1970.
	move(c, time.Time{}, false)
	if _, err := Contained(served, "prod"); err == nil || !strings.Contains(err.Error(), "the record has no time") {
		t.Errorf("a record without a time: err = %v", err)
	}
	served.UpdateRefs(storage.RefUpdate{Name: "refs/heads/deploy/qa", New: c})
	if _, err := Contained(served, "qa"); err == nil || !strings.Contains(err.Error(), "no audit/qa") {
		t.Errorf("no trail: err = %v", err)
	}
}

func mustRef(t *testing.T, r *storage.Repo, name string) plumbing.Hash {
	t.Helper()
	h, err := r.Ref(name)
	if err != nil || h.IsZero() {
		t.Fatalf("%s: %v %v", name, h, err)
	}
	return h
}
