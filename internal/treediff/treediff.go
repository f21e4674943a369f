// Package treediff lists the paths a commit changes, the one definition
// shared by storage (what the gate decides owners rules on) and audit
// (what verify --recheck computes again from a plain clone): the two must
// agree byte for byte, so there is exactly one implementation.
package treediff

import (
	"fmt"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// ChangedFiles lists the paths commit h changes against its first parent
// (every path for a root commit), both sides of a rename, each once.
func ChangedFiles(st storer.EncodedObjectStorer, h plumbing.Hash) ([]string, error) {
	c, err := object.GetCommit(st, h)
	if err != nil {
		return nil, fmt.Errorf("commit %s: %w", h, err)
	}
	tree, err := c.Tree()
	if err != nil {
		return nil, err
	}
	var parentTree *object.Tree
	if len(c.ParentHashes) > 0 {
		p, err := object.GetCommit(st, c.ParentHashes[0])
		if err != nil {
			return nil, err
		}
		if parentTree, err = p.Tree(); err != nil {
			return nil, err
		}
	}
	changes, err := object.DiffTree(parentTree, tree)
	if err != nil {
		return nil, fmt.Errorf("diff %s: %w", h.String()[:12], err)
	}
	seen := map[string]bool{}
	files := []string{}
	for _, ch := range changes {
		for _, name := range []string{ch.From.Name, ch.To.Name} {
			if name != "" && !seen[name] {
				seen[name] = true
				files = append(files, name)
			}
		}
	}
	return files, nil
}
