package deploy

import (
	"context"
	"errors"
	"fmt"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/gerritgate/gerritgate/storage"
)

// advance copies the objects of target into the served repository and
// moves the deploy ref from old to target by compare-and-swap, in one
// transaction with any other updates given, and points HEAD at the deploy
// ref while HEAD names no commit (a new served repository), so a plain
// clone checks out what is deployed. moved says whether the deploy ref
// moved, which it has when only pointing HEAD failed.
func (d *Deployer) advance(ctx context.Context, t Target, up, served *storage.Repo, old, target plumbing.Hash, also ...storage.RefUpdate) (moved bool, err error) {
	return d.move(ctx, t, up, served, storage.RefUpdate{Name: t.Ref(), Old: old, New: target}, also...)
}

// move is advance with the deploy ref's update given: a rewind forces it.
func (d *Deployer) move(ctx context.Context, t Target, up, served *storage.Repo, u storage.RefUpdate, also ...storage.RefUpdate) (moved bool, err error) {
	if err := storage.CopyObjects(ctx, served, up, u.New); err != nil {
		return false, fmt.Errorf("copy objects: %w", err)
	}
	updates := append([]storage.RefUpdate{u}, also...)
	if err := served.UpdateRefs(updates...); err != nil {
		return committed(t, served, u, err)
	}
	headRef, err := served.Head()
	if err == nil {
		if h, _ := served.Ref(headRef); h.IsZero() {
			err = served.SetHead(t.Ref())
		}
	}
	if err != nil {
		return true, fmt.Errorf("deploy/%s moved to %s, but pointing the served repository's HEAD at it failed: %w", t.Env, short(u.New), err)
	}
	return true, nil
}

// committed reports what a failed UpdateRefs of u left, read from the
// repository rather than assumed: deploy/<env> may have moved (the
// environment repositories could not follow, say). Past its commit point
// (storage.ErrCommitted) the move is decided and finished by the next
// transaction or start, and the error says so.
func committed(t Target, served *storage.Repo, u storage.RefUpdate, err error) (moved bool, _ error) {
	cur, rerr := served.Ref(u.Name)
	moved = rerr == nil && cur == u.New && u.New != u.Old
	if !errors.Is(err, storage.ErrCommitted) {
		return moved, err
	}
	if rerr != nil {
		return false, fmt.Errorf("deploy/%s is committed to move to %s, but the transaction is not finished (the next poll or start finishes it) and reading the ref failed: %v: %w", t.Env, short(u.New), rerr, err)
	}
	return moved, fmt.Errorf("deploy/%s is committed to move to %s, but the transaction is not finished (the next poll or start finishes it): %w", t.Env, short(u.New), err)
}
