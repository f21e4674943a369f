package audit

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/gerritgate/gerritgate/gate"
)

// A move of deploy/<env> to a commit that does not descend from the one
// before verifies only as a rewind, or an override with rewind set, each
// naming its operator, reason and ticket; a paid record moves nothing.
func TestVerifyOperatorMoves(t *testing.T) {
	key := signer(t, "service")
	op := func() *Operator {
		return &Operator{By: "ops@host", Name: "Olga", Reason: "main force-pushed", Ticket: "CHG-9", Expires: start.Add(48 * time.Hour)}
	}
	for _, tt := range []struct {
		what string
		edit func(r *Record)
		want string // "" when the trail verifies
	}{
		{"a rewind", func(r *Record) {}, ""},
		{"an override with rewind", func(r *Record) { r.Kind, r.Rewind, r.Debt = Override, true, &Debt{Base: r.From} }, ""},
		{"an override without rewind", func(r *Record) { r.Kind, r.Debt = Override, &Debt{Base: r.From} }, "the step is not a fast-forward"},
		{"an adoption", func(r *Record) { r.Kind = Adopt }, "the step is not a fast-forward"},
		{"an advance", func(r *Record) { r.Kind, r.Operator = Advance, nil }, "the step is not a fast-forward"},
		{"a rewind without a ticket", func(r *Record) { r.Operator.Ticket = "" }, "must name its operator, reason and ticket"},
		{"a rewind without an operator", func(r *Record) { r.Operator = nil }, "must name its operator, reason and ticket"},
		{"an override without its debt", func(r *Record) { r.Kind, r.Rewind = Override, true }, "must name its expiry and its debt"},
		{"an override without an expiry", func(r *Record) {
			r.Kind, r.Rewind, r.Debt = Override, true, &Debt{Base: r.From}
			r.Operator.Expires = time.Time{}
		}, "must name its expiry and its debt"},
		{"a paid record that moves", func(r *Record) { r.Kind, r.Operator, r.Debt = Paid, nil, &Debt{Base: r.From, Override: r.From} }, "a paid record must stay at one commit"},
	} {
		t.Run(tt.what, func(t *testing.T) {
			tr := newTrail(t, key, false, 2, 1, 3)
			side := commitObj(t, tr.st, []plumbing.Hash{tr.commits[0]}, "rewritten", start)
			rec := &Record{Schema: Schema, Kind: Rewind, Project: "platform/fleet", Branch: "main", Environment: "prod",
				From: tr.commits[5].String(), To: side.String(), Time: start.Add(10 * time.Hour), Service: "test", Policy: PolicyOf(policy), Operator: op()}
			tt.edit(rec)
			tr.append(t, rec, key)
			tr.setRef(t, "refs/heads/deploy/prod", side)
			rep, err := Verify(tr.st, Options{Keyring: keyring(t, key), Recheck: true})
			if err != nil {
				t.Fatal(err)
			}
			problems := strings.Join(rep.Problems, "\n")
			if (tt.want == "") != rep.OK() || !strings.Contains(problems, tt.want) {
				t.Fatalf("problems %q, want %q", rep.Problems, tt.want)
			}
			if tt.want == "" {
				e := rep.Environments[0].Timeline[3]
				if e.By != "ops@host" || e.Ticket != "CHG-9" {
					t.Errorf("timeline entry %+v, want the operator and ticket", e)
				}
			}
		})
	}
}

// A paid record must name an earlier override of the trail; recheck
// decides it again: its evidence is about exactly the commits the
// override let through (as git says) and approves every one.
func TestVerifyPaidDebt(t *testing.T) {
	key := signer(t, "service")
	for _, tt := range []struct {
		what string
		edit func(r *Record, tr *trail)
		want string // "" when the trail verifies
	}{
		{"a faithful payment", func(r *Record, tr *trail) {}, ""},
		{"a payment of no override", func(r *Record, tr *trail) { r.Debt.Override = tr.audits[1].String() }, "not an earlier override record"},
		{"a payment without evidence", func(r *Record, tr *trail) { r.Evidence = nil }, "without policy rules, evidence or decision"},
		{"a vote dropped from the evidence", func(r *Record, tr *trail) {
			sha := r.Evidence.Commits[1].SHA
			r.Evidence.Changes[sha][0].Labels["Code-Review"] = nil
		}, "does not approve"},
		{"a commit left out of the evidence", func(r *Record, tr *trail) { r.Evidence.Commits = r.Evidence.Commits[1:] }, "git says 2 were let through"},
		{"a payment that moves", func(r *Record, tr *trail) { r.To = tr.commits[2].String() }, "a paid record must stay at one commit"},
	} {
		t.Run(tt.what, func(t *testing.T) {
			tr := newTrail(t, key, false, 2, 1)
			c3 := commitObj(t, tr.st, []plumbing.Hash{tr.commits[2]}, "c3", start)
			c4 := commitObj(t, tr.st, []plumbing.Hash{c3}, "c4", start)
			tr.commits = append(tr.commits, c3, c4)
			base := tr.commits[2].String()
			override := &Record{Schema: Schema, Kind: Override, Project: "platform/fleet", Branch: "main", Environment: "prod",
				From: base, To: c4.String(), Time: start.Add(10 * time.Hour), Service: "test", Policy: PolicyOf(policy),
				Operator: &Operator{By: "ops@host", Reason: "INC", Ticket: "INC-1", Expires: start.Add(12 * time.Hour)},
				Debt:     &Debt{Base: base, Commits: []string{c3.String(), c4.String()}}}
			tr.append(t, override, key)
			rng := gate.Range{Project: "platform/fleet", Branch: "main", Base: base, Head: c4.String(), Changes: map[string][]gate.Change{}}
			for i, h := range []plumbing.Hash{c3, c4} {
				c := gate.Commit{SHA: h.String(), Subject: fmt.Sprintf("c%d", 3+i), Parents: []string{tr.commits[2+i].String()}}
				rng.Commits = append(rng.Commits, c)
				rng.Changes[c.SHA] = []gate.Change{approvedChange(200+i, c.SHA)}
			}
			ev := roundTrip(t, rng)
			dec := gate.Evaluate(policy, ev)
			paid := &Record{Schema: Schema, Kind: Paid, Project: "platform/fleet", Branch: "main", Environment: "prod",
				From: c4.String(), To: c4.String(), Time: start.Add(11 * time.Hour), Service: "test", Policy: PolicyOf(policy),
				Debt: &Debt{Base: base, Override: tr.audits[len(tr.audits)-1].String()}, Evidence: &ev, Decision: &dec}
			b, _ := json.Marshal(paid)
			var edited Record
			json.Unmarshal(b, &edited)
			tt.edit(&edited, tr)
			tr.append(t, &edited, key)
			tr.setRef(t, "refs/heads/deploy/prod", c4)
			rep, err := Verify(tr.st, Options{Keyring: keyring(t, key), Recheck: true})
			if err != nil {
				t.Fatal(err)
			}
			if problems := strings.Join(rep.Problems, "\n"); (tt.want == "") != rep.OK() || !strings.Contains(problems, tt.want) {
				t.Fatalf("problems %q, want %q", rep.Problems, tt.want)
			}
			if tl := rep.Environments[0].Timeline; tt.want == "" && (tl[3].Kind != Paid || !tl[3].Rechecked) {
				t.Errorf("the paid record is not rechecked: %+v", tl[3])
			}
		})
	}
}

// Verify keeps the outstanding debt: after an override, until a paid
// record names it, only a hold, a release or another override forward
// (whose debt keeps the first one's base) may follow; a paid record names
// the override that owes, and an override's debt starts where deploy/<env>
// was before the first unpaid override.
func TestVerifyTracksDebt(t *testing.T) {
	key := signer(t, "service")
	type rec func(tr *trail, c []plumbing.Hash) *Record
	base := func(k Kind, from, to plumbing.Hash) *Record {
		return &Record{Schema: Schema, Kind: k, Project: "platform/fleet", Branch: "main", Environment: "prod",
			From: from.String(), To: to.String(), Time: start.Add(10 * time.Hour), Service: "test", Policy: PolicyOf(policy),
			Operator: &Operator{By: "ops@host", Reason: "INC", Ticket: "INC-1", Expires: start.Add(12 * time.Hour)}}
	}
	override := func(from, to, debtBase int, rewind bool) rec {
		return func(tr *trail, c []plumbing.Hash) *Record {
			r := base(Override, c[from], c[to])
			r.Rewind, r.Debt = rewind, &Debt{Base: c[debtBase].String()}
			return r
		}
	}
	// paid pays the override recorded n records after the trail's first
	// three (two advances and the override under test).
	paid := func(at, n int) rec {
		return func(tr *trail, c []plumbing.Hash) *Record {
			r := base(Paid, c[at], c[at])
			r.Operator, r.Debt = nil, &Debt{Base: c[2].String(), Override: tr.audits[n].String()}
			return r
		}
	}
	op := func(k Kind, from, to int) rec {
		return func(tr *trail, c []plumbing.Hash) *Record {
			r := base(k, c[from], c[to])
			if k == Advance {
				r.Operator = nil
			}
			return r
		}
	}
	for _, tt := range []struct {
		what string
		recs []rec
		want string // "" when the trail verifies
	}{
		{"override, paid, advance", []rec{override(2, 3, 2, false), paid(3, 2), op(Advance, 3, 4)}, ""},
		{"override, hold, release, override forward, paid", []rec{override(2, 3, 2, false), op(Hold, 3, 3), op(Release, 3, 3), override(3, 4, 2, false), paid(4, 5)}, ""},
		{"an advance while owing", []rec{override(2, 3, 2, false), op(Advance, 3, 4)}, "advance while override"},
		{"an adoption while owing", []rec{override(2, 3, 2, false), op(Adopt, 3, 4)}, "adopt while override"},
		{"a rewind while owing", []rec{override(2, 3, 2, false), op(Rewind, 3, 1)}, "rewind while override"},
		{"an override --rewind while owing", []rec{override(2, 3, 2, false), override(3, 1, 2, true)}, "override with rewind while override"},
		{"a debt that owes nothing", []rec{override(2, 3, 3, false)}, "debt starts at"},
		{"a second override that forgets the first's commits", []rec{override(2, 3, 2, false), override(3, 4, 3, false)}, "debt starts at"},
		{"a payment of the override paid before", []rec{override(2, 3, 2, false), paid(3, 2), override(3, 4, 3, false), paid(4, 2)}, "is the one that owes"},
		{"a payment when nothing owes", []rec{override(2, 3, 2, false), paid(3, 2), paid(3, 2)}, "no override owes"},
		{"a payment of the first of two overrides", []rec{override(2, 3, 2, false), override(3, 4, 2, false), paid(4, 2)}, "is the one that owes"},
	} {
		t.Run(tt.what, func(t *testing.T) {
			tr := newTrail(t, key, false, 2, 1)
			c := append([]plumbing.Hash{}, tr.commits...)
			c = append(c, commitObj(t, tr.st, []plumbing.Hash{c[2]}, "c3", start))
			c = append(c, commitObj(t, tr.st, []plumbing.Hash{c[3]}, "c4", start))
			for _, r := range tt.recs {
				tr.append(t, r(tr, c), key)
			}
			tr.setRef(t, "refs/heads/deploy/prod", plumbing.NewHash(tr.records[len(tr.records)-1].To))
			rep, err := Verify(tr.st, Options{Keyring: keyring(t, key)})
			if err != nil {
				t.Fatal(err)
			}
			if problems := strings.Join(rep.Problems, "\n"); (tt.want == "") != rep.OK() || !strings.Contains(problems, tt.want) {
				t.Fatalf("problems %q, want %q", rep.Problems, tt.want)
			}
		})
	}
}

func TestVerifyRefusesAdvanceWhileInDebt(t *testing.T) {
	key := signer(t, "service")
	tr := newTrail(t, key, false, 2, 1)
	c3 := commitObj(t, tr.st, []plumbing.Hash{tr.commits[2]}, "c3", start)
	c4 := commitObj(t, tr.st, []plumbing.Hash{c3}, "c4", start)
	base := tr.commits[2].String()
	tr.append(t, &Record{Schema: Schema, Kind: Override, Project: "platform/fleet", Branch: "main", Environment: "prod",
		From: base, To: c3.String(), Time: start.Add(10 * time.Hour), Service: "test", Policy: PolicyOf(policy),
		Operator: &Operator{By: "ops@host", Reason: "INC", Ticket: "INC-1", Expires: start.Add(12 * time.Hour)},
		Debt:     &Debt{Base: base, Commits: []string{c3.String()}}}, key)
	// c3 is never approved; c4 is, and an advance c3..c4 follows at once.
	rng := gate.Range{Project: "platform/fleet", Branch: "main", Base: c3.String(), Head: c4.String(),
		Changes: map[string][]gate.Change{}, Files: map[string][]string{c4.String(): {}}}
	rng.Commits = []gate.Commit{{SHA: c4.String(), Subject: "c4", Parents: []string{c3.String()}}}
	rng.Changes[c4.String()] = []gate.Change{approvedChange(300, c4.String())}
	ev := roundTrip(t, rng)
	dec := gate.Evaluate(policy, ev)
	if dec.Target != c4.String() {
		t.Fatalf("test evidence does not approve: %s", dec.Why())
	}
	tr.append(t, &Record{Schema: Schema, Kind: Advance, Project: "platform/fleet", Branch: "main", Environment: "prod",
		From: c3.String(), To: c4.String(), Time: start.Add(11 * time.Hour), Service: "test", Policy: PolicyOf(policy),
		Evidence: &ev, Decision: &dec, Commits: Summarize(&ev, &dec)}, key)
	tr.setRef(t, "refs/heads/deploy/prod", c4)
	rep, err := Verify(tr.st, Options{Keyring: keyring(t, key), Recheck: true})
	if err != nil {
		t.Fatal(err)
	}
	if want := "advance while override"; !strings.Contains(strings.Join(rep.Problems, "\n"), want) {
		t.Errorf("a trail that advanced past an unpaid override: problems %q, want %q", rep.Problems, want)
	}
}

// An override whose debt names its own To as base (so it owes nothing),
// then a paid record with empty evidence: c3, let through unapproved, is
// never accounted for, so the trail fails even with --recheck (which
// decides the paid record only against the override's own debt).
func TestVerifyRefusesOverrideWithEmptyDebt(t *testing.T) {
	key := signer(t, "service")
	tr := newTrail(t, key, false, 2, 1)
	c3 := commitObj(t, tr.st, []plumbing.Hash{tr.commits[2]}, "c3", start)
	from := tr.commits[2].String()
	tr.append(t, &Record{Schema: Schema, Kind: Override, Project: "platform/fleet", Branch: "main", Environment: "prod",
		From: from, To: c3.String(), Time: start.Add(10 * time.Hour), Service: "test", Policy: PolicyOf(policy),
		Operator: &Operator{By: "ops@host", Reason: "INC", Ticket: "INC-1", Expires: start.Add(12 * time.Hour)},
		Debt:     &Debt{Base: c3.String()}}, key)
	ev := roundTrip(t, gate.Range{Project: "platform/fleet", Branch: "main", Base: c3.String(), Head: c3.String(), Changes: map[string][]gate.Change{}, Files: map[string][]string{}})
	dec := gate.Evaluate(policy, ev)
	tr.append(t, &Record{Schema: Schema, Kind: Paid, Project: "platform/fleet", Branch: "main", Environment: "prod",
		From: c3.String(), To: c3.String(), Time: start.Add(11 * time.Hour), Service: "test", Policy: PolicyOf(policy),
		Debt: &Debt{Base: c3.String(), Override: tr.audits[len(tr.audits)-1].String()}, Evidence: &ev, Decision: &dec}, key)
	tr.setRef(t, "refs/heads/deploy/prod", c3)
	rep, err := Verify(tr.st, Options{Keyring: keyring(t, key), Recheck: true})
	if err != nil {
		t.Fatal(err)
	}
	if want := "debt starts at " + c3.String()[:12] + ", not at " + from[:12]; !strings.Contains(strings.Join(rep.Problems, "\n"), want) {
		t.Errorf("an override that owes nothing for the commit it let through, then paid: problems %q, want %q", rep.Problems, want)
	}
}
