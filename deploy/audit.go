package deploy

import (
	"fmt"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/gerritgate/gerritgate/audit"
	"github.com/gerritgate/gerritgate/gate"
	"github.com/gerritgate/gerritgate/storage"
)

// WithSigner signs audit records and the per-environment tag with s.
// Without it records are written unsigned (gerritgate verify reports them)
// and no tag is written.
func WithSigner(s *audit.Signer) Option { return func(d *Deployer) { d.signer = s } }

// WithVersion is the service version written into audit records.
func WithVersion(v string) Option { return func(d *Deployer) { d.version = v } }

// record writes the audit commit of one movement of deploy/<env> (and,
// when signing, the tag at rec.To) into served, and returns the ref
// updates that publish them: the caller moves them in the same
// transaction as the deploy ref, so after a crash both moved or neither.
func (d *Deployer) record(t Target, served *storage.Repo, rec *audit.Record) ([]storage.RefUpdate, error) {
	rec.Schema, rec.Project, rec.Branch, rec.Environment, rec.Service = audit.Schema, t.Project, t.Branch, t.Env, d.version
	rec.Policy = audit.PolicyOf(t.Policy)
	rec.Policy.Source = t.PolicySource
	prev, err := served.Ref(audit.Ref(t.Env))
	if err != nil {
		return nil, err
	}
	c, err := audit.Write(served.Objects(), rec, prev, d.signer)
	if err != nil {
		return nil, fmt.Errorf("audit record: %w", err)
	}
	// The objects reach the disk before any ref names them (served.Sync):
	// the ref transaction fsyncs refs only.
	updates := []storage.RefUpdate{{Name: audit.Ref(t.Env), Old: prev, New: c}}
	if d.signer == nil {
		return updates, served.Sync()
	}
	oldTag, err := served.Ref(audit.TagRef(t.Env))
	if err != nil {
		return nil, err
	}
	tag, err := audit.WriteTag(served.Objects(), rec, d.signer)
	if err != nil {
		return nil, fmt.Errorf("audit tag: %w", err)
	}
	return append(updates, storage.RefUpdate{Name: audit.TagRef(t.Env), Old: oldTag, New: tag}), served.Sync()
}

// advanceRecord is the audit record of moving from base to target on the
// decision over rng: the evidence is the part of rng that enters. The
// decision is taken again on exactly that evidence, and a disagreement
// stops the advance: the record must be able to justify the move alone.
func advanceRecord(t Target, rng gate.Range, base, target plumbing.Hash) (*audit.Record, error) {
	ev, err := audit.Canonical(audit.Entering(rng, target.String()))
	if err != nil {
		return nil, fmt.Errorf("audit evidence: %w", err)
	}
	ev.Base = hex(base)
	dec := gate.Evaluate(t.Policy, ev)
	if dec.Target != target.String() {
		return nil, fmt.Errorf("the decision on the %d commits entering deploy/%s does not reproduce (%s): not advancing", len(ev.Commits), t.Env, dec.Why())
	}
	return &audit.Record{
		Kind: audit.Advance, From: hex(base), To: target.String(),
		Evidence: &ev, Decision: &dec, Commits: audit.Summarize(&ev, &dec),
	}, nil
}
