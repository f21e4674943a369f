package storage

import (
	"errors"
	"fmt"
	"io"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// ErrNoFile is returned by ReadFile when the commit's tree has no regular
// file at the path.
var ErrNoFile = errors.New("no such file")

// ReadFile returns the content of the regular file at path (slash
// separated) in commit h's tree. A file over max bytes is an error, never
// a truncated content.
func (r *Repo) ReadFile(h plumbing.Hash, path string, max int64) ([]byte, error) {
	c, err := object.GetCommit(r.git.Storer, h)
	if err != nil {
		return nil, fmt.Errorf("commit %s: %w", h, err)
	}
	tree, err := c.Tree()
	if err != nil {
		return nil, fmt.Errorf("tree of %s: %w", h, err)
	}
	f, err := tree.File(path)
	if errors.Is(err, object.ErrFileNotFound) || errors.Is(err, object.ErrDirectoryNotFound) || errors.Is(err, object.ErrEntryNotFound) {
		return nil, fmt.Errorf("%s at %s: %w", path, short(h), ErrNoFile)
	}
	if err != nil {
		return nil, fmt.Errorf("%s at %s: %w", path, short(h), err)
	}
	if !f.Mode.IsFile() {
		return nil, fmt.Errorf("%s at %s is not a regular file: %w", path, short(h), ErrNoFile)
	}
	if f.Size > max {
		return nil, fmt.Errorf("%s at %s is %d bytes, over the %d allowed", path, short(h), f.Size, max)
	}
	rd, err := f.Reader()
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	return io.ReadAll(io.LimitReader(rd, max))
}
