package access

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode"
)

// Binding ties a reader to a Gerrit account or group (exactly one is
// set): the reader may read a project only while Gerrit grants READ on
// the project's gated branches to that account, or, for a group, to
// every account in the group (see GerritChecker).
type Binding struct {
	Account string // an account id, username or email
	Group   string // a group UUID or name
}

func (b Binding) String() string {
	if b.Group != "" {
		return "group " + b.Group
	}
	return "account " + b.Account
}

// gerritYAML is the YAML shape of a reader's gerrit: key.
type gerritYAML struct {
	Account string `yaml:"account"`
	Group   string `yaml:"group"`
}

// binding validates a reader's gerrit: entry.
func (g gerritYAML) binding() (Binding, error) {
	switch {
	case g.Account != "" && g.Group != "":
		return Binding{}, errors.New("gerrit: give account or group, not both")
	case g.Account == "" && g.Group == "":
		return Binding{}, errors.New("gerrit: needs account: (an account id, username or email) or group: (a group UUID or name)")
	}
	v := g.Account + g.Group
	if len(v) > 255 || strings.ContainsFunc(v, func(r rune) bool { return unicode.IsControl(r) }) || strings.TrimSpace(v) != v {
		return Binding{}, fmt.Errorf("gerrit: %q is not an account or group name (at most 255 characters, no control characters or surrounding spaces)", v)
	}
	return Binding{Account: g.Account, Group: g.Group}, nil
}

// ACL is what a GerritChecker asks Gerrit; cmd/gerritgate adapts
// *gerrit.Client to it.
type ACL interface {
	// CanRead reports whether Gerrit grants account READ on ref of
	// project; an error when Gerrit could not be asked or gave no clear
	// answer.
	CanRead(ctx context.Context, project, account, ref string) (bool, error)
	// GroupMembers lists the accounts (ids) of a group, included groups'
	// members too.
	GroupMembers(ctx context.Context, group string) ([]string, error)
}

// Checker defaults.
const (
	DefaultGerritLifetime = 60 * time.Second
	DefaultGerritTimeout  = 5 * time.Second
	// MaxGroupMembers bounds the accounts a group binding is checked for;
	// a bigger group is refused rather than costing a Gerrit call per
	// member per project each lifetime.
	MaxGroupMembers = 100
)

// GerritChecker answers, for readers bound to Gerrit, whether Gerrit
// grants them READ, and caches each answer for a lifetime. It is shared
// by every List an access Watcher loads, so a reload keeps the answers.
//
// An answer is used for at most the lifetime after Gerrit gave it; then
// Gerrit is asked again, and if it cannot be asked (error, timeout) the
// reader is refused until it can: it fails closed, and never serves a
// stale "yes". So revoking READ in Gerrit takes effect within the
// lifetime (plus one check's timeout). A failed ask is not repeated for
// a short while (a tenth of the lifetime, at most 5s): meanwhile the
// bound readers concerned are refused at once rather than each waiting
// for the timeout. Concurrent checks of the same question share one
// call, and no check waits longer than the timeout.
//
// A group binding reads a project when every account in the group
// (recursively) has READ on it, so the credential of the group never
// reads more than any one member could read in Gerrit itself; an empty
// group, or one of more than MaxGroupMembers accounts, reads nothing.
// (Gerrit has no REST call that checks a group's permission, and
// evaluating project.config's rules here would mean re-implementing
// Gerrit's inheritance, exclusive sections and BLOCK rules.)
type GerritChecker struct {
	acl      ACL
	branches func(project string) []string
	lifetime time.Duration
	timeout  time.Duration
	now      func() time.Time
	logger   *slog.Logger
	observe  func(outcome string)

	mu      sync.Mutex
	entries map[checkKey]*checkEntry
	failing bool // the last ask failed (logged once per transition)
}

// checkKey is one question: READ of account on ref of project, or (kind
// "members") who is in a group.
type checkKey struct {
	kind, subject, project, ref string
}

type checkEntry struct {
	granted  bool
	members  []string
	at       time.Time     // when the last answer was asked for; zero: never
	failed   bool          // the last ask failed...
	failedAt time.Time     // ...at this time...
	err      error         // ...with this error
	wait     chan struct{} // closed when the ask in flight ends; nil: none
}

// GerritOption configures a GerritChecker.
type GerritOption func(*GerritChecker)

// WithLifetime sets how long an answer is used (default 60s).
func WithLifetime(d time.Duration) GerritOption { return func(c *GerritChecker) { c.lifetime = d } }

// WithTimeout bounds one check, waiting included (default 5s).
func WithTimeout(d time.Duration) GerritOption { return func(c *GerritChecker) { c.timeout = d } }

// WithCheckClock sets the clock answers are aged by (default time.Now).
func WithCheckClock(now func() time.Time) GerritOption { return func(c *GerritChecker) { c.now = now } }

// WithCheckLogger sets where transitions (Gerrit cannot be asked, Gerrit
// answers again) are logged.
func WithCheckLogger(l *slog.Logger) GerritOption { return func(c *GerritChecker) { c.logger = l } }

// WithCheckObserver has f called once per question asked of Gerrit with
// "granted", "denied" or "error", for a counter.
func WithCheckObserver(f func(outcome string)) GerritOption {
	return func(c *GerritChecker) { c.observe = f }
}

// NewGerritChecker returns a checker asking acl. branches gives the gated
// branches of a project (without refs/heads/); a project with none is
// refused, as there is nothing to check READ of.
func NewGerritChecker(acl ACL, branches func(project string) []string, opts ...GerritOption) *GerritChecker {
	c := &GerritChecker{
		acl: acl, branches: branches,
		lifetime: DefaultGerritLifetime, timeout: DefaultGerritTimeout,
		now: time.Now, logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		entries: map[checkKey]*checkEntry{},
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

// CanRead reports whether Gerrit grants b READ on every gated branch of
// project, from answers at most a lifetime old.
func (c *GerritChecker) CanRead(b Binding, project string) bool {
	branches := c.branches(project)
	if len(branches) == 0 {
		return false
	}
	accounts := []string{b.Account}
	if b.Group != "" {
		e, err := c.lookup(checkKey{kind: "members", subject: b.Group}, func(ctx context.Context) (checkEntry, error) {
			m, err := c.acl.GroupMembers(ctx, b.Group)
			if err == nil && len(m) > MaxGroupMembers {
				err = fmt.Errorf("group %s has %d accounts, more than the %d a binding is checked for", b.Group, len(m), MaxGroupMembers)
			}
			return checkEntry{members: m}, err
		})
		if err != nil || len(e.members) == 0 {
			return false
		}
		accounts = e.members
	}
	for _, a := range accounts {
		for _, br := range branches {
			ref := "refs/heads/" + br
			e, err := c.lookup(checkKey{kind: "read", subject: a, project: project, ref: ref}, func(ctx context.Context) (checkEntry, error) {
				ok, err := c.acl.CanRead(ctx, project, a, ref)
				return checkEntry{granted: ok}, err
			})
			if err != nil || !e.granted {
				return false
			}
		}
	}
	return true
}

// retry is how long a failed ask is not repeated.
func (c *GerritChecker) retry() time.Duration { return min(c.lifetime/10, 5*time.Second) }

// lookup returns the answer to k, asking Gerrit (once for all concurrent
// callers, within the timeout) when the cached one is older than the
// lifetime.
func (c *GerritChecker) lookup(k checkKey, ask func(context.Context) (checkEntry, error)) (checkEntry, error) {
	deadline := time.NewTimer(c.timeout)
	defer deadline.Stop()
	c.mu.Lock()
	e := c.entries[k]
	if e == nil {
		e = &checkEntry{}
		c.entries[k] = e
	}
	fresh := func() bool {
		age := c.now().Sub(e.at)
		return !e.at.IsZero() && age >= 0 && age < c.lifetime
	}
	for !fresh() {
		if e.failed && c.now().Sub(e.failedAt) < c.retry() {
			err := e.err
			c.mu.Unlock()
			return checkEntry{}, err
		}
		if e.wait == nil {
			e.wait = make(chan struct{})
			c.mu.Unlock()
			return c.ask(k, e, ask)
		}
		w := e.wait
		c.mu.Unlock()
		select {
		case <-w:
		case <-deadline.C:
			return checkEntry{}, errors.New("gerrit read check timed out")
		}
		c.mu.Lock()
		if !fresh() {
			err := e.err
			c.mu.Unlock()
			if err == nil {
				err = errors.New("gerrit read check gave no answer")
			}
			return checkEntry{}, err
		}
	}
	v := *e
	c.mu.Unlock()
	return v, nil
}

// ask puts k to Gerrit, within the timeout, and records the answer; the
// caller set e.wait.
func (c *GerritChecker) ask(k checkKey, e *checkEntry, ask func(context.Context) (checkEntry, error)) (checkEntry, error) {
	// The answer's age counts from the question, so that a READ revoked
	// while Gerrit was answering is seen within the lifetime too.
	start := c.now()
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	v, err := ask(ctx)
	cancel()

	c.mu.Lock()
	defer c.mu.Unlock()
	close(e.wait)
	e.wait = nil
	if k.kind == "read" && c.observe != nil {
		switch {
		case err != nil:
			c.observe("error")
		case v.granted:
			c.observe("granted")
		default:
			c.observe("denied")
		}
	} else if err != nil && c.observe != nil {
		c.observe("error")
	}
	if err != nil {
		e.failed, e.failedAt, e.err = true, c.now(), err
		if !c.failing {
			c.failing = true
			c.logger.Warn("cannot ask Gerrit whether bound readers may read; each is refused once its answer is older than the lifetime",
				"lifetime", c.lifetime, "project", k.project, "subject", k.subject, "err", err)
		}
		return checkEntry{}, err
	}
	if c.failing {
		c.failing = false
		c.logger.Info("Gerrit answers read checks again", "lifetime", c.lifetime)
	}
	e.granted, e.members, e.at, e.failed, e.err = v.granted, v.members, start, false, nil
	return *e, nil
}

// Stale counts the questions refused now because Gerrit could not be
// asked again once their answer was older than the lifetime (those
// whose last ask failed within the last lifetime), for a gauge.
func (c *GerritChecker) Stale() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	now, n := c.now(), 0
	for _, e := range c.entries {
		if e.failed && now.Sub(e.failedAt) < c.lifetime {
			n++
		}
	}
	return n
}
