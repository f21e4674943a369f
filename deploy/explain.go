package deploy

import (
	"context"
	"fmt"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/gerritgate/gerritgate/gate"
)

// Explain decides without moving anything, for people asking why: the
// commits pending for deploy/<env> (last == 0; from the branch's root when
// nothing is deployed yet), or the last commits on the upstream branch's
// first-parent line (last > 0), for previewing a policy edit against
// history that is already deployed.
func (d *Deployer) Explain(ctx context.Context, t Target, last int) (Result, error) {
	res := newResult(t, d.now())
	st, err := d.load(t, false)
	if err != nil {
		return res, err
	}
	if st.head.IsZero() {
		return res, fmt.Errorf("upstream branch %s of %s does not exist in the mirror", t.Branch, t.Project)
	}
	res.Head = st.head.String()
	res.From, res.To = hex(st.tip), hex(st.tip)
	base := st.tip
	if last > 0 {
		if base, err = firstParentAncestor(st.up, st.head, last); err != nil {
			return res, err
		}
	} else if st.tip.IsZero() && t.Baseline != gate.BaselineUpstream {
		base = plumbing.NewHash(t.Baseline)
	}
	if h, err := operatorHold(st.served, t); err != nil || (h != nil && last == 0) {
		if h != nil {
			h.apply(t, &res)
			res.Debt, err = shownDebt(st.served, t, res.Time)
		}
		return res, err
	}
	if last == 0 {
		if owes, err := d.owing(ctx, t, st, &res, false); err != nil || owes {
			return res, err
		}
	}
	if base == st.head {
		res.Reason, res.Message = UpToDate, "deployed commit is the upstream head"
		return res, nil
	}
	dec, _, window, diverged, err := d.decide(ctx, t, st.up, base, st.head)
	if err != nil {
		return res, err
	}
	if diverged {
		res.Reason, res.Message = Diverged, divergedMessage(t, st.head, st.tip)
		return res, nil
	}
	res.Decision = dec
	switch {
	case dec.Target == st.head.String():
		res.Reason, res.Message = Deployable, "every commit up to the upstream head is approved"
	case dec.Target == window.String():
		res.Reason, res.Message = Deployable, fmt.Sprintf("every commit up to %s is approved; the range is longer than %d commits, and the rest is decided as deploy/%s advances", short(window), d.maxRange, t.Env)
	case base.IsZero() && dec.Target == "":
		res.Reason, res.Message = AwaitingBaseline, dec.Why()
	default:
		res.Reason, res.Message = NotApproved, dec.Why()
	}
	if last > 0 || res.Reason == AwaitingBaseline {
		return res, nil
	}
	// What the policy approves may still wait on the environment's rules.
	end, h, err := d.rules(t, st, base, res.Time)
	if err != nil {
		return res, err
	}
	if h != nil {
		h.apply(t, &res)
	} else if end != st.head && res.Reason == Deployable {
		res.Message += "; " + cappedWhy(t, end)
	}
	return res, nil
}
