package deploy

import (
	"context"
	"strings"
	"sync"

	"github.com/gerritgate/gerritgate/gate"
)

// lookups holds Gerrit's answers about commits for the environments of one
// project decided together (one poll): dev, staging and prod fed by the
// same branch mostly ask about the same commits, and a burst of merges
// then costs one round of queries instead of one per environment.
// Answers that a commit has no change are kept too.
type lookups struct {
	mu      sync.Mutex
	changes map[lookupKey][]gate.Change // nil slice: asked, no change
}

// lookupKey is what an answer depends on: ChangesForCommits orders a
// commit's changes by the branch asked for.
type lookupKey struct{ project, branch, sha string }

type lookupsKey struct{}

// WithLookups returns a context under which Reconcile shares Gerrit's
// answers about commits among the environments reconciled with it: the
// poller makes one per project per poll. The answers live as long as the
// context; the re-read of votes right before a move never uses them.
func WithLookups(ctx context.Context) context.Context {
	return context.WithValue(ctx, lookupsKey{}, &lookups{changes: map[lookupKey][]gate.Change{}})
}

// changesForCommits is Approvals.ChangesForCommits through the context's
// lookups, if any: only commits not asked about yet under it go to Gerrit.
func (d *Deployer) changesForCommits(ctx context.Context, project, branch string, shas []string) (map[string][]gate.Change, error) {
	l, _ := ctx.Value(lookupsKey{}).(*lookups)
	if l == nil {
		return d.approvals.ChangesForCommits(ctx, project, branch, shas)
	}
	out := map[string][]gate.Change{}
	var ask []string
	l.mu.Lock()
	for _, sha := range shas {
		cs, ok := l.changes[lookupKey{project, branch, strings.ToLower(sha)}]
		switch {
		case !ok:
			ask = append(ask, sha)
		case cs != nil:
			out[strings.ToLower(sha)] = cs
		}
	}
	l.mu.Unlock()
	if len(ask) == 0 {
		return out, nil
	}
	got, err := d.approvals.ChangesForCommits(ctx, project, branch, ask)
	if err != nil {
		return nil, err // nothing kept: the next environment asks again
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, sha := range ask {
		sha = strings.ToLower(sha)
		cs := got[sha] // nil: asked, none
		l.changes[lookupKey{project, branch, sha}] = cs
		if cs != nil {
			out[sha] = cs
		}
	}
	return out, nil
}
