package audit

import (
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
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
