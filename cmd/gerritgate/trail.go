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
// It reads the ref's file alone (the page asks for every environment on
// every view), without opening the repository.
func (t servedTrail) Tip(project, env string) (string, error) {
	dir, err := t.store.ServedPath(project)
	if errors.Is(err, storage.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	h, err := storage.ReadRef(dir, audit.Ref(env))
	if err != nil || h.IsZero() {
		return "", err
	}
	return h.String(), nil
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
