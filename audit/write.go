package audit

import (
	"bytes"
	"fmt"
	"io"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// Ref is the audit branch of an environment.
func Ref(env string) string { return "refs/heads/audit/" + env }

// TagRef is the signed tag that follows deploy/<env>.
func TagRef(env string) string { return "refs/tags/" + TagName(env) }

// TagName is TagRef without refs/tags/, what Flux's spec.ref.tag names.
func TagName(env string) string { return "gerritgate/" + env }

// The author and committer of audit commits and the tagger.
const (
	identityName  = "gerritgate"
	identityEmail = "gerritgate@localhost"
)

// Write stores the audit commit of rec, child of prev (zero for the first
// record), signed by s when s is not nil, and returns its hash. It moves
// no ref.
func Write(st storer.EncodedObjectStorer, rec *Record, prev plumbing.Hash, s *Signer) (plumbing.Hash, error) {
	data, err := rec.Encode()
	if err != nil {
		return plumbing.ZeroHash, err
	}
	blob, err := store(st, plumbing.BlobObject, data)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	tree := &object.Tree{Entries: []object.TreeEntry{{Name: RecordFile, Mode: filemode.Regular, Hash: blob}}}
	tobj := st.NewEncodedObject()
	if err := tree.Encode(tobj); err != nil {
		return plumbing.ZeroHash, err
	}
	treeHash, err := st.SetEncodedObject(tobj)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	sig := object.Signature{Name: identityName, Email: identityEmail, When: rec.Time.UTC()}
	c := &object.Commit{Author: sig, Committer: sig, Message: rec.Message(), TreeHash: treeHash}
	if !prev.IsZero() {
		c.ParentHashes = []plumbing.Hash{prev}
	}
	if s != nil {
		payload := &plumbing.MemoryObject{}
		if err := c.EncodeWithoutSignature(payload); err != nil {
			return plumbing.ZeroHash, err
		}
		if c.PGPSignature, err = s.sign(content(payload)); err != nil {
			return plumbing.ZeroHash, fmt.Errorf("sign audit record: %w", err)
		}
	}
	obj := st.NewEncodedObject()
	if err := c.Encode(obj); err != nil {
		return plumbing.ZeroHash, err
	}
	return st.SetEncodedObject(obj)
}

// WriteTag stores the signed annotated tag TagName(rec.Environment) at
// rec.To and returns its hash. It moves no ref.
func WriteTag(st storer.EncodedObjectStorer, rec *Record, s *Signer) (plumbing.Hash, error) {
	t := &object.Tag{
		Name:       TagName(rec.Environment),
		Tagger:     object.Signature{Name: identityName, Email: identityEmail, When: rec.Time.UTC()},
		Message:    rec.TagMessage(),
		TargetType: plumbing.CommitObject,
		Target:     plumbing.NewHash(rec.To),
	}
	return writeTag(st, t, s)
}

// writeTag signs t by s (unless s is nil) and stores it.
func writeTag(st storer.EncodedObjectStorer, t *object.Tag, s *Signer) (plumbing.Hash, error) {
	if s != nil {
		payload := &plumbing.MemoryObject{}
		if err := t.EncodeWithoutSignature(payload); err != nil {
			return plumbing.ZeroHash, err
		}
		var err error
		if t.PGPSignature, err = s.sign(content(payload)); err != nil {
			return plumbing.ZeroHash, fmt.Errorf("sign tag: %w", err)
		}
	}
	obj := st.NewEncodedObject()
	if err := t.Encode(obj); err != nil {
		return plumbing.ZeroHash, err
	}
	return st.SetEncodedObject(obj)
}

func store(st storer.EncodedObjectStorer, t plumbing.ObjectType, data []byte) (plumbing.Hash, error) {
	obj := st.NewEncodedObject()
	obj.SetType(t)
	obj.SetSize(int64(len(data)))
	w, err := obj.Writer()
	if err != nil {
		return plumbing.ZeroHash, err
	}
	if _, err := w.Write(data); err != nil {
		return plumbing.ZeroHash, err
	}
	if err := w.Close(); err != nil {
		return plumbing.ZeroHash, err
	}
	return st.SetEncodedObject(obj)
}

func content(o *plumbing.MemoryObject) []byte {
	r, _ := o.Reader() // a MemoryObject's reader never fails
	var b bytes.Buffer
	io.Copy(&b, r)
	return b.Bytes()
}
