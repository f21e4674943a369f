package storage

import (
	"errors"
	"sync"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// lockedObjects is a Repo's object database with every call under the
// Repo's go-git lock. go-git's file system storage is not safe for
// concurrent use, not even for reads: it loads its pack index on first use
// and Reindex drops it, and the Poster reads the served repository while a
// poll copies packs into it. Objects come back whole (no lazy readers:
// LargeObjectThreshold is unset), so nothing reads the store after the
// lock is released; a commit's Tree or Parents go through this storer
// again.
type lockedObjects struct {
	mu *sync.Mutex
	st storer.EncodedObjectStorer
}

var _ storer.EncodedObjectStorer = lockedObjects{}

func (o lockedObjects) NewEncodedObject() plumbing.EncodedObject {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.st.NewEncodedObject()
}

func (o lockedObjects) SetEncodedObject(obj plumbing.EncodedObject) (plumbing.Hash, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.st.SetEncodedObject(obj)
}

func (o lockedObjects) EncodedObject(t plumbing.ObjectType, h plumbing.Hash) (plumbing.EncodedObject, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.st.EncodedObject(t, h)
}

func (o lockedObjects) IterEncodedObjects(plumbing.ObjectType) (storer.EncodedObjectIter, error) {
	return nil, errors.New("iterating over every object is not supported")
}

func (o lockedObjects) HasEncodedObject(h plumbing.Hash) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.st.HasEncodedObject(h)
}

func (o lockedObjects) EncodedObjectSize(h plumbing.Hash) (int64, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.st.EncodedObjectSize(h)
}

func (o lockedObjects) AddAlternate(remote string) error {
	return errors.New("alternates are not supported")
}
