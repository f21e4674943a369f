package deploy

import (
	"errors"
	"fmt"

	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/gerritgate/gerritgate/internal/gitmerge"
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
// ort's merge or the rename-blind merge JGit makes (internal/gitmerge):
// both hold content of the parents only.
func (d *Deployer) cleanMerge(repoDir string, c *object.Commit) (bool, error) {
	p1, p2 := c.ParentHashes[0].String(), c.ParentHashes[1].String()
	tree, err := gitmerge.Ort(repoDir, p1, p2)
	switch {
	case err == nil && tree == c.TreeHash.String():
		return true, nil
	case err != nil && !errors.Is(err, gitmerge.ErrConflict):
		return false, fmt.Errorf("git merge-tree for %s: %w", short(c.Hash), err)
	}
	tree, err = gitmerge.Merge(repoDir, p1, p2)
	if errors.Is(err, gitmerge.ErrConflict) || errors.Is(err, gitmerge.ErrNoSingleBase) {
		return false, nil // conflicts: whatever the commit holds was resolved by hand
	}
	if err != nil {
		return false, fmt.Errorf("rename-blind merge for %s: %w", short(c.Hash), err)
	}
	return tree == c.TreeHash.String(), nil
}
