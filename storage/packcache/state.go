package packcache

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/gerritgate/gerritgate/internal/gitexec"
	"github.com/gerritgate/gerritgate/storage/uploadpack"
)

// state is what a repository's answers depend on besides the request: its
// refs and its configuration, as read from disk at one moment.
type state struct {
	sum  [sha256.Size]byte
	tips []string // distinct commits of refs/heads/deploy/*, in ref order
	// ours are the objects upload-pack advertises: HEAD and every ref
	// not hidden (not their peeled values).
	ours map[string]bool
}

// readState reads dir's refs (git show-ref --head --dereference: every
// ref, HEAD and peeled tags) and its config file.
func (c *Cache) readState(ctx context.Context, dir string) (state, error) {
	cmd := exec.CommandContext(ctx, c.git, "--git-dir", dir, "show-ref", "--head", "--dereference")
	cmd.Env = gitexec.Env()
	var stderr uploadpack.Stderr
	cmd.Stderr = &stderr
	refs, err := cmd.Output()
	if err != nil {
		// show-ref exits 1 when there are no refs: nothing to serve.
		return state{}, fmt.Errorf("refs of %s: %w", dir, stderr.Wrap(err))
	}
	config, err := os.ReadFile(filepath.Join(dir, "config"))
	if err != nil {
		return state{}, fmt.Errorf("state of %s: %w", dir, err)
	}
	h := sha256.New()
	fmt.Fprintf(h, "refs %d\n", len(refs))
	h.Write(refs)
	fmt.Fprintf(h, "config %d\n", len(config))
	h.Write(config)
	s := state{ours: map[string]bool{}}
	h.Sum(s.sum[:0])
	seen := map[string]bool{}
	for _, line := range bytes.Split(refs, []byte("\n")) {
		oid, name, _ := strings.Cut(string(line), " ")
		if name != "" && !strings.HasSuffix(name, "^{}") && !strings.HasPrefix(name, uploadpack.HiddenRefs) {
			s.ours[oid] = true
		}
		if strings.HasPrefix(name, "refs/heads/deploy/") && !strings.HasSuffix(name, "^{}") && !seen[oid] {
			seen[oid] = true
			s.tips = append(s.tips, oid)
		}
	}
	return s, nil
}

// repo is what the cache remembers of one repository directory. gen
// counts Invalidate calls; state is kept only if read wholly within one
// gen.
type repo struct {
	gen   uint64
	state *state
}

// current returns dir's state, read once per change notified, and the
// gen it belongs to.
func (c *Cache) current(ctx context.Context, dir string) (state, uint64, error) {
	c.mu.Lock()
	r := c.repos[dir]
	if r == nil {
		r = &repo{}
		c.repos[dir] = r
	}
	gen, s := r.gen, r.state
	c.mu.Unlock()
	if s != nil {
		return *s, gen, nil
	}
	st, err := c.readState(ctx, dir)
	if err != nil {
		return state{}, 0, err
	}
	c.mu.Lock()
	if r.gen == gen {
		r.state = &st
	}
	c.mu.Unlock()
	return st, gen, nil
}

// unchanged reports whether dir's refs are still st, read from disk now,
// and no change has been notified since gen.
func (c *Cache) unchanged(ctx context.Context, dir string, st state, gen uint64) bool {
	now, err := c.readState(ctx, dir)
	if err != nil || now.sum != st.sum {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.repos[dir].gen == gen
}

// Invalidate forgets what c read of dir's refs: answers computed from
// then on are kept under the new state. storage calls it (through
// Store.NotifyRefs) when dir's refs or HEAD have changed, before the
// change is reported done.
func (c *Cache) Invalidate(dir string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if r := c.repos[dir]; r != nil {
		r.gen++
		r.state = nil
	}
}
