package storage

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"golang.org/x/sys/unix"
)

// CopyObjects copies into dst every object reachable from commit tip in src
// that dst does not have yet, byte for byte, then flushes dst to disk.
//
// Objects are written children first, so an object present in dst always has
// everything it refers to present too; that closure invariant lets the walk
// stop at the first object dst already has, and makes a copy cut short by a
// crash harmless.
func CopyObjects(ctx context.Context, dst, src *Repo, tip plumbing.Hash) (int, error) {
	type item struct {
		h        plumbing.Hash
		expanded bool
	}
	has := func(h plumbing.Hash) bool { return dst.Git.Storer.HasEncodedObject(h) == nil }
	stack := []item{{h: tip}}
	queued := map[plumbing.Hash]bool{tip: true}
	n := 0
	for len(stack) > 0 {
		if n%256 == 0 {
			if err := ctx.Err(); err != nil {
				return n, err
			}
		}
		top := &stack[len(stack)-1]
		if has(top.h) {
			stack = stack[:len(stack)-1]
			continue
		}
		obj, err := src.Git.Storer.EncodedObject(plumbing.AnyObject, top.h)
		if err != nil {
			return n, fmt.Errorf("read object %s: %w", top.h, err)
		}
		if !top.expanded {
			top.expanded = true
			children, err := references(obj)
			if err != nil {
				return n, err
			}
			for _, c := range children {
				if !queued[c] && !has(c) {
					queued[c] = true
					stack = append(stack, item{h: c})
				}
			}
			continue
		}
		if _, err := dst.Git.Storer.SetEncodedObject(obj); err != nil {
			return n, fmt.Errorf("write object %s: %w", top.h, err)
		}
		n++
		stack = stack[:len(stack)-1]
	}
	return n, syncFS(dst.Path)
}

// references lists the objects an object points at. Submodule entries
// (gitlinks) point into other repositories and are not followed.
func references(obj plumbing.EncodedObject) ([]plumbing.Hash, error) {
	switch obj.Type() {
	case plumbing.CommitObject:
		c := &object.Commit{}
		if err := c.Decode(obj); err != nil {
			return nil, fmt.Errorf("decode commit %s: %w", obj.Hash(), err)
		}
		return append([]plumbing.Hash{c.TreeHash}, c.ParentHashes...), nil
	case plumbing.TreeObject:
		t := &object.Tree{}
		if err := t.Decode(obj); err != nil {
			return nil, fmt.Errorf("decode tree %s: %w", obj.Hash(), err)
		}
		var out []plumbing.Hash
		for _, e := range t.Entries {
			if e.Mode != filemode.Submodule {
				out = append(out, e.Hash)
			}
		}
		return out, nil
	case plumbing.TagObject:
		t := &object.Tag{}
		if err := t.Decode(obj); err != nil {
			return nil, fmt.Errorf("decode tag %s: %w", obj.Hash(), err)
		}
		return []plumbing.Hash{t.Target}, nil
	default:
		return nil, nil
	}
}

// syncFS flushes the file system holding dir: loose objects are many small
// files, and one syncfs is far cheaper than an fsync per file and directory.
func syncFS(dir string) error {
	f, err := os.Open(filepath.Clean(dir))
	if err != nil {
		return err
	}
	defer f.Close()
	return unix.Syncfs(int(f.Fd()))
}
