package deploy

import (
	"context"
	"fmt"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/gerritgate/gerritgate/audit"
	"github.com/gerritgate/gerritgate/gate"
	"github.com/gerritgate/gerritgate/storage"
)

// Reconcile brings one target as far forward as the policy allows.
func (d *Deployer) Reconcile(ctx context.Context, t Target) Result {
	res := newResult(t, d.now())
	err := d.reconcile(ctx, t, &res)
	if err != nil {
		res.Reason = Failed
		res.Message = err.Error()
		switch {
		case res.To == res.From:
		case res.From == "":
			res.Message = fmt.Sprintf("created deploy/%s at %s, then failed: %v", t.Env, shortSHA(res.To), err)
		default:
			// Earlier windows moved the ref (res.To is where it is now):
			// that is deployed, and says so.
			res.Message = fmt.Sprintf("advanced deploy/%s from %s to %s, then failed: %v", t.Env, shortSHA(res.From), shortSHA(res.To), err)
		}
	}
	log := d.logger.With("project", t.Project, "branch", t.Branch, "env", t.Env, "reason", res.Reason)
	switch {
	case res.Reason == Advanced || res.Reason == Initialized || res.To != res.From:
		log.Info(res.Message, "from", res.From, "to", res.To)
	default: // Failed and Diverged too: the caller logs them once, on entering (poll.Poller)
		log.Debug(res.Message)
	}
	d.announce(t, res)
	return res
}

func (d *Deployer) reconcile(ctx context.Context, t Target, res *Result) error {
	st, err := d.load(t, true)
	if err != nil {
		return err
	}
	res.From, res.To = hex(st.tip), hex(st.tip)
	if st.head.IsZero() {
		res.Reason, res.Message = NoUpstream, fmt.Sprintf("upstream branch %s does not exist (yet)", t.Branch)
		return nil
	}
	res.Head = st.head.String()
	if h, err := operatorHold(st.served, t); err != nil || h != nil {
		if h != nil {
			h.apply(t, res)
			res.Debt, err = shownDebt(st.served, t, res.Time)
		}
		return err
	}
	if owes, err := d.owing(ctx, t, st, res, true); err != nil || owes {
		return err
	}
	if st.tip.IsZero() && t.Baseline != gate.BaselineUpstream {
		return d.initialize(ctx, t, st.up, st.served, st.head, res)
	}
	if st.tip.IsZero() {
		// A branch the gate has never deployed is decided from its root
		// like any pending range: nothing is adopted unchecked.
		if err := notStartedBefore(t, st.served); err != nil {
			return err
		}
	}
	if st.tip == st.head {
		res.Reason, res.Message = UpToDate, "deployed commit is the upstream head"
		return nil
	}

	end, h, err := d.rules(t, st, st.tip, res.Time)
	if err != nil {
		return err
	}
	if h != nil {
		h.apply(t, res)
		return nil
	}

	// Decide and advance window by window: a range longer than maxRange
	// is walked in bounded steps through its approved prefix, up to end
	// (the head, or what the environment this one comes after allows).
	tip := st.tip
	for {
		dec, rng, window, diverged, err := d.decide(ctx, t, st.up, tip, end)
		if err != nil {
			return err
		}
		if diverged {
			res.Reason, res.Message = Diverged, divergedMessage(t, st.head, tip)
			return nil
		}
		res.Decision = dec
		if dec.Target == hex(tip) {
			break
		}
		// Gerrit is asked again right before the move (recheck.go).
		if dec, rng, err = d.recheck(ctx, t, rng, dec); err != nil {
			return err
		}
		res.Decision = dec
		if dec.Target == hex(tip) {
			break
		}
		target := plumbing.NewHash(dec.Target)
		rec, err := advanceRecord(t, rng, tip, target)
		if err != nil {
			return err
		}
		rec.Time = res.Time
		also, err := d.record(t, st.served, rec)
		if err != nil {
			return err
		}
		if tip.IsZero() {
			also = append(also, storage.RefUpdate{Name: t.BaselineRef(), New: target})
		}
		moved, err := d.advance(ctx, t, st.up, st.served, tip, target, also...)
		if moved {
			res.To = target.String()
		}
		if err != nil {
			return err
		}
		tip = target
		res.To = tip.String()
		if target != window || window == end {
			break
		}
	}
	from := plumbing.NewHash(res.From)
	switch {
	case res.From == "" && tip.IsZero():
		res.Reason = AwaitingBaseline
		res.Message = fmt.Sprintf("deploy/%s does not exist yet: the history of %s is not approved from its root (%s); an operator can name a commit to start from with gerritgate adopt", t.Env, t.Branch, res.Decision.Why())
		return nil
	case tip == from:
		res.Reason, res.Message = NotApproved, res.Decision.Why()
		return nil
	case res.From == "":
		res.Reason = Initialized
		res.Message = fmt.Sprintf("created deploy/%s at %s: every commit from the root of %s up to it is approved", t.Env, short(tip), t.Branch)
	default:
		res.Reason = Advanced
		res.Message = fmt.Sprintf("advanced deploy/%s from %s to %s", t.Env, short(from), short(tip))
	}
	if res.Decision.BlockedAt != "" {
		res.Message += "; stopped before " + res.Decision.Why()
	} else if end != st.head && tip == end {
		res.Message += "; " + cappedWhy(t, end)
	}
	return nil
}

func (d *Deployer) initialize(ctx context.Context, t Target, up, served *storage.Repo, head plumbing.Hash, res *Result) error {
	if err := notStartedBefore(t, served); err != nil {
		return err
	}
	start := head
	if t.Baseline != gate.BaselineUpstream {
		start = plumbing.NewHash(t.Baseline)
		if _, err := up.Commit(start); err != nil {
			return fmt.Errorf("baseline %s: not a commit of %s: %w", t.Baseline, t.Project, err)
		}
		if _, err := up.Commit(head); err != nil {
			return err
		}
		ok, err := up.IsAncestor(start, head)
		if err != nil {
			return fmt.Errorf("baseline %s: reading the history of %s: %w", short(start), t.Branch, err)
		}
		if !ok {
			return fmt.Errorf("baseline %s is not on upstream branch %s", short(start), t.Branch)
		}
	}
	also, err := d.record(t, served, &audit.Record{Kind: audit.Baseline, To: start.String(), Time: res.Time})
	if err != nil {
		return err
	}
	also = append(also, storage.RefUpdate{Name: t.BaselineRef(), New: start})
	moved, err := d.advance(ctx, t, up, served, plumbing.ZeroHash, start, also...)
	if moved {
		res.To = start.String()
	}
	if err != nil {
		return err
	}
	res.Reason = Initialized
	res.Message = fmt.Sprintf("created deploy/%s at baseline %s (%s)", t.Env, short(start), t.Baseline)
	return nil
}

// notStartedBefore refuses to create deploy/<env> when its baseline ref
// says it existed: it went missing (deleted by hand, say after a
// Diverged), and starting it again at a new baseline would skip the gate.
func notStartedBefore(t Target, served *storage.Repo) error {
	was, err := served.Ref(t.BaselineRef())
	if err != nil {
		return err
	}
	if !was.IsZero() {
		return fmt.Errorf("deploy/%s is missing but was created before (baseline %s): refusing to start it again at a new baseline, which would skip the gate; restore the ref, or delete %s from the served repository to start over", t.Env, short(was), t.BaselineRef())
	}
	return nil
}

// divergedMessage says why a Diverged target does not move, the same for
// Reconcile and Explain.
func divergedMessage(t Target, head, tip plumbing.Hash) string {
	return fmt.Sprintf("upstream %s at %s no longer contains the deployed commit %s: history was rewritten; nothing is deployed until an operator decides", t.Branch, short(head), short(tip))
}
