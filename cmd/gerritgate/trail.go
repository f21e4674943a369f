package main

import (
	"errors"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/gerritgate/gerritgate/audit"
	"github.com/gerritgate/gerritgate/storage"
)

// servedTrail reads the status page's audit records from the served
// repositories (it satisfies status.Trail). Each read opens the repository
// afresh: the records are immutable objects, and the poller's own handle
// stays the poller's.
type servedTrail struct{ store *storage.Store }

// Latest returns the newest n records of audit/<env>, newest first.
func (t servedTrail) Latest(project, env string, n int) ([]audit.Record, error) {
	dir, err := t.store.ServedPath(project)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	repo, err := git.PlainOpen(dir)
	if err != nil {
		return nil, err
	}
	ref, err := repo.Reference(plumbing.ReferenceName(audit.Ref(env)), true)
	if errors.Is(err, plumbing.ErrReferenceNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []audit.Record
	for h := ref.Hash(); len(out) < n && !h.IsZero(); {
		c, err := object.GetCommit(repo.Storer, h)
		if err != nil {
			return out, err
		}
		rec, err := audit.ReadRecord(c)
		if err != nil {
			return out, err
		}
		out = append(out, *rec)
		h = plumbing.ZeroHash
		if len(c.ParentHashes) == 1 {
			h = c.ParentHashes[0]
		}
	}
	return out, nil
}
