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
