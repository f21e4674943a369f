package deploy

import (
	"context"
	"errors"
	"fmt"

	"github.com/gerritgate/gerritgate/storage"
)

// cleanMerge reports whether a two-parent commit's tree is exactly what
// merging its parents without conflicts gives, using C git (go-git has no
// merge). A merge carrying anything else has content of its own that no
// change brought.
//
// Gerrit merges with JGit, which detects no renames, so a merge Gerrit made
// cleanly can be a conflict for merge-tree's rename-aware ort (one side
// deletes a file the other moves; one renames a directory the other adds
// to), or come out differently. The tree is accepted when it equals either
// ort's merge or the rename-blind merge JGit makes: both hold content of
// the parents only.
func cleanMerge(ctx context.Context, up *storage.Repo, c storage.Commit) (bool, error) {
	p1, p2 := c.Parents[0], c.Parents[1]
	tree, err := up.MergeTree(ctx, p1, p2)
	switch {
	case err == nil && tree == c.Tree:
		return true, nil
	case err != nil && !errors.Is(err, storage.ErrMergeConflict):
		return false, fmt.Errorf("git merge-tree for %s: %w", short(c.Hash), err)
	}
	tree, err = up.RenameBlindMerge(ctx, p1, p2)
	if errors.Is(err, storage.ErrMergeConflict) || errors.Is(err, storage.ErrNoSingleMergeBase) {
		return false, nil // conflicts: whatever the commit holds was resolved by hand
	}
	if err != nil {
		return false, fmt.Errorf("rename-blind merge for %s: %w", short(c.Hash), err)
	}
	return tree == c.Tree, nil
}

// maxMergeChecks bounds the merge checks kept (a hash and a bool each).
const maxMergeChecks = 100000

// cleanMergeOf is cleanMerge, kept per commit: a commit's parents and tree
// are fixed by its hash, so its answer never changes, and a merge waiting
// in a pending range is not merged again by C git at every poll. Errors
// are not kept.
func (d *Deployer) cleanMergeOf(ctx context.Context, up *storage.Repo, c storage.Commit) (bool, error) {
	if clean, ok := d.merges.get(c.Hash); ok {
		return clean, nil
	}
	clean, err := cleanMerge(ctx, up, c)
	if err == nil {
		d.merges.put(c.Hash, clean)
	}
	return clean, err
}
