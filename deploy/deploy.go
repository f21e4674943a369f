package deploy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/gerritgate/gerritgate/audit"
	"github.com/gerritgate/gerritgate/gate"
	"github.com/gerritgate/gerritgate/storage"
)

// Approvals looks up what Gerrit knows: the changes of commits and the
// members of groups. *gerrit.Client satisfies it.
type Approvals interface {
	ChangesForCommits(ctx context.Context, project, branch string, shas []string) (map[string][]gate.Change, error)
	GroupMembers(ctx context.Context, group string, recursive bool) ([]gate.Account, error)
}

// Target is one deploy/<Env> branch fed by an upstream branch.
type Target struct {
	Project  string
	Branch   string
	Env      string
	Policy   *gate.Policy
	Baseline string
	// AcceptFrom are other branches whose merged changes count
	// (gate.Repo.AcceptFrom).
	AcceptFrom []string
}

// Ref is the served ref this target moves.
func (t Target) Ref() string { return "refs/heads/deploy/" + t.Env }

// BaselineRef records, in the served repository, where deploy/<Env> was
// first created. It is written with the deploy ref in one transaction and
// never moved; while it exists, a deploy ref that went missing (deleted by
// hand, say after a Diverged) is not created again at a new baseline,
// which would skip the gate. Clients never see it (hidden from upload-pack).
func (t Target) BaselineRef() string { return "refs/gerritgate/baseline/" + t.Env }

// Reason says, for programs and people alike, what a reconcile did.
type Reason string

// Reasons.
const (
	Advanced    Reason = "Advanced"    // the deploy ref moved forward
	Initialized Reason = "Initialized" // the deploy ref was created at its baseline
	UpToDate    Reason = "UpToDate"    // the deploy ref is at the upstream head
	NotApproved Reason = "NotApproved" // the next commit is not approved
	Diverged    Reason = "Diverged"    // upstream no longer contains the deployed commit
	NoUpstream  Reason = "NoUpstream"  // the upstream branch does not exist
	// AwaitingBaseline: deploy/<env> does not exist and the branch is not
	// approved from its root; it waits for an operator to name a commit.
	AwaitingBaseline Reason = "AwaitingBaseline"
	Adopted          Reason = "Adopted"    // an operator named the commit deploy/<env> moved to
	Failed           Reason = "Failed"     // an error stopped the reconcile; nothing moved
	Deployable       Reason = "Deployable" // explain only: everything up to the head is approved
)

// Result is the outcome of one reconcile.
type Result struct {
	Project  string         `json:"project"`
	Branch   string         `json:"branch"`
	Env      string         `json:"environment"`
	Policy   string         `json:"policy"`
	Reason   Reason         `json:"reason"`
	Message  string         `json:"message"`
	From     string         `json:"from,omitempty"` // deploy ref before
	To       string         `json:"to,omitempty"`   // deploy ref after
	Head     string         `json:"head,omitempty"` // upstream branch head
	Decision *gate.Decision `json:"decision,omitempty"`
	Time     time.Time      `json:"time"`
}

// Deployer reconciles targets.
type Deployer struct {
	store     *storage.Store
	approvals Approvals
	logger    *slog.Logger
	maxRange  int
	signer    *audit.Signer
	version   string

	mu        sync.Mutex
	ancestors map[string]map[plumbing.Hash]bool // project+base -> ancestors of base
}

// Option configures a Deployer.
type Option func(*Deployer)

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(d *Deployer) { d.logger = l } }

// WithMaxRange bounds how many pending commits one reconcile decides
// (default 5000); a longer range is refused, not truncated.
func WithMaxRange(n int) Option { return func(d *Deployer) { d.maxRange = n } }

// New returns a Deployer.
func New(store *storage.Store, approvals Approvals, opts ...Option) *Deployer {
	d := &Deployer{
		store: store, approvals: approvals,
		logger:    slog.New(slog.DiscardHandler),
		maxRange:  5000,
		ancestors: map[string]map[plumbing.Hash]bool{},
	}
	for _, o := range opts {
		o(d)
	}
	return d
}

// Reconcile brings one target as far forward as the policy allows.
func (d *Deployer) Reconcile(ctx context.Context, t Target) Result {
	res := Result{Project: t.Project, Branch: t.Branch, Env: t.Env, Time: time.Now().UTC()}
	if t.Policy != nil {
		res.Policy = t.Policy.Name
	}
	err := d.reconcile(ctx, t, &res)
	if err != nil {
		res.Reason = Failed
		res.Message = err.Error()
		res.To = res.From
	}
	log := d.logger.With("project", t.Project, "branch", t.Branch, "env", t.Env, "reason", res.Reason)
	switch res.Reason {
	case Advanced, Initialized:
		log.Info(res.Message, "from", res.From, "to", res.To)
	case Failed, Diverged:
		log.Warn(res.Message)
	default:
		log.Debug(res.Message)
	}
	return res
}

// state is where a target stands: what both Reconcile and Explain start
// from.
type state struct {
	up, served *storage.Repo // served is nil for Explain before the first deploy
	head, tip  plumbing.Hash
}

// load reads the target's upstream head and deploy tip. With create (the
// service, which owns the data directory) missing repositories are made;
// without (explain, beside a running service) a missing upstream mirror is
// an error and a missing served repository means nothing is deployed yet.
func (d *Deployer) load(t Target, create bool) (state, error) {
	var st state
	if t.Policy == nil {
		return st, errors.New("no policy")
	}
	var err error
	if create {
		if st.up, err = d.store.Upstream(t.Project); err != nil {
			return st, err
		}
		if st.served, err = d.store.Served(t.Project); err != nil {
			return st, err
		}
	} else {
		if st.up, err = d.store.ExistingUpstream(t.Project); err != nil {
			return st, fmt.Errorf("upstream mirror of %s: %w", t.Project, err)
		}
		if st.served, err = d.store.ExistingServed(t.Project); err != nil {
			st.served = nil
		}
	}
	if st.head, err = st.up.Ref("refs/heads/" + t.Branch); err != nil {
		return st, err
	}
	if st.served != nil {
		if st.tip, err = st.served.Ref(t.Ref()); err != nil {
			return st, err
		}
	}
	return st, nil
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
	if st.tip.IsZero() && t.Baseline != gate.BaselineUpstream {
		return d.initialize(ctx, t, st.up, st.served, st.head, res)
	}
	if st.tip.IsZero() {
		// A branch the gate has never deployed is decided from its root
		// like any pending range: nothing is adopted unchecked.
		if was, err := st.served.Ref(t.BaselineRef()); err != nil {
			return err
		} else if !was.IsZero() {
			return fmt.Errorf("deploy/%s is missing but was created before (baseline %s): refusing to start it again at a new baseline, which would skip the gate; restore the ref, or delete %s from the served repository to start over", t.Env, short(was), t.BaselineRef())
		}
	}
	if st.tip == st.head {
		res.Reason, res.Message = UpToDate, "deployed commit is the upstream head"
		return nil
	}

	// Decide and advance window by window: a range longer than maxRange
	// is walked in bounded steps through its approved prefix.
	tip := st.tip
	for {
		dec, rng, window, diverged, err := d.decide(ctx, t, st.up, tip, st.head)
		if err != nil {
			return err
		}
		if diverged {
			res.Reason = Diverged
			res.Message = fmt.Sprintf("upstream %s at %s no longer contains the deployed commit %s: history was rewritten; nothing is deployed until an operator decides", t.Branch, short(st.head), short(tip))
			return nil
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
		if err := d.advance(ctx, t, st.up, st.served, tip, target, also...); err != nil {
			return err
		}
		tip = target
		res.To = tip.String()
		if target != window || window == st.head {
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
	}
	return nil
}

// decide evaluates the commits between base (zero: from the root) and
// head. When more than maxRange commits are pending it decides only a
// window: the commits up to a first-parent ancestor of head (window) that
// brings at most maxRange. diverged is true when head does not descend
// from base.
func (d *Deployer) decide(ctx context.Context, t Target, up *storage.Repo, base, head plumbing.Hash) (dec *gate.Decision, rng gate.Range, window plumbing.Hash, diverged bool, err error) {
	commits, window, reachesBase, err := d.pendingWindow(t.Project, up, base, head)
	if err != nil {
		return nil, rng, window, false, err
	}
	if !base.IsZero() && !reachesBase {
		return nil, rng, window, true, nil
	}
	shas := make([]string, len(commits))
	for i, c := range commits {
		shas[i] = c.SHA
	}
	changes, err := d.approvals.ChangesForCommits(ctx, t.Project, t.Branch, shas)
	if err != nil {
		return nil, rng, window, false, fmt.Errorf("ask Gerrit about %d pending commits: %w", len(shas), err)
	}
	rng = gate.Range{
		Project: t.Project, Branch: t.Branch,
		Base: hex(base), Head: window.String(), AcceptFrom: t.AcceptFrom,
		Commits: commits, Changes: changes,
	}
	if len(t.Policy.Owners) > 0 {
		if rng.Files, err = changedFiles(up, commits); err != nil {
			return nil, rng, window, false, err
		}
		rng.Groups, rng.GroupErrors = d.groups(ctx, t)
	}
	out := gate.Evaluate(t.Policy, rng)
	return &out, rng, window, false, nil
}

// groups resolves the members of every group the policy names. A group
// that cannot be resolved is left out, which fails the owner rules that
// need it (with the reason in their evidence), never passes them.
func (d *Deployer) groups(ctx context.Context, t Target) (map[string][]gate.Account, map[string]string) {
	out, why := map[string][]gate.Account{}, map[string]string{}
	for _, name := range t.Policy.GroupNames() {
		members, err := d.approvals.GroupMembers(ctx, name, true)
		if err != nil {
			d.logger.Warn("cannot resolve group; owner rules needing it fail", "group", name, "project", t.Project, "err", err)
			why[name] = err.Error()
			continue
		}
		out[name] = members
	}
	return out, why
}

// changedFiles lists, for each commit, the paths it changes against its
// first parent (all paths for a root commit); both sides of a rename.
func changedFiles(up *storage.Repo, commits []gate.Commit) (map[string][]string, error) {
	out := make(map[string][]string, len(commits))
	for _, gc := range commits {
		files, err := audit.ChangedFiles(up.Git.Storer, plumbing.NewHash(gc.SHA))
		if err != nil {
			return nil, err
		}
		out[gc.SHA] = files
	}
	return out, nil
}

// Explain decides without moving anything, for people asking why: the
// commits pending for deploy/<env> (last == 0; from the branch's root when
// nothing is deployed yet), or the last commits on the upstream branch's
// first-parent line (last > 0), for previewing a policy edit against
// history that is already deployed.
func (d *Deployer) Explain(ctx context.Context, t Target, last int) (Result, error) {
	res := Result{Project: t.Project, Branch: t.Branch, Env: t.Env, Time: time.Now().UTC()}
	if t.Policy != nil {
		res.Policy = t.Policy.Name
	}
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
	if base == st.head {
		res.Reason, res.Message = UpToDate, "deployed commit is the upstream head"
		return res, nil
	}
	dec, _, window, diverged, err := d.decide(ctx, t, st.up, base, st.head)
	if err != nil {
		return res, err
	}
	if diverged {
		res.Reason, res.Message = Diverged, fmt.Sprintf("upstream %s no longer contains the deployed commit %s", t.Branch, short(st.tip))
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
	return res, nil
}

func (d *Deployer) initialize(ctx context.Context, t Target, up, served *storage.Repo, head plumbing.Hash, res *Result) error {
	if was, err := served.Ref(t.BaselineRef()); err != nil {
		return err
	} else if !was.IsZero() {
		return fmt.Errorf("deploy/%s is missing but was created before (baseline %s): refusing to start it again at a new baseline, which would skip the gate; restore the ref, or delete %s from the served repository to start over", t.Env, short(was), t.BaselineRef())
	}
	start := head
	if t.Baseline != gate.BaselineUpstream {
		start = plumbing.NewHash(t.Baseline)
		c, err := object.GetCommit(up.Git.Storer, start)
		if err != nil {
			return fmt.Errorf("baseline %s: not a commit of %s: %w", t.Baseline, t.Project, err)
		}
		hc, err := object.GetCommit(up.Git.Storer, head)
		if err != nil {
			return err
		}
		if ok, err := c.IsAncestor(hc); err != nil || !ok {
			return fmt.Errorf("baseline %s is not on upstream branch %s", short(start), t.Branch)
		}
	}
	also, err := d.record(t, served, &audit.Record{Kind: audit.Baseline, To: start.String(), Time: res.Time})
	if err != nil {
		return err
	}
	also = append(also, storage.RefUpdate{Name: t.BaselineRef(), New: start})
	if err := d.advance(ctx, t, up, served, plumbing.ZeroHash, start, also...); err != nil {
		return err
	}
	res.Reason, res.To = Initialized, start.String()
	res.Message = fmt.Sprintf("created deploy/%s at baseline %s (%s)", t.Env, short(start), t.Baseline)
	return nil
}

// advance copies the objects of target into the served repository and
// moves the deploy ref from old to target by compare-and-swap, in one
// transaction with any other updates given.
func (d *Deployer) advance(ctx context.Context, t Target, up, served *storage.Repo, old, target plumbing.Hash, also ...storage.RefUpdate) error {
	if err := storage.CopyObjects(ctx, served, up, target); err != nil {
		return fmt.Errorf("copy objects: %w", err)
	}
	updates := append([]storage.RefUpdate{{Name: t.Ref(), Old: old, New: target}}, also...)
	if err := served.UpdateRefs(updates...); err != nil {
		return err
	}
	headRef, err := served.Head()
	if err != nil {
		return err
	}
	if h, _ := served.Ref(headRef); h.IsZero() {
		return served.SetHead(t.Ref())
	}
	return nil
}

func subject(msg string) string {
	s, _, _ := strings.Cut(msg, "\n")
	return s
}

func hex(h plumbing.Hash) string {
	if h.IsZero() {
		return ""
	}
	return h.String()
}

func short(h plumbing.Hash) string { return h.String()[:12] }
