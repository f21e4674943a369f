package audit

import (
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/storer"

	"github.com/gerritgate/gerritgate/internal/treediff"
)

// ChangedFiles lists the paths commit h changes against its first parent
// (all paths for a root commit), both sides of a rename: what deploy puts
// in gate.Range.Files (through storage, with the same treediff) and
// Recheck computes again from the clone.
func ChangedFiles(st storer.EncodedObjectStorer, h plumbing.Hash) ([]string, error) {
	return treediff.ChangedFiles(st, h)
}
