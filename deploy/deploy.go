package deploy

import (
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/gerritgate/gerritgate/audit"
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

// WithClock sets where a Deployer reads the time that stamps its Results
// (default time.Now); tests pass a fixed clock. Nothing it decides depends
// on the time yet; the decisions that will (windows, soak, freezes) take
// it from here, never from time.Now.
func WithClock(now func() time.Time) Option { return func(d *Deployer) { d.now = now } }

// New returns a Deployer.
func New(store *storage.Store, approvals Approvals, opts ...Option) *Deployer {
	d := &Deployer{
		store: store, approvals: approvals,
		logger:    slog.New(slog.DiscardHandler),
		maxRange:  5000,
		now:       time.Now,
		ancestors: map[string]map[plumbing.Hash]bool{},
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
