package main

import (
	"errors"

	"github.com/go-git/go-billy/v5/osfs"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage/filesystem"

	"github.com/gerritgate/gerritgate/audit"
	"github.com/gerritgate/gerritgate/storage"
)

// servedTrail reads the status page's audit records from the served
// repositories (it satisfies status.Trail). Each read opens the repository
// afresh: the records are immutable objects, and the poller's own handle
// stays the poller's.
type servedTrail struct{ store *storage.Store }

// open opens project's served repository; nil and no error when it has
// none yet.
func (t servedTrail) open(project string) (*git.Repository, error) {
	dir, err := t.store.ServedPath(project)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return git.PlainOpen(dir)
}

// Tip returns the commit audit/<env> points at, "" when there is none.
// It reads the ref alone (the page asks on every view), not the
// repository's config.
func (t servedTrail) Tip(project, env string) (string, error) {
	dir, err := t.store.ServedPath(project)
	if errors.Is(err, storage.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	refs := filesystem.NewStorage(osfs.New(dir), cache.NewObjectLRU(0))
	ref, err := refs.Reference(plumbing.ReferenceName(audit.Ref(env)))
	if errors.Is(err, plumbing.ErrReferenceNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return ref.Hash().String(), nil
}

// Latest returns the newest n records from the audit commit tip, newest
// first.
func (t servedTrail) Latest(project, tip string, n int) ([]audit.Record, error) {
	repo, err := t.open(project)
	if err != nil {
		return nil, err
	}
	if repo == nil {
		return nil, storage.ErrNotFound
	}
	var out []audit.Record
	for h := plumbing.NewHash(tip); len(out) < n && !h.IsZero(); {
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
