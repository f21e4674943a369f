package audit

import (
	"fmt"
	"io"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// Chain returns the audit commits from the first to head, the tip of
// audit/<env>. It checks that the trail is a single line and nothing
// else: Verify checks signatures and what the records say.
func Chain(st storer.EncodedObjectStorer, head plumbing.Hash) ([]*object.Commit, error) {
	var out []*object.Commit
	for h := head; !h.IsZero(); {
		c, err := object.GetCommit(st, h)
		if err != nil {
			return nil, fmt.Errorf("audit commit %s: %w", short(h), err)
		}
		out = append(out, c)
		switch len(c.ParentHashes) {
		case 0:
			h = plumbing.ZeroHash
		case 1:
			h = c.ParentHashes[0]
		default:
			return nil, fmt.Errorf("audit commit %s has %d parents: the trail is a single line", short(h), len(c.ParentHashes))
		}
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, nil
}

// ReadRecord reads the record of audit commit c.
func ReadRecord(c *object.Commit) (*Record, error) {
	tree, err := c.Tree()
	if err != nil {
		return nil, err
	}
	if len(tree.Entries) != 1 || tree.Entries[0].Name != RecordFile {
		return nil, fmt.Errorf("the tree must hold %s and nothing else", RecordFile)
	}
	f, err := tree.File(RecordFile)
	if err != nil {
		return nil, err
	}
	r, err := f.Reader()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	return DecodeRecord(data)
}
