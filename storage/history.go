package storage

import (
	"fmt"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/gerritgate/gerritgate/internal/treediff"
)

// Commit is what callers read of a commit.
type Commit struct {
	Hash    plumbing.Hash
	Tree    plumbing.Hash
	Parents []plumbing.Hash // first parent first
	Message string
}

// Commit returns commit h, an error when the repository has no such
// commit.
func (r *Repo) Commit(h plumbing.Hash) (Commit, error) {
	c, err := object.GetCommit(r.objects, h)
	if err != nil {
		return Commit{}, fmt.Errorf("commit %s: %w", h, err)
	}
	return Commit{Hash: c.Hash, Tree: c.TreeHash, Parents: c.ParentHashes, Message: c.Message}, nil
}

// IsAncestor reports whether commit a is commit b or one of its
// ancestors. Either commit missing is an error, never an answer.
func (r *Repo) IsAncestor(a, b plumbing.Hash) (bool, error) {
	ac, err := object.GetCommit(r.objects, a)
	if err != nil {
		return false, fmt.Errorf("commit %s: %w", a, err)
	}
	if a == b {
		return true, nil
	}
	bc, err := object.GetCommit(r.objects, b)
	if err != nil {
		return false, fmt.Errorf("commit %s: %w", b, err)
	}
	return ac.IsAncestor(bc)
}

// WalkFirstParents calls fn on head and then on each first parent in
// turn, until fn returns false or the root commit has been visited. A
// missing commit on the way is an error.
func (r *Repo) WalkFirstParents(head plumbing.Hash, fn func(Commit) bool) error {
	for h := head; !h.IsZero(); {
		c, err := r.Commit(h)
		if err != nil {
			return err
		}
		if !fn(c) {
			return nil
		}
		h = plumbing.ZeroHash
		if len(c.Parents) > 0 {
			h = c.Parents[0]
		}
	}
	return nil
}

// ChangedFiles lists the paths commit h changes against its first parent
// (every path for a root commit), both sides of a rename, each once: the
// definition audit records and rechecks (internal/treediff).
func (r *Repo) ChangedFiles(h plumbing.Hash) ([]string, error) {
	return treediff.ChangedFiles(r.objects, h)
}
