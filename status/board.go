package status

import (
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gerritgate/gerritgate/deploy"
)

// Board holds the latest result of every gated environment and counts
// finished polls. It is safe for concurrent use.
type Board struct {
	polls atomic.Int64

	mu      sync.Mutex
	results map[key]deploy.Result
	fetches map[string]Fetch // by project
	trails  map[key]trail    // the newest audit entries, by the audit ref's commit
	policy  *Policy          // nil: the policy is a local file
}

// Fetch is the outcome of a project's last mirror fetch from Gerrit.
type Fetch struct {
	Time  time.Time `json:"time"`
	OK    bool      `json:"ok"`
	Error string    `json:"error,omitempty"` // "" when it worked
}

// trail is an environment's newest audit entries as read at tip, the
// commit audit/<env> pointed at: records are immutable, so they stay
// true until the ref moves.
type trail struct {
	tip     string
	entries []Entry
}

type key struct{ project, env string }

// NewBoard returns an empty board.
func NewBoard() *Board {
	return &Board{results: map[key]deploy.Result{}, fetches: map[string]Fetch{}, trails: map[key]trail{}}
}

// Fetched keeps the outcome of project's mirror fetch at at.
func (b *Board) Fetched(project string, at time.Time, err error) {
	f := Fetch{Time: at, OK: err == nil}
	if err != nil {
		f.Error = err.Error()
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.fetches[project] = f
}

// LastFetch returns the outcome of project's last mirror fetch.
func (b *Board) LastFetch(project string) (Fetch, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	f, ok := b.fetches[project]
	return f, ok
}

// cachedTrail returns the audit entries of one environment read at tip,
// if the board keeps them.
func (b *Board) cachedTrail(project, env, tip string) ([]Entry, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	t, ok := b.trails[key{project, env}]
	if !ok || t.tip != tip {
		return nil, false
	}
	return t.entries, true
}

// keepTrail keeps the audit entries of one environment read at tip, in
// place of any read at another.
func (b *Board) keepTrail(project, env, tip string, entries []Entry) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.trails[key{project, env}] = trail{tip: tip, entries: entries}
}

// Record keeps res as its environment's latest result and reports whether
// it differs from the one before (reason, message or upstream head), so
// callers log and print transitions only.
func (b *Board) Record(res deploy.Result) (changed bool) {
	k := key{res.Project, res.Env}
	b.mu.Lock()
	prev, had := b.results[k]
	b.results[k] = res
	b.mu.Unlock()
	return !had || prev.Reason != res.Reason || prev.Message != res.Message || prev.Head != res.Head
}

// Result returns the latest result of one environment.
func (b *Board) Result(project, env string) (deploy.Result, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	r, ok := b.results[key{project, env}]
	return r, ok
}

// Retain drops the results of environments keep reports false for (after
// a policy reload), so the page shows only what is gated now.
func (b *Board) Retain(keep func(project, env string) bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	kept := map[string]bool{}
	for k := range b.results {
		if !keep(k.project, k.env) {
			delete(b.results, k)
		} else {
			kept[k.project] = true
		}
	}
	for k := range b.trails {
		if !keep(k.project, k.env) {
			delete(b.trails, k)
		}
	}
	for p := range b.fetches {
		if !kept[p] {
			delete(b.fetches, p)
		}
	}
}

// Polled counts one finished poll.
func (b *Board) Polled() { b.polls.Add(1) }

// Polls returns how many polls have finished.
func (b *Board) Polls() int64 { return b.polls.Load() }

// Snapshot returns the latest results sorted by project, then environment.
func (b *Board) Snapshot() []deploy.Result {
	b.mu.Lock()
	out := make([]deploy.Result, 0, len(b.results))
	for _, r := range b.results {
		out = append(out, r)
	}
	b.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Project != out[j].Project {
			return out[i].Project < out[j].Project
		}
		return out[i].Env < out[j].Env
	})
	return out
}
