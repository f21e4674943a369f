package audit

import (
	"fmt"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"

	"github.com/gerritgate/gerritgate/gate"
)

// operatorStep checks what the records of operators' break-glass acts
// must say, and reports whether covers goes on to check the step. A
// record that moves deploy/<env> to a commit not descending from where it
// was is valid only as a Rewind or an Override with Rewind set, each
// naming its operator, reason and ticket; covers refuses any other.
func (v *verifier) operatorStep(c *object.Commit, rec *Record) bool {
	switch rec.Kind {
	case Paid:
		if rec.To == "" || rec.From != rec.To || rec.Debt == nil || rec.Debt.Override == "" {
			v.fail("audit %s: a paid record must stay at one commit and name the override it pays (from %s to %s)", short(c.Hash), shortSHA(rec.From), shortSHA(rec.To))
		} else if v.overrides[rec.Debt.Override] == nil {
			v.fail("audit %s: the paid record names %s, not an earlier override record of this trail", short(c.Hash), shortSHA(rec.Debt.Override))
		}
		return false
	case Rewind, Override:
		o := rec.Operator
		if o == nil || strings.TrimSpace(o.By) == "" || strings.TrimSpace(o.Reason) == "" || strings.TrimSpace(o.Ticket) == "" {
			v.fail("audit %s: a %s record must name its operator, reason and ticket", short(c.Hash), rec.Kind)
			return false
		}
		if rec.From == "" {
			v.fail("audit %s: a %s record must start from a deployed commit", short(c.Hash), rec.Kind)
			return false
		}
		if rec.Kind == Override && (o.Expires.IsZero() || rec.Debt == nil || rec.Debt.Base == "") {
			v.fail("audit %s: an override record must name its expiry and its debt", short(c.Hash))
			return false
		}
		if rec.Kind == Override {
			if v.overrides == nil {
				v.overrides = map[string]*Record{}
			}
			v.overrides[c.Hash.String()] = rec
		}
	}
	return true
}

// recheckPaid decides a paid record again from its evidence: it is about
// exactly the commits the override it pays let through (its debt, which
// git must agree with), and the recorded rules approve every one of them.
func (v *verifier) recheckPaid(rec *Record, bad func(string, ...any) bool) bool {
	o := v.overrides[rec.Debt.paid()]
	if o == nil {
		return false // operatorStep reported it
	}
	if rec.Policy.Rules == nil || rec.Evidence == nil || rec.Decision == nil {
		return bad("a paid record without policy rules, evidence or decision")
	}
	if h := policyHash(rec.Policy.Rules); h != rec.Policy.SHA256 {
		return bad("the recorded rules hash to %s, the record says %s", h[:16], shortSHA(rec.Policy.SHA256))
	}
	ev := rec.Evidence
	if ev.Base != o.Debt.Base || ev.Head != o.To || rec.Debt.Base != o.Debt.Base {
		return bad("the evidence is about %s..%s, the override let through %s..%s", shortSHA(ev.Base), shortSHA(ev.Head), shortSHA(o.Debt.Base), shortSHA(o.To))
	}
	let, err := letThrough(v.repo, o)
	if err != nil {
		return bad("%v", err)
	}
	var evShas []string
	for _, c := range ev.Commits {
		evShas = append(evShas, c.SHA)
	}
	if !sameSet(o.Debt.Commits, let) || !sameSet(evShas, let) {
		return bad("the override's debt lists %d commits and the evidence %d; git says %d were let through", len(o.Debt.Commits), len(evShas), len(let))
	}
	if err := v.sameFiles(ev); err != nil {
		return bad("%v", err)
	}
	got := gate.Evaluate(rec.Policy.Rules, *ev)
	for _, vd := range got.Verdicts {
		if !vd.Approved {
			return bad("the recorded evidence does not approve %s, which the override let through", shortSHA(vd.SHA))
		}
	}
	if !sameJSON(got, *rec.Decision) {
		return bad("the recorded verdicts differ from what the recorded evidence decides")
	}
	return true
}

// letThrough is what git says override o let through: the commits
// reachable from its To and not from its debt's base.
func letThrough(repo Repository, o *Record) ([]string, error) {
	base := map[plumbing.Hash]bool{}
	if err := walk(repo, plumbing.NewHash(o.Debt.Base), nil, func(c *object.Commit) { base[c.Hash] = true }); err != nil {
		return nil, err
	}
	var out []string
	err := walk(repo, plumbing.NewHash(o.To), base, func(c *object.Commit) { out = append(out, c.Hash.String()) })
	return out, err
}

// RewoundTagRef names the tag that keeps a commit deploy/<env> was
// rewound away from (rec.From of a Rewind, or of an Override with Rewind)
// in the served repository: without it a clone would lack the commits the
// earlier records name, and Verify could not check them.
func RewoundTagRef(env, from string) string {
	return "refs/tags/gerritgate-rewound/" + env + "/" + from
}

// WriteRewoundTag stores the annotated tag RewoundTagRef names, at
// rec.From, signed by s when s is not nil, and returns its hash. It moves
// no ref.
func WriteRewoundTag(st storer.EncodedObjectStorer, rec *Record, s *Signer) (plumbing.Hash, error) {
	t := &object.Tag{
		Name:       strings.TrimPrefix(RewoundTagRef(rec.Environment, rec.From), "refs/tags/"),
		Tagger:     object.Signature{Name: identityName, Email: identityEmail, When: rec.Time.UTC()},
		Message:    fmt.Sprintf("deploy/%s of %s was at %s until an operator's %s to %s at %s\n", rec.Environment, rec.Project, rec.From, rec.Kind, rec.To, rec.Time.UTC().Format(time.RFC3339)),
		TargetType: plumbing.CommitObject,
		Target:     plumbing.NewHash(rec.From),
	}
	return writeTag(st, t, s)
}
