package deploy

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/gerritgate/gerritgate/gate"
)

// at is a time on 2026-12-02 (a Wednesday), or the day given, in UTC.
func at(t *testing.T, s string) time.Time {
	t.Helper()
	if !strings.Contains(s, "T") {
		s = "2026-12-02T" + s
	}
	v, err := time.Parse("2006-01-02T15:04", s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

type ruleStep struct {
	at        string
	env       string // "" for the target under test
	prepare   func()
	want      Reason
	wantTip   plumbing.Hash
	wantUntil string // "" for zero
	wantMsg   string
}

// ruleWorld is a deployer on a fixed clock (10:00), with the upstream
// branch at an empty root that deploy/prod starts from.
type ruleWorld struct {
	r     *repo
	f     *fakeGerrit
	d     *Deployer
	clock time.Time
	prod  Target
	base  plumbing.Hash
	tip   func(env string) plumbing.Hash
}

func newRuleWorld(t *testing.T) *ruleWorld {
	store, r, f, _, prod := setup(t)
	w := &ruleWorld{r: r, f: f, prod: prod, clock: at(t, "10:00")}
	w.d = New(store, f, WithClock(func() time.Time { return w.clock }))
	w.base = r.emptyRoot()
	r.setBranch(w.base)
	w.prod.Baseline = w.base.String()
	w.tip = func(env string) plumbing.Hash {
		served, _ := store.Served("platform/fleet")
		return mustRef(t, served, "refs/heads/deploy/"+env)
	}
	return w
}

func (w *ruleWorld) run(t *testing.T, targets map[string]Target, steps []ruleStep) {
	t.Helper()
	d, clock, tip := w.d, &w.clock, w.tip
	for _, st := range steps {
		if st.prepare != nil {
			st.prepare()
		}
		*clock = at(t, st.at)
		env := st.env
		if env == "" {
			env = "prod"
		}
		res := d.Reconcile(context.Background(), targets[env])
		if res.Reason != st.want || !strings.Contains(res.Message, st.wantMsg) {
			t.Errorf("%s at %s: %s %q, want %s containing %q", env, st.at, res.Reason, res.Message, st.want, st.wantMsg)
		}
		if got := tip(env); got != st.wantTip {
			t.Errorf("%s at %s: deploy/%s = %.7s, want %.7s", env, st.at, env, got, st.wantTip)
		}
		var wantUntil time.Time
		if st.wantUntil != "" {
			wantUntil = at(t, st.wantUntil)
		}
		if !res.Until.Equal(wantUntil) {
			t.Errorf("%s at %s: until %s, want %s", env, st.at, res.Until, wantUntil)
		}
	}
}

// Prod, after staging with a soak of 30m, moves only to commits
// deploy/staging has contained for 30m (by the audit trail's times), and
// no further than the newest of them.
func TestAfterAndSoak(t *testing.T) {
	w := newRuleWorld(t)
	r, f, d, prod, base := w.r, w.f, w.d, w.prod, w.base
	a := r.commit("a", base)
	b := r.commit("b", a)
	c := r.commit("c", b)
	staging := prod
	staging.Env = "staging"
	prod.After, prod.Soak = "staging", 30*time.Minute
	targets := map[string]Target{"prod": prod, "staging": staging}
	approve := func(hs ...plumbing.Hash) func() {
		return func() {
			for _, h := range hs {
				f.approved[h.String()] = true
			}
		}
	}
	w.run(t, targets, []ruleStep{
		{at: "10:00", env: "staging", want: Initialized, wantTip: base},
		{at: "10:00", want: Initialized, wantTip: base},
		{at: "10:00", prepare: func() { approve(a, b)(); r.setBranch(b) }, want: Held, wantTip: base, wantUntil: "10:30", wantMsg: "has held no commit for 30m0s"},
		{at: "10:00", env: "staging", want: Advanced, wantTip: b},
		{at: "10:00", want: Held, wantTip: base, wantUntil: "10:30", wantMsg: "soaks on deploy/staging; until 2026-12-02T10:30:00Z"},
		{at: "10:20", env: "staging", prepare: func() { approve(c)(); r.setBranch(c) }, want: Advanced, wantTip: c},
		{at: "10:29", want: Held, wantTip: base, wantUntil: "10:30", wantMsg: "until 2026-12-02T10:30:00Z"},
		{at: "10:30", want: Advanced, wantTip: b, wantMsg: "later commits wait until deploy/staging has held them for 30m"},
		{at: "10:49", want: Held, wantTip: b, wantUntil: "10:50"},
		{at: "10:50", want: Advanced, wantTip: c},
	})

	// explain says the same as the reconcile would.
	d2 := r.commit("d", c)
	approve(d2)()
	r.setBranch(d2)
	w.clock = at(t, "11:00")
	if res := d.Reconcile(context.Background(), staging); res.Reason != Advanced {
		t.Fatalf("staging to d: %s %s", res.Reason, res.Message)
	}
	res, err := d.Explain(context.Background(), prod, 0)
	if err != nil || res.Reason != Held || !res.Until.Equal(at(t, "11:30")) {
		t.Errorf("explain prod at 11:00: %s %q until %s (%v), want Held until 11:30", res.Reason, res.Message, res.Until, err)
	}
}

// Outside every window, or inside a freeze, an environment is held, and
// the result says until when in the environment's timezone.
func TestWindowsAndFreezes(t *testing.T) {
	rw := newRuleWorld(t)
	r, f, prod, base := rw.r, rw.f, rw.prod, rw.base
	a := r.commit("a", base)
	b := r.commit("b", a)
	w, err := gate.ParseWindow("* 9-16 * * MON-THU")
	if err != nil {
		t.Fatal(err)
	}
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	prod.Schedule = gate.Schedule{Windows: []gate.Window{w}, Location: berlin, Freezes: []gate.Freeze{
		{From: at(t, "11:00"), Until: at(t, "12:00"), Reason: "incident 7"},
	}}
	rw.run(t, map[string]Target{"prod": prod}, []ruleStep{
		{at: "10:00", want: Initialized, wantTip: base},
		{at: "11:30", prepare: func() { f.approved[a.String()] = true; r.setBranch(a) }, want: Held, wantTip: base,
			wantUntil: "12:00", wantMsg: `inside freeze "incident 7"`},
		{at: "11:59", want: Held, wantTip: base, wantUntil: "12:00", wantMsg: "until 2026-12-02T13:00:00+01:00"},
		// 17:30 in Berlin: the next window opens on Thursday at 9:00 there.
		{at: "16:30", want: Held, wantTip: base, wantUntil: "2026-12-03T08:00", wantMsg: "until 2026-12-03T09:00:00+01:00"},
		{at: "2026-12-03T08:00", want: Advanced, wantTip: a},
		// Friday is outside MON-THU: held until Monday 9:00 in Berlin.
		{at: "2026-12-04T10:00", prepare: func() { f.approved[b.String()] = true; r.setBranch(b) }, want: Held, wantTip: a,
			wantUntil: "2026-12-07T08:00", wantMsg: "outside the deploy windows"},
	})
}
