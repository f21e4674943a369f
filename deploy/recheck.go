package deploy

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/gerritgate/gerritgate/audit"
	"github.com/gerritgate/gerritgate/gate"
)

// RuleRecheck names the rule recheck adds to the verdict that stopped an
// advance because Gerrit's answer changed between the decision and the
// move: what the rules that fail now said a moment before.
const RuleRecheck = "recheck"

// recheck asks Gerrit again, right before deploy/<env> moves from base to
// dec.Target, about the commits that would enter: their changes (votes,
// messages, and any other change that holds one of them) and, when the
// policy has owners, the members of its groups; then it decides rng again
// with those answers. A vote withdrawn, a veto cast or a member removed
// since dec was taken stops the advance there.
//
// It returns the decision to act on and the range it was taken on (the
// evidence of the audit record): dec when nothing changed, else the fresh
// decision, whose target may be an earlier commit (or base: nothing
// moves), with a RuleRecheck rule on the commit that now stops it. An
// error means Gerrit could not be asked: nothing moves.
//
// It runs before any object is copied into the served repository, which
// must never hold objects of a commit that is not approved (upload-pack
// serves any object it has); the move itself is the object copy, the
// audit record and the ref's compare-and-swap after it.
//
// Only the entering commits are asked about: ChangesForCommits in its
// batches, plus one group query per policy group under owners.
func (d *Deployer) recheck(ctx context.Context, t Target, rng gate.Range, dec *gate.Decision) (*gate.Decision, gate.Range, error) {
	entering := audit.Entering(rng, dec.Target)
	shas := make([]string, len(entering.Commits))
	for i, c := range entering.Commits {
		shas[i] = c.SHA
	}
	changes, err := d.approvals.ChangesForCommits(ctx, t.Project, t.Branch, shas)
	if err != nil {
		return nil, rng, fmt.Errorf("ask Gerrit again about the %d commits entering deploy/%s, right before moving it: %w", len(shas), t.Env, err)
	}
	fresh := rng
	fresh.Changes = make(map[string][]gate.Change, len(rng.Changes))
	for sha, cs := range rng.Changes {
		fresh.Changes[sha] = cs
	}
	for _, sha := range shas {
		delete(fresh.Changes, sha) // a change Gerrit no longer reports is gone
		if cs, ok := changes[sha]; ok {
			fresh.Changes[sha] = cs
		}
	}
	if len(t.Policy.Owners) > 0 {
		fresh.Groups, fresh.GroupErrors = d.groups(ctx, t)
	}
	now := gate.Evaluate(t.Policy, fresh)
	if now.Target == dec.Target {
		return &now, fresh, nil
	}
	if now.Target != rng.Base && !slices.ContainsFunc(entering.Commits, func(c gate.Commit) bool { return c.SHA == now.Target }) {
		return nil, rng, fmt.Errorf("asked again right before moving deploy/%s, Gerrit's answers move it to %s, outside the %d commits decided: not advancing", t.Env, now.Target, len(shas))
	}
	markChanged(&now, dec)
	// Logged here: the next reconcile decides on the new answer from the
	// start and no longer says what it was before.
	d.logger.Info("Gerrit's answer changed between the decision and the move; the advance stops earlier",
		"project", t.Project, "env", t.Env, "decided", dec.Target, "now", now.Target, "why", now.Why())
	return &now, fresh, nil
}

// markChanged adds to the verdict that now stops the advance a failing
// RuleRecheck rule saying what its failing rules said when was decided.
func markChanged(now, was *gate.Decision) {
	for i := range now.Verdicts {
		v := &now.Verdicts[i]
		if v.SHA != now.BlockedAt {
			continue
		}
		before, _ := was.Verdict(v.SHA)
		still := map[gate.Rule]bool{}
		for _, r := range v.Rules {
			still[r] = true
		}
		var said []string
		for _, r := range v.Rules {
			if r.Pass {
				continue
			}
			for _, b := range before.Rules {
				if b.Name == r.Name && b.Pass && !still[b] {
					said = append(said, b.Name+": "+b.Detail)
					break
				}
			}
		}
		detail := "Gerrit's answer changed between the decision and the move: a moment before, this commit was approved"
		if len(said) > 0 {
			detail += " (" + strings.Join(said, "; ") + ")"
		}
		v.Rules = append(v.Rules, gate.Rule{Name: RuleRecheck, Detail: detail})
		v.Approved = false
		return
	}
}
