package deploy

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/gerritgate/gerritgate/audit"
	"github.com/gerritgate/gerritgate/gate"
	"github.com/gerritgate/gerritgate/storage"
)

// DebtRef names, in the served repository, the audit commit of the last
// override or paid record of deploy/<Env>: the environment owes approvals
// while it names an override. Storage never deletes refs, so paying moves
// it to the paid record. Hidden from clients.
func (t Target) DebtRef() string { return "refs/gerritgate/debt/" + t.Env }

// Debt is an override's unpaid debt as it stands: what the status page,
// the API, explain and the metrics show.
type Debt struct {
	Override string    `json:"override"` // the override's audit commit
	Since    time.Time `json:"since"`    // when the override moved deploy/<env>
	// AgeSeconds is how long the debt has been owed at the Result's time.
	AgeSeconds int64     `json:"ageSeconds"`
	Expires    time.Time `json:"expires"` // when it is due
	Overdue    bool      `json:"overdue"` // due and not paid: the environment stays blocked
	By         string    `json:"by"`
	Ticket     string    `json:"ticket"`
	Reason     string    `json:"reason"`
	// Commits are the commits the override let through.
	Commits []string `json:"commits"`
	// Unapproved are those the policy does not approve yet; when Checked
	// is false (the environment is held by an operator, and nothing was
	// asked of Gerrit) it is every one of Commits.
	Unapproved []string `json:"unapproved"`
	Checked    bool     `json:"checked"`
}

// owedBy returns DebtRef's value and, while the environment owes, the
// override's record; a ref naming anything but an override or paid record
// of this environment is an error (nothing moves), never "no debt".
func owedBy(served *storage.Repo, t Target) (plumbing.Hash, *audit.Record, error) {
	h, rec, err := recordAt(served, t.DebtRef())
	if err != nil || rec == nil {
		return h, nil, err
	}
	if rec.Environment != t.Env || rec.Debt == nil || (rec.Kind != audit.Override && rec.Kind != audit.Paid) {
		return h, nil, fmt.Errorf("%s names a %s record of environment %q, not an override or paid record of %q", t.DebtRef(), rec.Kind, rec.Environment, t.Env)
	}
	if rec.Kind == audit.Paid {
		return h, nil, nil
	}
	if rec.Operator == nil {
		return h, nil, fmt.Errorf("%s: the override record names no operator", t.DebtRef())
	}
	return h, rec, nil
}

// notOwing refuses an operator's act (what) while the environment owes.
func notOwing(served *storage.Repo, t Target, what string) error {
	_, rec, err := owedBy(served, t)
	if err != nil || rec == nil {
		return err
	}
	return fmt.Errorf("deploy/%s owes approvals for the override of %s by %s: %s is refused until they are given (or override again, which keeps the debt)",
		t.Env, rec.Time.UTC().Format(time.RFC3339), rec.Operator.Who(), what)
}

// debtOf is the debt an override record stands for at now. dec is the
// policy's decision on the commits the override let through, nil when
// not asked: then every commit counts as unapproved. paid is true when
// dec approves every one of them; a commit without a verdict is not
// approved.
func debtOf(rec *audit.Record, override plumbing.Hash, dec *gate.Decision, now time.Time) (debt *Debt, paid bool) {
	debt = &Debt{
		Override: override.String(), Since: rec.Time.UTC(), Expires: rec.Operator.Expires.UTC(),
		By: rec.Operator.Who(), Ticket: rec.Operator.Ticket, Reason: oneLine(rec.Operator.Reason),
		Commits: append([]string{}, rec.Debt.Commits...), Unapproved: []string{},
		Checked: dec != nil,
	}
	if age := now.Sub(rec.Time); age > 0 {
		debt.AgeSeconds = int64(age / time.Second)
	}
	debt.Overdue = !now.Before(debt.Expires)
	for _, sha := range debt.Commits {
		if dec != nil {
			if v, ok := dec.Verdict(sha); ok && v.Approved {
				continue
			}
		}
		debt.Unapproved = append(debt.Unapproved, sha)
	}
	return debt, dec != nil && len(debt.Unapproved) == 0
}

// message is the debt for people.
func (debt *Debt) message(t Target) string {
	var b strings.Builder
	// No age here: the message stays the same from poll to poll, so a
	// transition is logged once; Since and AgeSeconds carry it.
	fmt.Fprintf(&b, "in debt: an override by %s at %s (%s: %s) let through %d commits", debt.By, debt.Since.Format(time.RFC3339), debt.Ticket, debt.Reason, len(debt.Commits))
	if debt.Checked {
		shorts := make([]string, len(debt.Unapproved))
		for i, s := range debt.Unapproved {
			shorts[i] = shortSHA(s)
		}
		fmt.Fprintf(&b, ", %d not approved yet (%s)", len(debt.Unapproved), strings.Join(shorts, ", "))
	}
	fmt.Fprintf(&b, "; deploy/%s advances no further on its own until the policy approves them", t.Env)
	if debt.Overdue {
		fmt.Fprintf(&b, "; OVERDUE since %s", debt.Expires.Format(time.RFC3339))
	} else {
		fmt.Fprintf(&b, "; due %s", debt.Expires.Format(time.RFC3339))
	}
	return b.String()
}

// owing decides, for Reconcile and Explain, whether t is in debt: it asks
// the policy about the commits the outstanding override let through, with
// the votes Gerrit has now. In debt, res becomes InDebt and owing returns
// true. Paid, with record set (the service), it records so on the audit
// trail and returns false: the environment advances again.
func (d *Deployer) owing(ctx context.Context, t Target, st state, res *Result, record bool) (bool, error) {
	if st.served == nil {
		return false, nil
	}
	ref, rec, err := owedBy(st.served, t)
	if err != nil || rec == nil {
		return false, err
	}
	commits, err := d.letThrough(ctx, t, st.up, plumbing.NewHash(rec.Debt.Base), plumbing.NewHash(rec.To))
	if err != nil {
		return false, fmt.Errorf("the commits override %s let through: %w", short(ref), err)
	}
	dec, rng, err := d.evaluate(ctx, t, st.up, plumbing.NewHash(rec.Debt.Base), plumbing.NewHash(rec.To), commits)
	if err != nil {
		return false, err
	}
	debt, paid := debtOf(rec, ref, dec, res.Time)
	if !paid {
		res.Reason, res.Debt = InDebt, debt
		res.Message = debt.message(t)
		if !record {
			// explain shows why each commit the override let through is
			// (not) approved; the service's result keeps the decision on
			// pending commits only (pending counts, first blocking).
			res.Decision = dec
		}
		return true, nil
	}
	if !record {
		return false, nil
	}
	if err := d.pay(t, st, ref, rec, rng, res.Time); err != nil {
		return false, err
	}
	d.logger.Info("override debt paid: every commit it let through is approved", "project", t.Project, "env", t.Env,
		"override", ref.String(), "commits", len(rec.Debt.Commits), "age", res.Time.Sub(rec.Time).Round(time.Second).String())
	return false, nil
}

// pay records that override's debt is paid: a paid record with the
// decision that approves every commit it let through, DebtRef moved to
// it, and deploy/<env> checked not to have moved, in one transaction.
func (d *Deployer) pay(t Target, st state, override plumbing.Hash, rec *audit.Record, rng gate.Range, at time.Time) error {
	ev, err := audit.Canonical(rng)
	if err != nil {
		return fmt.Errorf("audit evidence: %w", err)
	}
	dec := gate.Evaluate(t.Policy, ev)
	if _, paid := debtOf(rec, override, &dec, at); !paid {
		return fmt.Errorf("the decision on the %d commits override %s let through does not reproduce: not recording the debt paid", len(ev.Commits), short(override))
	}
	trail, err := d.record(t, st.served, &audit.Record{Kind: audit.Paid, From: st.tip.String(), To: st.tip.String(), Time: at,
		Debt: &audit.Debt{Base: rec.Debt.Base, Override: override.String()}, Evidence: &ev, Decision: &dec})
	if err != nil {
		return err
	}
	updates := append(trail, storage.RefUpdate{Name: t.DebtRef(), Old: override, New: trail[0].New},
		storage.RefUpdate{Name: t.Ref(), Old: st.tip, New: st.tip})
	return st.served.UpdateRefs(updates...)
}

// shownDebt is the outstanding debt of t without asking Gerrit, for an
// environment an operator holds; nil when it owes nothing.
func shownDebt(served *storage.Repo, t Target, now time.Time) (*Debt, error) {
	if served == nil {
		return nil, nil
	}
	ref, rec, err := owedBy(served, t)
	if err != nil || rec == nil {
		return nil, err
	}
	debt, _ := debtOf(rec, ref, nil, now)
	return debt, nil
}

// letThrough returns the commits an override to `to` lets through: those
// reachable from it and not from base (none when base contains it: a
// rewind to a commit deployed before).
func (d *Deployer) letThrough(ctx context.Context, t Target, up *storage.Repo, base, to plumbing.Hash) ([]gate.Commit, error) {
	if contained, err := up.IsAncestor(to, base); err != nil || contained {
		return nil, err
	}
	commits, _, err := d.pending(ctx, t.Project, up, base, to)
	return commits, err
}
