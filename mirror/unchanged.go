package mirror

import (
	"context"
	"crypto/sha256"
	"errors"
	"sort"
	"strings"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/storage/memory"
)

// fullFetchEvery is how long the mirror trusts the ref list check alone:
// after that a project is fetched whatever Gerrit advertises, so nothing
// rests for ever on what this process remembers.
const fullFetchEvery = 10 * time.Minute

// fetched is what the mirror remembers of a project's last successful
// fetch: the digest of the branches and tags Gerrit advertised just
// before it (so a change made during the fetch shows as a difference next
// time), the branch heads, and when.
type fetched struct {
	digest [sha256.Size]byte
	heads  map[string]plumbing.Hash
	at     time.Time
}

// advertised lists project's branches and tags as Gerrit advertises them
// (one ref list request, no pack), with their digest and the branch heads
// by short name.
func (m *Mirror) advertised(ctx context.Context, project string) (fetched, error) {
	remote := git.NewRemote(memory.NewStorage(), &config.RemoteConfig{Name: "gerrit", URLs: []string{m.URL(project)}})
	refs, err := remote.ListContext(ctx, &git.ListOptions{Auth: m.auth})
	if errors.Is(err, transport.ErrEmptyRemoteRepository) {
		refs, err = nil, nil
	}
	if err != nil {
		return fetched{}, err
	}
	var lines []string
	f := fetched{heads: map[string]plumbing.Hash{}, at: m.now()}
	for _, r := range refs {
		name := r.Name().String()
		if r.Type() != plumbing.HashReference || !strings.HasPrefix(name, "refs/heads/") && !strings.HasPrefix(name, "refs/tags/") || strings.HasSuffix(name, "^{}") {
			continue
		}
		lines = append(lines, r.Hash().String()+" "+name+"\n")
		if short, ok := strings.CutPrefix(name, "refs/heads/"); ok {
			f.heads[short] = r.Hash()
		}
	}
	sort.Strings(lines)
	f.digest = sha256.Sum256([]byte(strings.Join(lines, "")))
	return f, nil
}

// unchanged reports whether Gerrit advertises for project the same
// branches and tags as before the last successful fetch, less than
// fullFetchEvery ago: then the mirror already holds them (only the mirror
// writes it, with prune and force) and the fetch can be skipped. It
// returns the fresh listing too, to remember after a fetch. When the
// listing fails, so would the fetch: its error is the fetch's.
func (m *Mirror) unchanged(ctx context.Context, project string) (fetched, bool, error) {
	now, err := m.advertised(ctx, project)
	if err != nil {
		return fetched{}, false, err
	}
	m.mu.Lock()
	last, ok := m.last[project]
	m.mu.Unlock()
	return now, ok && last.digest == now.digest && now.at.Sub(last.at) < fullFetchEvery, nil
}

// remember keeps f as project's last successful fetch (forgets it when f
// is zero).
func (m *Mirror) remember(project string, f fetched) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if f.heads == nil {
		delete(m.last, project)
		return
	}
	m.last[project] = f
}
