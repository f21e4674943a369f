package storage

import (
	"context"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/gerritgate/gerritgate/internal/gitmerge"
)

// ErrMergeConflict is a merge with conflicts.
var ErrMergeConflict = gitmerge.ErrConflict

// ErrNoSingleMergeBase is two commits with no merge base or several.
var ErrNoSingleMergeBase = gitmerge.ErrNoSingleBase

// MergeTree returns the tree of C git's rename-aware merge (merge-tree,
// ort) of commits ours and theirs, ErrMergeConflict when it conflicts.
// It may write the merged objects; it never moves a ref. git is killed
// when ctx ends.
func (r *Repo) MergeTree(ctx context.Context, ours, theirs plumbing.Hash) (plumbing.Hash, error) {
	return r.merge(ctx, gitmerge.Ort, ours, theirs)
}

// RenameBlindMerge returns the tree of the merge Gerrit's JGit makes on
// submit, without rename detection (internal/gitmerge):
// ErrMergeConflict or ErrNoSingleMergeBase when there is none.
func (r *Repo) RenameBlindMerge(ctx context.Context, ours, theirs plumbing.Hash) (plumbing.Hash, error) {
	return r.merge(ctx, gitmerge.Merge, ours, theirs)
}

func (r *Repo) merge(ctx context.Context, merge func(context.Context, string, string, string) (string, error), ours, theirs plumbing.Hash) (plumbing.Hash, error) {
	tree, err := merge(ctx, r.dir, ours.String(), theirs.String())
	if err != nil {
		return plumbing.ZeroHash, err
	}
	return plumbing.NewHash(tree), nil
}
