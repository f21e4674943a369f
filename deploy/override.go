package deploy

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/gerritgate/gerritgate/audit"
	"github.com/gerritgate/gerritgate/internal/gitid"
	"github.com/gerritgate/gerritgate/storage"
)

// Operator actions of break-glass (BreakGlass).
const (
	// ActionOverride moves deploy/<env> once past its windows, soak,
	// freezes, the environment it comes after, or a missing approval,
	// and leaves a debt.
	ActionOverride = "override"
	// ActionRewind moves deploy/<env> to a commit of the upstream branch
	// that does not descend from the deployed one.
	ActionRewind = "rewind"
)

// MaxOverrideExpiry bounds how long an override's debt may stay unpaid
// before it is overdue (gerritgate override --expires), counted from when
// the service applies it, whatever the request says.
const MaxOverrideExpiry = 7 * 24 * time.Hour

// MaxRequestSkew is how far in the future of the service's clock a
// request's "at" may lie (clocks of the command and the service differ a
// little); a request from later than that is refused.
const MaxRequestSkew = time.Minute

// BreakGlass applies an override or a rewind (a.Action) an operator asked
// for. Either moves deploy/<Env> only to a commit of the upstream branch,
// is refused while the environment is held, and is recorded on the audit
// trail with the operator, reason and ticket in the transaction that
// moves the ref. An override moves forward only, unless a.Rewind, and
// moves DebtRef to its record: until the policy approves every commit it
// let through, Reconcile reports InDebt and moves nothing; meanwhile only
// a forward override is allowed (the debt grows). A rewind moves
// only to a commit that does not descend from the deployed one (forward
// moves are for the policy, adopt or override) and is refused while the
// environment owes; later commits are decided by the policy again.
func (d *Deployer) BreakGlass(ctx context.Context, t Target, a Adoption) Result {
	res := newResult(t, d.now())
	if err := d.breakGlass(ctx, t, a, &res); err != nil {
		res.Reason, res.Message = Failed, a.Verb()+": "+err.Error() // To: where deploy/<env> is
		d.logger.Warn(res.Message, "project", t.Project, "env", t.Env, "commit", a.Commit, "by", a.By)
		if res.To != res.From { // it moved before the failure
			d.announce(t, res)
		}
		return res
	}
	d.logger.Warn("operator "+a.Action, "project", t.Project, "env", t.Env, "from", res.From, "to", res.To,
		"by", a.By, "operator", a.Name, "ticket", a.Ticket, "reason", a.Reason)
	d.announce(t, res)
	return res
}

// checkBreakGlass checks an override or rewind request on its own, at
// now (when the service applies it). The request's own times are the
// operator's claim: its "at" may not lie in the service's future, and the
// debt is due at most MaxOverrideExpiry after now.
func checkBreakGlass(a Adoption, now time.Time) error {
	if !gitid.IsSHA1(strings.ToLower(a.Commit)) { // as in adopt
		return fmt.Errorf("commit %q is not a full 40-hex SHA", a.Commit)
	}
	for _, f := range []struct{ name, v string }{{"a reason", a.Reason}, {"a ticket", a.Ticket}, {"who asked", a.By}} {
		if strings.TrimSpace(f.v) == "" {
			return fmt.Errorf("an %s needs %s", a.Action, f.name)
		}
	}
	if a.At.Sub(now) > MaxRequestSkew {
		return fmt.Errorf("the request is dated %s, later than the service's clock (%s): refused", a.At.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	if a.Action == ActionRewind {
		if a.Rewind || !a.Expires.IsZero() {
			return errors.New("a rewind takes neither --rewind nor --expires: it leaves no debt")
		}
		return nil
	}
	switch {
	case a.Expires.IsZero():
		return errors.New("an override needs an expiry")
	case !a.Expires.After(a.At):
		return fmt.Errorf("the expiry %s is not after the request (%s)", a.Expires.UTC().Format(time.RFC3339), a.At.UTC().Format(time.RFC3339))
	case a.Expires.Sub(a.At) > MaxOverrideExpiry:
		return fmt.Errorf("the expiry %s is more than %s after the request", a.Expires.UTC().Format(time.RFC3339), MaxOverrideExpiry)
	case a.Expires.Sub(now) > MaxOverrideExpiry:
		return fmt.Errorf("the expiry %s is more than %s after the service applies the request (%s)", a.Expires.UTC().Format(time.RFC3339), MaxOverrideExpiry, now.UTC().Format(time.RFC3339))
	case !now.Before(a.Expires):
		return fmt.Errorf("the override expired at %s before it was applied", a.Expires.UTC().Format(time.RFC3339))
	}
	return nil
}

// relation is where a named commit stands against the upstream head and
// the deployed tip.
type relation struct {
	onBranch bool // the head is, or descends from, the commit
	deployed bool // the commit is the deployed tip
	forward  bool // the commit descends from the deployed tip
}

// allowed says whether an override (rewind: with --rewind) or a rewind
// (action) may move to a commit standing as rel.
func allowed(action string, rewind bool, rel relation) error {
	switch {
	case !rel.onBranch:
		return errors.New("is not on the upstream branch")
	case rel.deployed:
		return errors.New("is deployed already")
	case action == ActionRewind && rel.forward:
		return errors.New("descends from the deployed commit: a rewind never moves forward (the policy, adopt or override do)")
	case action == ActionOverride && !rel.forward && !rewind:
		return errors.New("does not descend from the deployed commit: an override moves backwards or to rewritten history only with --rewind")
	}
	return nil
}

func (d *Deployer) breakGlass(ctx context.Context, t Target, a Adoption, res *Result) error {
	if a.Action != ActionOverride && a.Action != ActionRewind {
		return fmt.Errorf("not an override or rewind: %q", a.Action)
	}
	if err := checkBreakGlass(a, res.Time); err != nil {
		return err
	}
	st, err := d.loadToMove(t, res)
	if err != nil {
		return err
	}
	if st.tip.IsZero() {
		return fmt.Errorf("deploy/%s does not exist yet: name its first commit with gerritgate adopt", t.Env)
	}
	target := plumbing.NewHash(a.Commit)
	if _, err := st.up.Commit(target); err != nil {
		return fmt.Errorf("commit %s is not in the upstream mirror of %s", short(target), t.Project)
	}
	rel := relation{deployed: target == st.tip}
	if rel.onBranch, err = st.up.IsAncestor(target, st.head); err != nil {
		return fmt.Errorf("commit %s: reading the history of %s: %w", short(target), t.Branch, err)
	}
	if rel.forward, err = st.up.IsAncestor(st.tip, target); err != nil {
		return fmt.Errorf("commit %s: reading its history back to the deployed %s: %w", short(target), short(st.tip), err)
	}
	if err := allowed(a.Action, a.Rewind, rel); err != nil {
		return fmt.Errorf("commit %s %w (upstream %s at %s, deploy/%s at %s)", short(target), err, t.Branch, short(st.head), t.Env, short(st.tip))
	}
	if _, held, err := heldBy(st.served, t); err != nil {
		return err
	} else if held != nil {
		return fmt.Errorf("deploy/%s is held %s: release it first", t.Env, heldSince(held))
	}
	prevDebt, owed, err := owedBy(st.served, t)
	if err != nil {
		return err
	}
	rec := &audit.Record{Kind: audit.Kind(a.Action), From: st.tip.String(), To: target.String(), Time: res.Time, Operator: a.operator()}
	var also []storage.RefUpdate
	if a.Action == ActionRewind {
		if owed != nil {
			return notOwing(st.served, t, "a rewind")
		}
	} else {
		// The debt covers what this override lets through and, when an
		// earlier one is unpaid, what that one did: its base stays. Only
		// a forward override keeps every commit owed within base..target;
		// one that leaves the deployed line would drop them, so it waits
		// for the debt to be paid, like a rewind.
		base := st.tip
		if owed != nil {
			if !rel.forward {
				return notOwing(st.served, t, "an override --rewind")
			}
			base = plumbing.NewHash(owed.Debt.Base)
		}
		commits, err := d.letThrough(ctx, t, st.up, base, target)
		if errors.Is(err, errTooMany) {
			return fmt.Errorf("it would let through more than %d commits", d.maxRange)
		} else if err != nil {
			return err
		}
		rec.Rewind, rec.Debt = a.Rewind, &audit.Debt{Base: base.String()}
		for _, c := range commits {
			rec.Debt.Commits = append(rec.Debt.Commits, c.SHA)
		}
	}
	trail, err := d.record(t, st.served, rec)
	if err != nil {
		return err
	}
	also = append(also, trail...)
	if a.Action == ActionOverride {
		also = append(also, storage.RefUpdate{Name: t.DebtRef(), Old: prevDebt, New: trail[0].New})
	}
	if !rel.forward {
		kept, err := d.keepRewound(t, st.served, rec)
		if err != nil {
			return err
		}
		also = append(also, kept...)
	}
	// Only a move the record says is a rewind may leave the deployed
	// commit's line (verify checks the same).
	force := a.Action == ActionRewind || a.Rewind
	moved, err := d.move(ctx, t, st.up, st.served, storage.RefUpdate{Name: t.Ref(), Old: st.tip, New: target, Force: force}, also...)
	if moved {
		res.To = target.String()
	}
	if err != nil {
		return err
	}
	who := a.operator().Who()
	if a.Action == ActionRewind {
		res.Reason = Rewound
		res.Message = fmt.Sprintf("an operator (%s) rewound deploy/%s from %s to %s: %s [%s]; later commits are decided by the policy", who, t.Env, short(st.tip), short(target), oneLine(a.Reason), oneLine(a.Ticket))
		return nil
	}
	res.Reason = Overridden
	res.Message = fmt.Sprintf("an operator (%s) overrode deploy/%s from %s to %s: %s [%s]; %d commits let through owe an approval, due %s",
		who, t.Env, short(st.tip), short(target), oneLine(a.Reason), oneLine(a.Ticket), len(rec.Debt.Commits), a.Expires.UTC().Format(time.RFC3339))
	return nil
}

// keepRewound returns the update of the tag that keeps the commit a
// rewind leaves (rec.From) in the served repository, for the records that
// name it; none when a tag keeps it already.
func (d *Deployer) keepRewound(t Target, served *storage.Repo, rec *audit.Record) ([]storage.RefUpdate, error) {
	name := audit.RewoundTagRef(t.Env, rec.From)
	if old, err := served.Ref(name); err != nil || !old.IsZero() {
		return nil, err
	}
	tag, err := audit.WriteRewoundTag(served.Objects(), rec, d.signer)
	if err != nil {
		return nil, fmt.Errorf("tag of the rewound commit: %w", err)
	}
	return []storage.RefUpdate{{Name: name, New: tag}}, served.Sync()
}
