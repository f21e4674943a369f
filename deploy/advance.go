package deploy

import (
	"context"
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
		return false, err
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
