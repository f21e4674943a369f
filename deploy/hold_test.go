package deploy

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/gerritgate/gerritgate/storage"
)

// An operator's hold pins an environment at its commit, across a
// restart (a new Deployer on the same data), until a release; adopt is
// refused while it holds, and explain says what reconcile says.
func TestHoldAndRelease(t *testing.T) {
	store, r, f, _, target := setup(t)
	ctx := context.Background()
	clock := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	deployer := func() *Deployer { return New(store, f, WithClock(func() time.Time { return clock })) }
	d := deployer()
	base := r.emptyRoot()
	r.setBranch(base)
	a := r.commit("a", base)
	target.Baseline = base.String()
	served, _ := store.Served("platform/fleet")
	deployed := func() plumbing.Hash { return mustRef(t, served, target.Ref()) }
	op := func(action, reason string) Result {
		return d.Operate(ctx, target, Adoption{Project: target.Project, Env: target.Env, Reason: reason, By: "ops@host", At: clock, Action: action})
	}
	if res := op(ActionHold, "before the first deploy"); res.Reason != Failed || !strings.Contains(res.Message, "nothing to hold") {
		t.Errorf("hold before deploy/prod exists: %s %q, want Failed", res.Reason, res.Message)
	}
	if res := d.Reconcile(ctx, target); res.Reason != Initialized {
		t.Fatalf("init: %s %s", res.Reason, res.Message)
	}
	f.approved[a.String()] = true
	r.setBranch(a)

	for _, step := range []struct {
		what    string
		do      func() Result
		want    Reason
		wantMsg string
		wantTip plumbing.Hash
	}{
		{"release while not held", func() Result { return op(ActionRelease, "x") }, Failed, "is not held", base},
		{"hold without a reason", func() Result { return op(ActionHold, " ") }, Failed, "needs a reason", base},
		{"hold", func() Result { return op(ActionHold, "INC-7 investigating") }, Held, "INC-7 investigating", base},
		{"hold again", func() Result { return op(ActionHold, "again") }, Failed, "held already, by ops@host since 2026-12-02T10:03:00Z: INC-7 investigating", base},
		{"reconcile while held", func() Result { return d.Reconcile(ctx, target) }, Held, "pinned at " + base.String()[:12] + " by an operator, by ops@host since 2026-12-02T10:03:00Z: INC-7 investigating; until gerritgate release", base},
		{"reconcile after a restart", func() Result { d = deployer(); return d.Reconcile(ctx, target) }, Held, "INC-7 investigating", base},
		{"explain while held", func() Result { res, _ := d.Explain(ctx, target, 0); return res }, Held, "INC-7 investigating", base},
		{"adopt while held", func() Result {
			return d.Operate(ctx, target, Adoption{Project: target.Project, Env: target.Env, Commit: a.String(), Reason: "x", By: "ops@host", At: clock})
		}, Failed, "release it first", base},
		{"release", func() Result { return op(ActionRelease, "INC-7 closed") }, UpToDate, "released", base},
		{"reconcile after the release", func() Result { return d.Reconcile(ctx, target) }, Advanced, "", a},
	} {
		clock = clock.Add(time.Minute)
		res := step.do()
		if res.Reason != step.want || !strings.Contains(res.Message, step.wantMsg) {
			t.Errorf("%s: %s %q, want %s containing %q", step.what, res.Reason, res.Message, step.want, step.wantMsg)
		}
		if got := deployed(); got != step.wantTip {
			t.Errorf("%s: deploy/prod = %.7s, want %.7s", step.what, got, step.wantTip)
		}
	}
	// Holds and releases move nothing, so soak times are unchanged.
	got, err := Contained(served, "prod")
	if err != nil || len(got) != 2 || !got[1].Since.Equal(time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)) {
		t.Errorf("contained after hold and release: %+v %v, want base since 10:00", got, err)
	}
}

// A hold or debt ref whose file holds no commit id (damaged) is not read
// as "not held" or "owes nothing": the environment fails, naming the
// file, and deploy/<env> stays where it is.
func TestDamagedHoldOrDebtRefFailsClosed(t *testing.T) {
	for _, ref := range []func(Target) string{Target.HoldRef, Target.DebtRef} {
		store, r, f, d, target := setup(t)
		ctx := context.Background()
		base := r.commit("base")
		a := r.commit("a", base)
		f.approved[a.String()] = true
		initialize(t, d, r, &target, base)
		r.setBranch(a)
		served, _ := store.Served("platform/fleet")
		path := filepath.Join(served.Dir(), filepath.FromSlash(ref(target)))
		if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, nil, 0o640); err != nil {
			t.Fatal(err)
		}
		res := d.Reconcile(ctx, target)
		if res.Reason != Failed || !strings.Contains(res.Message, path) {
			t.Errorf("%s empty: %s %q, want Failed naming %s", ref(target), res.Reason, res.Message, path)
		}
		if got := mustRef(t, served, target.Ref()); got != base {
			t.Errorf("%s empty: deploy/prod = %.7s, want it at %.7s", ref(target), got, base)
		}
		// Opening the data directory again (the service restarting)
		// leaves the damaged file: it is not taken for a torn mirror ref.
		store.Close()
		again, err := storage.Open(store.Dir())
		if err != nil {
			t.Fatal(err)
		}
		res = New(again, f).Reconcile(ctx, target)
		served, _ = again.Served("platform/fleet")
		if res.Reason != Failed || !strings.Contains(res.Message, path) {
			t.Errorf("%s empty, after a restart: %s %q, want Failed naming %s", ref(target), res.Reason, res.Message, path)
		}
		if got := mustRef(t, served, target.Ref()); got != base {
			t.Errorf("%s empty, after a restart: deploy/prod = %.7s, want it at %.7s", ref(target), got, base)
		}
		again.Close()
	}
}
