package deploy

import (
	"fmt"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/gerritgate/gerritgate/gate"
)

// hold is why an environment's rules keep it where it is, and until when
// (zero: no known end).
type hold struct {
	why   string
	until time.Time
	ends  string // with no until: what ends it
}

// message is the hold for people, with its end in the environment's
// timezone.
func (h *hold) message(t Target) string {
	if h.until.IsZero() && h.ends != "" {
		return h.why + "; " + h.ends
	}
	if h.until.IsZero() {
		return h.why + "; no end is known"
	}
	loc := t.Schedule.Location
	if loc == nil {
		loc = time.UTC
	}
	return h.why + "; until " + h.until.In(loc).Format(time.RFC3339)
}

// apply makes res the Held result of h.
func (h *hold) apply(t Target, res *Result) {
	res.Reason, res.Message, res.Until = Held, h.message(t), h.until.UTC()
}

// rules applies t's rules of time and order at now to a move of
// deploy/<env> from tip toward head: it returns how far the move may go
// (head when nothing caps it, else the newest commit deploy/<After> has
// contained for Soak), or a hold when it may not move at all. Missing or
// unreadable data holds or fails; it never lets a move through.
func (d *Deployer) rules(t Target, st state, tip plumbing.Hash, now time.Time) (plumbing.Hash, *hold, error) {
	if h := t.Schedule.HeldAt(now); h.Held {
		return plumbing.ZeroHash, &hold{why: h.Why, until: h.Until}, nil
	}
	if t.After == "" {
		return st.head, nil, nil
	}
	var history []gate.Contained
	if st.served != nil {
		var err error
		if history, err = d.contained(t.Project, st.served, t.After); err != nil {
			return plumbing.ZeroHash, nil, fmt.Errorf("after %s: %w", t.After, err)
		}
	}
	s := gate.Soaked(history, t.Soak, now)
	waiting := func(why string) *hold {
		if s.Waiting == "" {
			return &hold{why: why}
		}
		return &hold{why: fmt.Sprintf("%s; %.12s soaks on deploy/%s", why, s.Waiting, t.After), until: s.Ready}
	}
	if s.Target == "" {
		if len(history) == 0 {
			return plumbing.ZeroHash, &hold{why: fmt.Sprintf("comes after %s, and deploy/%s does not exist yet", t.After, t.After)}, nil
		}
		return plumbing.ZeroHash, waiting(fmt.Sprintf("comes after %s, and deploy/%s has held no commit for %s yet", t.After, t.After, t.Soak)), nil
	}
	limit := plumbing.NewHash(s.Target)
	if limit == st.head {
		return limit, nil, nil
	}
	onBranch, err := st.up.IsAncestor(limit, st.head)
	if err != nil {
		return plumbing.ZeroHash, nil, fmt.Errorf("after %s: reading the history of %s: %w", t.After, t.Branch, err)
	}
	if !onBranch {
		return plumbing.ZeroHash, &hold{why: fmt.Sprintf("the newest commit deploy/%s has held for %s, %s, is not on branch %s", t.After, t.Soak, short(limit), t.Branch)}, nil
	}
	if tip.IsZero() {
		return limit, nil, nil
	}
	if limit == tip {
		return plumbing.ZeroHash, waiting(fmt.Sprintf("deploy/%s is at %s, the newest commit deploy/%s has held for %s", t.Env, short(tip), t.After, t.Soak)), nil
	}
	ahead, err := st.up.IsAncestor(tip, limit)
	if err != nil {
		return plumbing.ZeroHash, nil, fmt.Errorf("after %s: reading the history of %s: %w", t.After, t.Branch, err)
	}
	if !ahead {
		return plumbing.ZeroHash, waiting(fmt.Sprintf("the newest commit deploy/%s has held for %s, %s, does not descend from deploy/%s at %s", t.After, t.Soak, short(limit), t.Env, short(tip))), nil
	}
	return limit, nil, nil
}

// cappedWhy says why a move stopped at limit short of head.
func cappedWhy(t Target, limit plumbing.Hash) string {
	return fmt.Sprintf("later commits wait until deploy/%s has held them for %s (newest held that long: %s)", t.After, t.Soak, short(limit))
}
