package deploy

import (
	"log/slog"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/gerritgate/gerritgate/audit"
	"github.com/gerritgate/gerritgate/gate"
	"github.com/gerritgate/gerritgate/storage"
)

// Deployer reconciles targets.
type Deployer struct {
	store     *storage.Store
	approvals Approvals
	logger    *slog.Logger
	maxRange  int
	now       func() time.Time
	signer    *audit.Signer
	version   string
	poster    *Poster
	notifier  *Notifier

	ancestors *memo[ancestorsKey, map[plumbing.Hash]bool] // see ancestorsOf
	merges    *memo[plumbing.Hash, bool]                  // see cleanMergeOf
	histories *memo[historyKey, []gate.Contained]         // see contained
}

// Option configures a Deployer.
type Option func(*Deployer)

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(d *Deployer) { d.logger = l } }

// WithMaxRange bounds how many pending commits one reconcile decides
// (default 5000); a longer range is refused, not truncated.
func WithMaxRange(n int) Option { return func(d *Deployer) { d.maxRange = n } }

// WithClock sets where a Deployer reads the time (default time.Now): it
// stamps Results and audit records, and windows, freezes and soak are
// decided at it, never at time.Now; tests pass a fixed clock.
func WithClock(now func() time.Time) Option { return func(d *Deployer) { d.now = now } }

// WithPoster kicks p after every reconcile of a target, so the changes
// that entered its environment get their messages (and, after a restart,
// those that did not get them yet).
func WithPoster(p *Poster) Option { return func(d *Deployer) { d.poster = p } }

// WithNotifier queues a notification of the target's Flux Receivers after
// every movement of a deploy ref.
func WithNotifier(n *Notifier) Option { return func(d *Deployer) { d.notifier = n } }

// announce hands a result to the Poster and the Notifier, which work in
// the background: a reconcile never waits on Gerrit messages or Flux.
func (d *Deployer) announce(t Target, res Result) {
	if d.notifier != nil {
		d.notifier.Enqueue(t, res)
	}
	if d.poster != nil {
		d.poster.Kick(t)
	}
}

// New returns a Deployer.
func New(store *storage.Store, approvals Approvals, opts ...Option) *Deployer {
	d := &Deployer{
		store: store, approvals: approvals,
		logger:    slog.New(slog.DiscardHandler),
		maxRange:  5000,
		now:       time.Now,
		ancestors: newMemo[ancestorsKey, map[plumbing.Hash]bool](maxAncestorSets),
		merges:    newMemo[plumbing.Hash, bool](maxMergeChecks),
		histories: newMemo[historyKey, []gate.Contained](maxHistories),
	}
	for _, o := range opts {
		o(d)
	}
	return d
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
