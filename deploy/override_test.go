package deploy

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gogit "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"

	"github.com/gerritgate/gerritgate/audit"
	"github.com/gerritgate/gerritgate/gate"
)

// debtOf: a debt is paid only when the policy approves every commit the
// override let through; unknown or missing verdicts count as unapproved;
// past the expiry an unpaid debt is overdue.
func TestDebtOf(t *testing.T) {
	at := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	a, b := strings.Repeat("a", 40), strings.Repeat("b", 40)
	rec := &audit.Record{Time: at, Operator: &audit.Operator{By: "ops@host", Name: "Olga", Reason: "INC down", Ticket: "INC-1", Expires: at.Add(2 * time.Hour)},
		Debt: &audit.Debt{Base: strings.Repeat("0", 39) + "1", Commits: []string{a, b}}}
	verdicts := func(approved map[string]bool) *gate.Decision {
		d := &gate.Decision{}
		for sha, ok := range approved {
			d.Verdicts = append(d.Verdicts, gate.Verdict{SHA: sha, Approved: ok})
		}
		return d
	}
	for _, tt := range []struct {
		what           string
		dec            *gate.Decision
		now            time.Time
		wantPaid       bool
		wantUnapproved []string
		wantOverdue    bool
		wantAge        int64
	}{
		{"not asked (held)", nil, at.Add(time.Hour), false, []string{a, b}, false, 3600},
		{"none approved", verdicts(map[string]bool{a: false, b: false}), at.Add(time.Minute), false, []string{a, b}, false, 60},
		{"one approved later", verdicts(map[string]bool{a: true, b: false}), at.Add(time.Minute), false, []string{b}, false, 60},
		{"a commit without a verdict", verdicts(map[string]bool{a: true}), at.Add(time.Minute), false, []string{b}, false, 60},
		{"all approved", verdicts(map[string]bool{a: true, b: true}), at.Add(time.Minute), true, []string{}, false, 60},
		{"all approved after the expiry", verdicts(map[string]bool{a: true, b: true}), at.Add(3 * time.Hour), true, []string{}, true, 3 * 3600},
		{"unpaid at the expiry", verdicts(map[string]bool{a: false, b: true}), at.Add(2 * time.Hour), false, []string{a}, true, 2 * 3600},
		{"unpaid a second before it", verdicts(map[string]bool{a: false, b: true}), at.Add(2*time.Hour - time.Second), false, []string{a}, false, 2*3600 - 1},
	} {
		debt, paid := debtOf(rec, plumbing.NewHash(strings.Repeat("c", 40)), tt.dec, tt.now)
		if paid != tt.wantPaid || strings.Join(debt.Unapproved, ",") != strings.Join(tt.wantUnapproved, ",") || debt.Overdue != tt.wantOverdue || debt.AgeSeconds != tt.wantAge {
			t.Errorf("%s: paid %v, unapproved %.7q, overdue %v, age %ds; want %v, %.7q, %v, %ds", tt.what, paid, debt.Unapproved, debt.Overdue, debt.AgeSeconds, tt.wantPaid, tt.wantUnapproved, tt.wantOverdue, tt.wantAge)
		}
		if debt.Checked != (tt.dec != nil) || debt.By != "Olga (ops@host)" || debt.Ticket != "INC-1" || len(debt.Commits) != 2 {
			t.Errorf("%s: %+v", tt.what, debt)
		}
	}
}

// An override or a rewind request needs a full SHA, a reason, a ticket
// and who asked; an override an expiry after the request, at most
// MaxOverrideExpiry later, not passed when the service applies it.
func TestCheckBreakGlass(t *testing.T) {
	at := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	ok := Adoption{Commit: strings.Repeat("a", 40), Reason: "INC", Ticket: "INC-1", By: "ops@host", At: at, Action: ActionOverride, Expires: at.Add(2 * time.Hour)}
	for _, tt := range []struct {
		what string
		edit func(a *Adoption)
		now  time.Time
		want string
	}{
		{"a good override", func(a *Adoption) {}, at.Add(time.Minute), ""},
		{"a good rewind", func(a *Adoption) { a.Action, a.Expires = ActionRewind, time.Time{} }, at.Add(time.Minute), ""},
		{"a short SHA", func(a *Adoption) { a.Commit = "abcdef1" }, at, "not a full 40-hex SHA"},
		{"41 hex digits", func(a *Adoption) { a.Commit = strings.Repeat("a", 41) }, at, "not a full 40-hex SHA"},
		{"40 characters, not hex", func(a *Adoption) { a.Commit = strings.Repeat("g", 40) }, at, "not a full 40-hex SHA"},
		// An operator may type upper case: plumbing.NewHash reads it, and
		// refs and records hold the hash as git writes it, lower case.
		{"an upper-case SHA", func(a *Adoption) { a.Commit = strings.Repeat("A", 40) }, at.Add(time.Minute), ""},
		{"no reason", func(a *Adoption) { a.Reason = " " }, at, "needs a reason"},
		{"no ticket", func(a *Adoption) { a.Ticket = "" }, at, "needs a ticket"},
		{"no operator", func(a *Adoption) { a.By = "" }, at, "needs who asked"},
		{"a rewind without a ticket", func(a *Adoption) { a.Action, a.Expires, a.Ticket = ActionRewind, time.Time{}, "" }, at, "needs a ticket"},
		{"a rewind with an expiry", func(a *Adoption) { a.Action = ActionRewind }, at, "leaves no debt"},
		{"no expiry", func(a *Adoption) { a.Expires = time.Time{} }, at, "needs an expiry"},
		{"an expiry before the request", func(a *Adoption) { a.Expires = at }, at, "is not after the request"},
		{"an expiry past the bound", func(a *Adoption) { a.Expires = at.Add(MaxOverrideExpiry + time.Second) }, at, "more than 168h0m0s after"},
		{"the bound itself", func(a *Adoption) { a.Expires = at.Add(MaxOverrideExpiry) }, at, ""},
		{"expired before it was applied", func(a *Adoption) {}, at.Add(2 * time.Hour), "expired at 2026-12-02T12:00:00Z before it was applied"},
		// The request's times are the operator's claim, bounded by the
		// service's clock.
		{"a request from a year ahead", func(a *Adoption) {
			a.At = at.Add(365 * 24 * time.Hour)
			a.Expires = a.At.Add(MaxOverrideExpiry)
		}, at, "later than the service's clock"},
		{"a rewind from a year ahead", func(a *Adoption) { a.Action, a.Expires, a.At = ActionRewind, time.Time{}, at.Add(365*24*time.Hour) }, at, "later than the service's clock"},
		{"a request within the skew", func(a *Adoption) { a.At = at.Add(MaxRequestSkew) }, at, ""},
		{"a debt due more than the bound after it is applied", func(a *Adoption) {
			a.At = at.Add(30 * time.Second)
			a.Expires = a.At.Add(MaxOverrideExpiry)
		}, at, "after the service applies the request"},
	} {
		a := ok
		tt.edit(&a)
		err := checkBreakGlass(a, tt.now)
		if (tt.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%s: %v, want %q", tt.what, err, tt.want)
		}
	}
}

// Where an override or a rewind may go: on the upstream branch only, not
// where it is; an override forward only unless --rewind; a rewind never
// forward.
func TestAllowedMoves(t *testing.T) {
	for _, tt := range []struct {
		action string
		rewind bool
		rel    relation
		want   string
	}{
		{ActionOverride, false, relation{onBranch: true, forward: true}, ""},
		{ActionOverride, false, relation{onBranch: false, forward: true}, "not on the upstream branch"},
		{ActionOverride, false, relation{onBranch: true}, "only with --rewind"},
		{ActionOverride, true, relation{onBranch: true}, ""},
		{ActionOverride, true, relation{onBranch: true, forward: true}, ""},
		{ActionOverride, true, relation{onBranch: false}, "not on the upstream branch"},
		{ActionOverride, false, relation{onBranch: true, deployed: true, forward: true}, "deployed already"},
		{ActionRewind, false, relation{onBranch: true}, ""},
		{ActionRewind, false, relation{onBranch: true, forward: true}, "never moves forward"},
		{ActionRewind, false, relation{onBranch: false}, "not on the upstream branch"},
		{ActionRewind, false, relation{onBranch: true, deployed: true, forward: true}, "deployed already"},
	} {
		err := allowed(tt.action, tt.rewind, tt.rel)
		if (tt.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%s rewind=%v %+v: %v, want %q", tt.action, tt.rewind, tt.rel, err, tt.want)
		}
	}
}

// An override moves deploy/<env> once past a freeze and a missing
// approval; the environment then owes the approval and moves no further,
// nor may an adoption or a rewind move it; a second override keeps the
// debt; approving the commits pays it (recorded), and advancing resumes.
// The trail verifies.
func TestOverrideDebt(t *testing.T) {
	store, r, f, _, target := setup(t)
	ctx := context.Background()
	clock := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	d := New(store, f, WithClock(func() time.Time { return clock }))
	base := r.commit("base")
	x := r.commit("x: hotfix, not approved", base)
	y := r.commit("y: approved", x)
	z := r.commit("z: not approved", y)
	w := r.commit("w: approved", z)
	f.approved[y.String()], f.approved[w.String()] = true, true
	r.setBranch(base)
	target.Baseline = base.String()
	if res := d.Reconcile(ctx, target); res.Reason != Initialized {
		t.Fatalf("init: %s %s", res.Reason, res.Message)
	}
	r.setBranch(w)
	target.Schedule.Freezes = []gate.Freeze{{From: clock.Add(-time.Hour), Until: clock.Add(48 * time.Hour), Reason: "year-end"}}
	served, _ := store.Served("platform/fleet")
	deployed := func() plumbing.Hash { return mustRef(t, served, target.Ref()) }
	req := func(action string, to plumbing.Hash, edit func(*Adoption)) func() Result {
		return func() Result {
			a := Adoption{Project: target.Project, Env: target.Env, Commit: to.String(), Reason: "INC-5 outage", Ticket: "INC-5", By: "ops@host", Name: "Olga", At: clock, Action: action}
			if action == ActionOverride {
				a.Expires = clock.Add(2 * time.Hour)
			}
			if edit != nil {
				edit(&a)
			}
			return d.Operate(ctx, target, a)
		}
	}
	reconcile := func() Result { return d.Reconcile(ctx, target) }
	explain := func() Result { res, _ := d.Explain(ctx, target, 0); return res }
	elsewhere := r.commit("not on the branch", x)

	runSteps(t, deployed, func() { clock = clock.Add(time.Minute) }, []step{
		{"frozen", reconcile, Held, "year-end", base, 0},
		{"override off the branch", req(ActionOverride, elsewhere, nil), Failed, "is not on the upstream branch", base, 0},
		{"override without a ticket", req(ActionOverride, x, func(a *Adoption) { a.Ticket = "" }), Failed, "needs a ticket", base, 0},
		{"override past the freeze to x", req(ActionOverride, x, nil), Overridden, "1 commits let through owe an approval", x, 0},
		{"in debt", reconcile, InDebt, "let through 1 commits, 1 not approved yet (" + x.String()[:12] + ")", x, 1},
		{"explain in debt", explain, InDebt, "advances no further on its own", x, 1},
		{"adopt in debt", req(ActionAdopt, y, nil), Failed, "adopt is refused", x, 0},
		{"rewind in debt", req(ActionRewind, base, nil), Failed, "a rewind is refused", x, 0},
		{"override backwards without --rewind", req(ActionOverride, base, nil), Failed, "only with --rewind", x, 0},
		{"override again to z", req(ActionOverride, z, nil), Overridden, "3 commits let through", z, 0},
		{"in debt for x and z", reconcile, InDebt, "2 not approved yet", z, 2},
		{"x approved later", func() Result { f.approved[x.String()] = true; return reconcile() }, InDebt, "1 not approved yet (" + z.String()[:12] + ")", z, 1},
		{"overdue", func() Result { clock = clock.Add(3 * time.Hour); return reconcile() }, InDebt, "OVERDUE since", z, 1},
		{"hold in debt", req(ActionHold, plumbing.ZeroHash, nil), Held, "pinned deploy/prod", z, 0},
		{"held in debt: shown unchecked", reconcile, Held, "until gerritgate release", z, 3},
		{"release", req(ActionRelease, plumbing.ZeroHash, nil), UpToDate, "released", z, 0},
		{"z approved: paid, then the freeze holds", func() Result { f.approved[z.String()] = true; return reconcile() }, Held, "year-end", z, 0},
		{"after the freeze", func() Result { clock = clock.Add(48 * time.Hour); return reconcile() }, Advanced, "", w, 0},
	})
	verifyTrail(t, served.Dir(), "baseline override override hold release paid advance")
}

// verifyTrail checks that the served repository's audit trail of prod
// verifies (rechecked; unsigned here) and has records of these kinds.
func verifyTrail(t *testing.T, dir, kinds string) {
	t.Helper()
	repo, err := gogit.PlainOpen(dir)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := audit.Verify(repo.Storer, audit.Options{Recheck: true})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range rep.Environments[0].Timeline {
		got = append(got, string(e.Kind))
	}
	if strings.Join(got, " ") != kinds {
		t.Errorf("trail %s, want %s", strings.Join(got, " "), kinds)
	}
	for _, p := range rep.Problems {
		if !strings.Contains(p, "no public key") {
			t.Errorf("verify: %s", p)
		}
	}
}

// After upstream history was rewritten (Diverged), a rewind moves
// deploy/<env> to a commit of the new history; later commits are gated
// again. A rewind never moves forward and never off the branch.
func TestRewindAfterRewrite(t *testing.T) {
	store, r, f, d, target := setup(t)
	ctx := context.Background()
	base := r.commit("base")
	a := r.commit("a", base)
	f.approved[a.String()] = true
	r.setBranch(base)
	target.Baseline = base.String()
	if res := d.Reconcile(ctx, target); res.Reason != Initialized {
		t.Fatalf("init: %s %s", res.Reason, res.Message)
	}
	r.setBranch(a)
	if res := d.Reconcile(ctx, target); res.Reason != Advanced {
		t.Fatalf("advance to a: %s %s", res.Reason, res.Message)
	}
	a2 := r.commit("a rewritten", base)
	b := r.commit("b, not approved", a2)
	c := r.commit("c, approved", b)
	f.approved[c.String()] = true
	r.setBranch(c)
	served, _ := store.Served("platform/fleet")
	deployed := func() plumbing.Hash { return mustRef(t, served, target.Ref()) }
	rewind := func(to plumbing.Hash) Result {
		return d.Operate(ctx, target, Adoption{Project: target.Project, Env: target.Env, Commit: to.String(), Reason: "main force-pushed", Ticket: "CHG-9", By: "ops@host", At: time.Now(), Action: ActionRewind})
	}
	override := func(to plumbing.Hash, back bool) Result {
		return d.Operate(ctx, target, Adoption{Project: target.Project, Env: target.Env, Commit: to.String(), Reason: "INC-6", Ticket: "INC-6", By: "ops@host",
			At: time.Now(), Expires: time.Now().Add(time.Hour), Rewind: back, Action: ActionOverride})
	}
	runSteps(t, deployed, func() {}, []step{
		{"diverged", func() Result { return d.Reconcile(ctx, target) }, Diverged, "rewritten", a, 0},
		{"rewind off the branch", func() Result { return rewind(a) }, Failed, "not on the upstream branch", a, 0},
		{"rewind to the rewritten a", func() Result { return rewind(a2) }, Rewound, "rewound deploy/prod from " + a.String()[:12], a2, 0},
		{"gated again from there", func() Result { return d.Reconcile(ctx, target) }, NotApproved, "not approved", a2, 0},
		{"rewind forward", func() Result { return rewind(c) }, Failed, "never moves forward", a2, 0},
		{"rewind back to base", func() Result { return rewind(base) }, Rewound, "CHG-9", base, 0},
		{"override forward to b", func() Result { return override(b, false) }, Overridden, "2 commits let through", b, 0},
		{"override back to a2 without --rewind", func() Result { return override(a2, false) }, Failed, "only with --rewind", b, 0},
		// In debt for a2 and b: going back would drop b from the debt.
		{"override --rewind back to a2 in debt", func() Result { return override(a2, true) }, Failed, "an override --rewind is refused", b, 0},
		{"in debt for a2 and b", func() Result { return d.Reconcile(ctx, target) }, InDebt, "2 not approved yet", b, 2},
	})
	verifyTrail(t, served.Dir(), "baseline advance rewind rewind override")
	for _, left := range []plumbing.Hash{a, a2} {
		if tag := mustRef(t, served, audit.RewoundTagRef("prod", left.String())); tag.IsZero() {
			t.Errorf("no tag keeps %.7s, which a rewind left", left)
		}
	}
}

// step is one act of a scenario and what it must leave: the result's
// reason and message, the deployed commit, and how many commits the
// result shows owing (0: no debt shown).
type step struct {
	what     string
	do       func() Result
	want     Reason
	wantMsg  string
	wantTip  plumbing.Hash
	wantDebt int
}

// runSteps runs steps in order, calling tick before each.
func runSteps(t *testing.T, deployed func() plumbing.Hash, tick func(), steps []step) {
	t.Helper()
	for _, st := range steps {
		tick()
		res := st.do()
		if res.Reason != st.want || !strings.Contains(res.Message, st.wantMsg) {
			t.Errorf("%s: %s %q, want %s containing %q", st.what, res.Reason, res.Message, st.want, st.wantMsg)
		}
		if got := deployed(); got != st.wantTip {
			t.Errorf("%s: deploy/prod = %.7s, want %.7s", st.what, got, st.wantTip)
		}
		got := 0
		if res.Debt != nil {
			got = len(res.Debt.Unapproved)
		}
		if got != st.wantDebt || (res.Debt == nil) != (st.wantDebt == 0) {
			t.Errorf("%s: debt %+v, want %d unapproved", st.what, res.Debt, st.wantDebt)
		}
	}
}

// An override --rewind back to a commit deployed before lets nothing
// through: its debt is empty and paid at the next reconcile, after which
// the environment advances again; the trail rechecks.
func TestOverrideRewindToAnEarlierCommit(t *testing.T) {
	store, r, f, d, target := setup(t)
	ctx := context.Background()
	base := r.commit("base, the baseline: no approval of its own")
	a := r.commit("a", base)
	f.approved[a.String()] = true
	r.setBranch(base)
	target.Baseline = base.String()
	d.Reconcile(ctx, target)
	r.setBranch(a)
	served, _ := store.Served("platform/fleet")
	deployed := func() plumbing.Hash { return mustRef(t, served, target.Ref()) }
	back := func() Result {
		return d.Operate(ctx, target, Adoption{Project: target.Project, Env: target.Env, Commit: base.String(), Reason: "a broke prod", Ticket: "INC-8", By: "ops@host",
			At: time.Now(), Expires: time.Now().Add(time.Hour), Rewind: true, Action: ActionOverride})
	}
	reconcile := func() Result { return d.Reconcile(ctx, target) }
	runSteps(t, deployed, func() {}, []step{
		{"advance to a", reconcile, Advanced, "", a, 0},
		{"override --rewind back to base", back, Overridden, "0 commits let through", base, 0},
		{"nothing owed: paid, and a is approved", reconcile, Advanced, "", a, 0},
	})
	verifyTrail(t, served.Dir(), "baseline advance override paid advance")
}

// While deploy/prod owes approvals for x (an override let it through), an
// override --rewind back past x is refused like a rewind: it would leave
// a debt that no longer names x, paid at the next reconcile although x
// ran in prod unapproved. The debt stands; the trail verifies.
func TestOverrideRewindInDebtKeepsTheDebt(t *testing.T) {
	store, r, _, d, target := setup(t)
	ctx := context.Background()
	base := r.commit("base")
	x := r.commit("x: hotfix, never approved", base)
	initialize(t, d, r, &target, base)
	r.setBranch(x)
	served, _ := store.Served("platform/fleet")
	deployed := func() plumbing.Hash { return mustRef(t, served, target.Ref()) }
	override := func(to plumbing.Hash, back bool) func() Result {
		return func() Result {
			return d.Operate(ctx, target, Adoption{Project: target.Project, Env: target.Env, Commit: to.String(), Reason: "INC-7", Ticket: "INC-7", By: "ops@host",
				At: time.Now(), Expires: time.Now().Add(time.Hour), Rewind: back, Action: ActionOverride})
		}
	}
	reconcile := func() Result { return d.Reconcile(ctx, target) }
	runSteps(t, deployed, func() {}, []step{
		{"override to x", override(x, false), Overridden, "1 commits let through", x, 0},
		{"in debt for x", reconcile, InDebt, "1 not approved yet", x, 1},
		{"rewind in debt", func() Result {
			return d.Operate(ctx, target, Adoption{Project: target.Project, Env: target.Env, Commit: base.String(), Reason: "r", Ticket: "T", By: "ops@host", At: time.Now(), Action: ActionRewind})
		}, Failed, "a rewind is refused", x, 0},
		{"override --rewind to base in debt", override(base, true), Failed, "an override --rewind is refused", x, 0},
		// x was deployed and is still not approved: the debt must stand.
		{"still in debt for x", reconcile, InDebt, "1 not approved yet", x, 1},
	})
	verifyTrail(t, served.Dir(), "baseline override")
}

// An override that moved deploy/<env> and then failed (pointing the
// served repository's HEAD at it) reports the move: Failed, with To
// where the ref now is, not where it was.
func TestOverrideReportsAMoveBeforeAFailure(t *testing.T) {
	store, r, _, d, target := setup(t)
	ctx := context.Background()
	base := r.commit("base")
	x := r.commit("x", base)
	initialize(t, d, r, &target, base)
	r.setBranch(x)
	served, _ := store.Served("platform/fleet")
	// HEAD names a branch that does not exist, and HEAD cannot be written.
	if err := os.WriteFile(filepath.Join(served.Dir(), "HEAD"), []byte("ref: refs/heads/nothing\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(served.Dir(), "HEAD.tmp"), 0o750); err != nil {
		t.Fatal(err)
	}
	res := d.Operate(ctx, target, Adoption{Project: target.Project, Env: target.Env, Commit: x.String(), Reason: "INC-9", Ticket: "INC-9", By: "ops@host",
		At: time.Now(), Expires: time.Now().Add(time.Hour), Action: ActionOverride})
	if got := mustRef(t, served, target.Ref()); got != x {
		t.Fatalf("deploy/prod = %.7s, want the override's move to %.7s (only HEAD fails)", got, x)
	}
	if res.Reason != Failed || res.From != base.String() || res.To != x.String() || !strings.Contains(res.Message, "HEAD") {
		t.Errorf("result %s from %.7s to %.7s: %q; want Failed from base to x, saying HEAD failed", res.Reason, res.From, res.To, res.Message)
	}
}
