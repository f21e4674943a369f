package deploy

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/gerritgate/gerritgate/audit"
	"github.com/gerritgate/gerritgate/storage"
)

// Operator actions a request (Adoption.Action) can ask for.
const (
	ActionAdopt   = "adopt" // also "": requests written before holds existed
	ActionHold    = "hold"
	ActionRelease = "release"
)

// HoldRef names, in the served repository, the audit commit of the last
// hold or release of deploy/<Env>: the environment is held while it is a
// hold. Storage never deletes refs, so a release moves it to its own
// record rather than removing it. Hidden from clients.
func (t Target) HoldRef() string { return "refs/gerritgate/hold/" + t.Env }

// Verb is the request's action for messages: adopt, hold or release.
func (a Adoption) Verb() string {
	if a.Action == "" {
		return ActionAdopt
	}
	return a.Action
}

// Operate applies one operator request: an adoption, a hold or a release
// (a.Action).
func (d *Deployer) Operate(ctx context.Context, t Target, a Adoption) Result {
	switch a.Action {
	case "", ActionAdopt:
		return d.Adopt(ctx, t, a)
	case ActionHold, ActionRelease:
		return d.Pin(ctx, t, a)
	case ActionOverride, ActionRewind:
		return d.BreakGlass(ctx, t, a)
	}
	res := newResult(t, d.now())
	res.Reason, res.Message = Failed, fmt.Sprintf("unknown operator action %q", a.Action)
	return res
}

// Pin holds deploy/<Env> at its commit (a.Action hold) or releases it
// (release), because an operator asked: a hold is recorded on the audit
// trail (kind hold, from equal to to) and under HoldRef in one
// transaction that also checks deploy/<Env> did not move, so it survives
// restarts; while held the environment moves on its own no further and
// reports Held with the operator's reason.
func (d *Deployer) Pin(ctx context.Context, t Target, a Adoption) Result {
	res := newResult(t, d.now())
	if err := d.pin(t, a, &res); err != nil {
		res.Reason, res.Message, res.To = Failed, a.Action+": "+err.Error(), res.From
		d.logger.Warn(res.Message, "project", t.Project, "env", t.Env, "by", a.By)
		return res
	}
	d.logger.Warn("operator "+a.Action, "project", t.Project, "env", t.Env, "at", res.To, "by", a.By, "reason", a.Reason)
	return res
}

func (d *Deployer) pin(t Target, a Adoption, res *Result) error {
	if strings.TrimSpace(a.Reason) == "" || strings.TrimSpace(a.By) == "" {
		return errors.New("needs a reason and who asked")
	}
	served, err := d.store.Served(t.Project)
	if err != nil {
		return err
	}
	tip, err := served.Ref(t.Ref())
	if err != nil {
		return err
	}
	res.From, res.To = hex(tip), hex(tip)
	if tip.IsZero() {
		return fmt.Errorf("deploy/%s does not exist: there is nothing to hold", t.Env)
	}
	prev, held, err := heldBy(served, t)
	if err != nil {
		return err
	}
	hold := a.Action == ActionHold
	switch {
	case hold && held != nil:
		return fmt.Errorf("deploy/%s is held already, %s", t.Env, heldSince(held))
	case !hold && held == nil:
		return fmt.Errorf("deploy/%s is not held", t.Env)
	}
	kind := audit.Release
	if hold {
		kind = audit.Hold
	}
	trail, err := d.record(t, served, &audit.Record{Kind: kind, From: tip.String(), To: tip.String(), Time: res.Time,
		Operator: a.operator()})
	if err != nil {
		return err
	}
	// trail[0] is the audit commit; deploy/<env> is checked, not moved.
	updates := append(trail, storage.RefUpdate{Name: t.HoldRef(), Old: prev, New: trail[0].New},
		storage.RefUpdate{Name: t.Ref(), Old: tip, New: tip})
	if err := served.UpdateRefs(updates...); err != nil {
		return err
	}
	if hold {
		res.Reason, res.Message = Held, fmt.Sprintf("an operator (%s) pinned deploy/%s at %s: %s; until gerritgate release", a.By, t.Env, short(tip), oneLine(a.Reason))
	} else {
		res.Reason, res.Message = UpToDate, fmt.Sprintf("an operator (%s) released deploy/%s at %s: %s; it moves again at the next poll", a.By, t.Env, short(tip), oneLine(a.Reason))
	}
	return nil
}

// heldBy returns HoldRef's value and, while the environment is held, the
// hold's record; a ref naming something that is not a hold or release
// record of this environment is an error (nothing moves), never "not
// held".
func heldBy(served *storage.Repo, t Target) (plumbing.Hash, *audit.Record, error) {
	h, rec, err := recordAt(served, t.HoldRef())
	if err != nil || rec == nil {
		return h, nil, err
	}
	if rec.Environment != t.Env || rec.Operator == nil || (rec.Kind != audit.Hold && rec.Kind != audit.Release) {
		return h, nil, fmt.Errorf("%s names a %s record of environment %q, not a hold or release of %q", t.HoldRef(), rec.Kind, rec.Environment, t.Env)
	}
	if rec.Kind == audit.Release {
		return h, nil, nil
	}
	return h, rec, nil
}

// recordAt reads the audit record the hidden ref names (HoldRef,
// DebtRef); nil when the ref does not exist.
func recordAt(served *storage.Repo, ref string) (plumbing.Hash, *audit.Record, error) {
	h, err := served.Ref(ref)
	if err != nil || h.IsZero() {
		return h, nil, err
	}
	c, err := object.GetCommit(served.Objects(), h)
	if err != nil {
		return h, nil, fmt.Errorf("%s: %w", ref, err)
	}
	rec, err := audit.ReadRecord(c)
	if err != nil {
		return h, nil, fmt.Errorf("%s: %w", ref, err)
	}
	return h, rec, nil
}

// heldSince describes a hold for people.
func heldSince(rec *audit.Record) string {
	return fmt.Sprintf("by %s since %s: %s", oneLine(rec.Operator.By), rec.Time.UTC().Format(time.RFC3339), oneLine(rec.Operator.Reason))
}

// operatorHold is the hold an operator put on t, nil when none.
func operatorHold(served *storage.Repo, t Target) (*hold, error) {
	if served == nil {
		return nil, nil
	}
	_, rec, err := heldBy(served, t)
	if err != nil || rec == nil {
		return nil, err
	}
	return &hold{why: "pinned at " + shortSHA(rec.To) + " by an operator, " + heldSince(rec), ends: "until gerritgate release"}, nil
}

func shortSHA(s string) string { return s[:min(12, len(s))] }
