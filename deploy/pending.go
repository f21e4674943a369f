package deploy

import (
	"context"
	"errors"
	"fmt"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/gerritgate/gerritgate/gate"
	"github.com/gerritgate/gerritgate/storage"
)

// emptyTree is git's empty tree, the tree of the commit Gerrit creates a
// project with. A parentless commit with it passes whoever wrote it and
// whatever its message says ("Initial empty repository" from Gerrit): it
// deploys nothing, and its message is no evidence either way.
var emptyTree = plumbing.NewHash("4b825dc642cb6eb9a060e54bf8d69288fbee4904")

// errTooMany is pending's answer when the range exceeds maxRange.
var errTooMany = errors.New("too many commits pending")

// pendingWindow is pending, bounded: when more than maxRange commits lie
// between base and head, it returns those up to the first-parent ancestor
// of head (window) nearest to base's side that keeps them within
// maxRange, the oldest first-parent steps, so the branch can advance
// through an approved prefix and continue from there.
func (d *Deployer) pendingWindow(ctx context.Context, project string, up *storage.Repo, base, head plumbing.Hash) ([]gate.Commit, plumbing.Hash, bool, error) {
	commits, reaches, err := d.pending(ctx, project, up, base, head)
	if !errors.Is(err, errTooMany) {
		return commits, head, reaches, err
	}
	anc, aerr := d.ancestorsOf(project, up, base)
	if aerr != nil {
		return nil, head, false, aerr
	}
	// The first-parent line from head down to base, head first; h is where
	// it met base's history (zero: it never did).
	var line []plumbing.Hash
	h := plumbing.ZeroHash
	err = up.WalkFirstParents(head, func(c storage.Commit) bool {
		if c.Hash == base || anc[c.Hash] {
			h = c.Hash
			return false
		}
		line = append(line, c.Hash)
		return true
	})
	if err != nil {
		return nil, head, false, err
	}
	if h != base {
		// The deployed commit is not on head's first-parent line (merged
		// in as a second parent): the oldest steps of the line do not
		// descend from it, so windows would look diverged. Refuse.
		return nil, head, false, fmt.Errorf("more than %d commits pending between %s and %s, and the deployed commit is not on the branch's first-parent line, so they cannot be decided in steps", d.maxRange, hex(base), short(head))
	}
	for steps := min(d.maxRange, len(line)); steps >= 1; steps /= 2 {
		window := line[len(line)-steps]
		commits, reaches, err = d.pending(ctx, project, up, base, window)
		if !errors.Is(err, errTooMany) {
			return commits, window, reaches, err
		}
	}
	return nil, head, false, fmt.Errorf("more than %d commits pending between %s and %s, and one first-parent step already brings more: refusing to decide so large a range at once", d.maxRange, hex(base), short(head))
}

// pending returns the commits reachable from head and not from base,
// parents first, and whether head descends from base at all.
func (d *Deployer) pending(ctx context.Context, project string, up *storage.Repo, base, head plumbing.Hash) ([]gate.Commit, bool, error) {
	anc, err := d.ancestorsOf(project, up, base)
	if err != nil {
		return nil, false, err
	}
	var out []gate.Commit
	reaches := false
	type frame struct {
		c        storage.Commit
		expanded bool
	}
	// A commit is done once emitted; it may sit on the stack more than once
	// until then (reached by several children), and is emitted only after
	// all its parents, whatever order the paths reach it in.
	done := map[plumbing.Hash]bool{}
	hc, err := up.Commit(head)
	if err != nil {
		return nil, false, err
	}
	stack := []frame{{c: hc}}
	for len(stack) > 0 {
		top := &stack[len(stack)-1]
		if done[top.c.Hash] {
			stack = stack[:len(stack)-1]
			continue
		}
		if !top.expanded {
			top.expanded = true
			// Push parents in reverse so the first parent's history comes
			// out first.
			for i := len(top.c.Parents) - 1; i >= 0; i-- {
				p := top.c.Parents[i]
				if p == base {
					reaches = true
				}
				if p == base || anc[p] || done[p] {
					continue
				}
				pc, err := up.Commit(p)
				if err != nil {
					return nil, false, err
				}
				stack = append(stack, frame{c: pc})
			}
			continue
		}
		if !parentsDone(top.c, base, anc, done) {
			// A parent was reached first through this commit's own
			// ancestry and is still below on the stack: expand again.
			top.expanded = false
			continue
		}
		done[top.c.Hash] = true
		c := top.c
		stack = stack[:len(stack)-1]
		gc := gate.Commit{SHA: c.Hash.String(), Subject: subject(c.Message)}
		gc.EmptyRoot = len(c.Parents) == 0 && c.Tree == emptyTree
		for _, p := range c.Parents {
			gc.Parents = append(gc.Parents, p.String())
		}
		if len(c.Parents) == 2 {
			// An error is about this merge only: it stays unapproved
			// (unless a change accounts for it) with the error as its
			// evidence, and the commits before it are still decided.
			var merr error
			if gc.CleanMerge, merr = d.cleanMergeOf(ctx, up, c); merr != nil {
				gc.MergeCheck = merr.Error()
			}
		}
		out = append(out, gc)
		if len(out) > d.maxRange {
			return nil, false, errTooMany
		}
	}
	return out, reaches, nil
}

func parentsDone(c storage.Commit, base plumbing.Hash, anc, done map[plumbing.Hash]bool) bool {
	for _, p := range c.Parents {
		if p != base && !anc[p] && !done[p] {
			return false
		}
	}
	return true
}

// maxAncestorSets bounds the ancestor sets kept (each as large as the
// history of its commit): enough for the environments waiting in a poll
// of many projects, not one per environment ever seen.
const maxAncestorSets = 64

// ancestorsKey names one ancestor set: those of a deployed commit of a
// project. The environments of a project deployed at different commits
// each have theirs (one per project made them evict each other at every
// poll).
type ancestorsKey struct {
	project string
	base    plumbing.Hash
}

// ancestorsOf returns every ancestor of base, kept per project and base:
// a deploy ref moves rarely and the walk of its whole history is then done
// once.
func (d *Deployer) ancestorsOf(project string, up *storage.Repo, base plumbing.Hash) (map[plumbing.Hash]bool, error) {
	if base.IsZero() {
		return map[plumbing.Hash]bool{}, nil // nothing deployed: no ancestors
	}
	key := ancestorsKey{project, base}
	if anc, ok := d.ancestors.get(key); ok {
		return anc, nil
	}
	anc := map[plumbing.Hash]bool{base: true}
	queue := []plumbing.Hash{base}
	for len(queue) > 0 {
		h := queue[len(queue)-1]
		queue = queue[:len(queue)-1]
		c, err := up.Commit(h)
		if err != nil {
			return nil, fmt.Errorf("deployed commit %s is not in the upstream mirror: %w", short(h), err)
		}
		for _, p := range c.Parents {
			if !anc[p] {
				anc[p] = true
				queue = append(queue, p)
			}
		}
	}
	d.ancestors.put(key, anc)
	return anc, nil
}

// firstParentAncestor walks n steps down the first-parent line from head,
// stopping at a root commit.
func firstParentAncestor(up *storage.Repo, head plumbing.Hash, n int) (plumbing.Hash, error) {
	h, steps := head, 0
	err := up.WalkFirstParents(head, func(c storage.Commit) bool {
		h = c.Hash
		steps++
		return steps <= n
	})
	return h, err
}
