package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/gerritgate/gerritgate/deploy"
	"github.com/gerritgate/gerritgate/gate"
	"github.com/gerritgate/gerritgate/poll"
	"github.com/gerritgate/gerritgate/status"
	"github.com/gerritgate/gerritgate/storage"
)

// maxPolicyBytes bounds the policy file read from a commit.
const maxPolicyBytes = 1 << 20

// maxPolicyWalk bounds how many commits below deploy/gerritgate-policy
// are tried for one that parses when none is in force yet.
const maxPolicyWalk = 1000

// policyReconciler decides and moves deploy/gerritgate-policy
// (*deploy.Deployer).
type policyReconciler interface {
	Reconcile(ctx context.Context, t deploy.Target) deploy.Result
}

// reviewedPolicy keeps a policy reviewed in Gerrit in force. Its branch
// is mirrored like any project and gated by the policyPolicy into
// deploy/gerritgate-policy of the policy project's served repository,
// with the same Deployer (evidence from Gerrit, gate.Evaluate, recheck,
// audit records): that ref is the newest commit approved. The policy in
// force is the file at the newest first-parent commit of that ref, at or
// after the one in force, that parses: an approved commit whose file does
// not parse changes nothing. The ref never moves back, so neither does
// the policy, and a restart finds it again without asking Gerrit.
// Methods run under the poller's lock (poll.Config.Refresh), or before
// the poller starts.
type reviewedPolicy struct {
	src     PolicyInGerrit
	rules   *gate.Policy
	store   *storage.Store
	fetch   func(ctx context.Context, project string) error
	deploy  policyReconciler
	timeout time.Duration // bound on the policy project's fetch
	logger  *slog.Logger
	metrics *metrics
	board   *status.Board

	inForce  *gate.Config  // nil: none yet
	commit   plumbing.Hash // inForce's commit
	reported string        // the state last logged, so each is logged once
	state    status.Policy
}

func newReviewedPolicy(cfg *Config, store *storage.Store, logger *slog.Logger, m *metrics, board *status.Board) *reviewedPolicy {
	src := *cfg.PolicyReviewed
	return &reviewedPolicy{
		src: src, rules: cfg.PolicyPolicy.Rules(), store: store, timeout: cfg.Gerrit.fetchTimeout,
		logger:  logger.With("policyProject", src.Project, "policyBranch", src.Branch, "policyPath", src.Path),
		metrics: m, board: board,
		state: status.Policy{Project: src.Project, Branch: src.Branch, Path: src.Path},
	}
}

// target is the policy branch gated by the policyPolicy.
func (r *reviewedPolicy) target() deploy.Target {
	return deploy.Target{
		Project: r.src.Project, Branch: r.src.Branch, Env: policyEnv,
		Policy: r.rules, Baseline: gate.BaselineUpstream,
	}
}

// Refresh fetches the policy project, lets the policyPolicy decide its
// new commits, and returns the policy in force (nil: none yet).
func (r *reviewedPolicy) Refresh(ctx context.Context) *gate.Config {
	var waiting []status.PolicyWaiting
	fctx, cancel := context.WithTimeout(ctx, r.timeout)
	err := r.fetch(fctx, r.src.Project)
	cancel()
	if err != nil {
		waiting = append(waiting, status.PolicyWaiting{Why: "unapproved", Message: "cannot fetch the policy project from Gerrit: " + err.Error()})
	} else {
		res := r.deploy.Reconcile(ctx, r.target())
		switch res.Reason {
		case deploy.UpToDate, deploy.Advanced, deploy.Initialized:
		default:
			waiting = append(waiting, status.PolicyWaiting{Commit: res.Head, Why: "unapproved", Message: string(res.Reason) + ": " + res.Message})
		}
	}
	waiting = append(waiting, r.load()...)
	r.publish(waiting)
	return r.inForce
}

// load reads deploy/gerritgate-policy and puts in force the newest
// commit on its first-parent line, newer than the one in force, whose
// file parses. It returns the newer commits refused, newest first (the
// ref's own commit, when it does not parse).
func (r *reviewedPolicy) load() []status.PolicyWaiting {
	served, err := r.store.ExistingServed(r.src.Project)
	if err != nil {
		return nil // nothing approved yet
	}
	tip, err := served.Ref("refs/heads/deploy/" + policyEnv)
	if err != nil || tip.IsZero() || tip == r.commit {
		if err != nil {
			r.logger.Error("cannot read the approved policy commit", "err", err)
		}
		return nil
	}
	var refused []status.PolicyWaiting
	var found *gate.Config
	var at plumbing.Hash
	n := 0
	werr := served.WalkFirstParents(tip, func(c storage.Commit) bool {
		if c.Hash == r.commit || n >= maxPolicyWalk {
			return false
		}
		n++
		pc, err := r.parse(served, c.Hash)
		if err != nil {
			if len(refused) == 0 {
				refused = append(refused, status.PolicyWaiting{Commit: c.Hash.String(), Why: "unparsable", Message: err.Error()})
			}
			return true
		}
		found, at = pc, c.Hash
		return false
	})
	if werr != nil {
		r.logger.Error("cannot read the approved policy commits", "err", werr)
	}
	if found == nil {
		return refused
	}
	if !r.commit.IsZero() {
		// Never back: the new commit must descend from the one in force.
		if ok, err := served.IsAncestor(r.commit, at); err != nil || !ok {
			return refused
		}
	}
	subject := ""
	if c, err := served.Commit(at); err == nil {
		subject, _, _ = strings.Cut(c.Message, "\n")
	}
	was := r.commit
	r.inForce, r.commit = found, at
	r.state.Commit, r.state.Subject, r.state.Since, r.state.Reason = at.String(), subject, time.Now().UTC(), ""
	r.logger.Info("policy commit in force", "commit", at.String(), "subject", subject, "was", hexOrNone(was))
	r.metrics.reloads.WithLabelValues("policy", "ok").Inc()
	return refused
}

// parse reads and parses the policy file at commit h. A policy that
// gates the policy project into deploy/gerritgate-policy is refused: the
// gate keeps that ref for the policy itself.
func (r *reviewedPolicy) parse(repo *storage.Repo, h plumbing.Hash) (*gate.Config, error) {
	data, err := repo.ReadFile(h, r.src.Path, maxPolicyBytes)
	if err != nil {
		return nil, err
	}
	pc, err := gate.ParsePolicy(r.src.Path+"@"+h.String()[:12], data)
	if err != nil {
		return nil, err
	}
	if _, err := poll.FindTarget(pc, r.src.Project, policyEnv); err == nil {
		return nil, fmt.Errorf("%s@%s: gates %s into deploy/%s, which the gate keeps for its reviewed policy", r.src.Path, h.String()[:12], r.src.Project, policyEnv)
	}
	pc.Source = &gate.Source{Project: r.src.Project, Branch: r.src.Branch, Path: r.src.Path, Commit: h.String()}
	return pc, nil
}

// publish shows the state on the status board, in the metrics and, once
// per change, in the log.
func (r *reviewedPolicy) publish(waiting []status.PolicyWaiting) {
	r.state.Waiting = waiting
	if r.inForce == nil {
		r.state.Reason = "no commit of " + r.src.Branch + " approved by the policyPolicy has a policy file that parses"
		if len(waiting) > 0 {
			r.state.Reason += " (" + waiting[0].Why + ": " + waiting[0].Message + ")"
		}
	}
	r.board.SetPolicy(r.state)
	r.metrics.policyInForce(r.state)
	var msg []string
	for _, w := range waiting {
		msg = append(msg, w.Commit+" "+w.Why+": "+w.Message)
	}
	now := r.state.Commit + "|" + strings.Join(msg, "|")
	if now == r.reported {
		return
	}
	r.reported = now
	switch {
	case r.inForce == nil:
		r.logger.Error("no reviewed policy in force: nothing advances", "reason", r.state.Reason)
	case len(waiting) > 0:
		for _, w := range waiting {
			if w.Why == "unparsable" {
				r.metrics.reloads.WithLabelValues("policy", "error").Inc()
			}
			r.logger.Warn("newer policy commit not used; keeping the one in force", "inForce", r.state.Commit, "waiting", w.Commit, "why", w.Why, "message", w.Message)
		}
	}
}

func hexOrNone(h plumbing.Hash) string {
	if h.IsZero() {
		return "none"
	}
	return h.String()
}

// loadPolicyInForce is the policy a command beside the service decides
// with: the local file, or the reviewed policy's commit in force as the
// service's data directory holds it (deploy/gerritgate-policy).
func loadPolicyInForce(cfg *Config) (*gate.Config, error) {
	if cfg.PolicyReviewed == nil {
		return gate.LoadPolicy(cfg.Policy)
	}
	store, err := storage.OpenReadOnly(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	defer store.Close()
	r := newReviewedPolicy(cfg, store, slog.New(slog.DiscardHandler), newMetrics(), status.NewBoard())
	refused := r.load()
	if r.inForce == nil {
		why := ""
		if len(refused) > 0 {
			why = ": " + refused[0].Message
		}
		return nil, fmt.Errorf("no commit of %s %s approved by the policyPolicy has a policy file that parses yet%s", r.src.Project, r.src.Branch, why)
	}
	return r.inForce, nil
}

// policyName names the policy in force for people.
func policyName(cfg *Config) string {
	if cfg.PolicyReviewed == nil {
		return cfg.Policy
	}
	return "the policy in force (" + cfg.PolicyReviewed.Path + " in " + cfg.PolicyReviewed.Project + " " + cfg.PolicyReviewed.Branch + ")"
}
