package deploy

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gerritgate/gerritgate/audit"
)

// The history Contained reads is kept while deploy/<env> and audit/<env>
// stay where they are (here: read again with the trail's newest record
// gone from disk), and read afresh once either moves.
func TestContainedKeptWhileRefsStay(t *testing.T) {
	store, r, f, _, target := setup(t)
	clock := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	d := New(store, f, WithClock(func() time.Time { return clock }))
	base := r.commit("base")
	a := r.commit("a", base)
	r.setBranch(a)
	target.Baseline = base.String()
	if res := d.Reconcile(context.Background(), target); res.Reason != Initialized {
		t.Fatalf("first reconcile: %s %s", res.Reason, res.Message)
	}
	served, err := store.Served("platform/fleet")
	if err != nil {
		t.Fatal(err)
	}
	first, err := d.contained("platform/fleet", served, "prod")
	if err != nil || len(first) != 1 {
		t.Fatalf("history after the baseline: %v %v", first, err)
	}
	trail, err := served.Ref(audit.Ref("prod"))
	if err != nil {
		t.Fatal(err)
	}
	hex := trail.String()
	record := filepath.Join(served.Dir(), "objects", hex[:2], hex[2:])
	saved, err := os.ReadFile(record)
	if err != nil {
		t.Fatalf("the record is not a loose object: %v", err)
	}
	if err := os.Remove(record); err != nil {
		t.Fatal(err)
	}
	if again, err := d.contained("platform/fleet", served, "prod"); err != nil || len(again) != 1 || again[0] != first[0] {
		t.Errorf("asked again, refs unmoved: %v %v, want the kept %v", again, err, first)
	}
	if err := os.WriteFile(record, saved, 0o444); err != nil {
		t.Fatal(err)
	}
	f.approved[a.String()] = true
	clock = clock.Add(time.Hour)
	if res := d.Reconcile(context.Background(), target); res.Reason != Advanced {
		t.Fatalf("advance to a: %s %s", res.Reason, res.Message)
	}
	if got, err := d.contained("platform/fleet", served, "prod"); err != nil || len(got) != 2 || got[0].SHA != a.String() {
		t.Errorf("after deploy/prod moved: %v %v, want a fresh history of a and base", got, err)
	}
}
