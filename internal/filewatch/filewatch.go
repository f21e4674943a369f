// Package filewatch follows the content of a small configuration file (the
// policy file, the access list) so that an edit is applied without a
// restart, and a file caught half-written is not.
//
// The debounce, the same for every file: a new content is taken once the
// same bytes were read on two checks in a row, an interval apart, so an
// editor that writes in place is not caught in the middle. A forced check
// (SIGHUP, an operator asking) takes the file as it is at once. Contents
// are compared by SHA-256 of the whole file, which catches edits that keep
// the size and the mtime (coarse clocks, ConfigMap symlink swaps), and the
// bytes handed out are exactly the bytes hashed.
//
// It never parses: the caller does, and keeps its last good value when the
// new content is broken.
package filewatch

import (
	"context"
	"crypto/sha256"
	"os"
	"sync"
	"time"
)

// File follows one file. Its methods may be called from several
// goroutines.
type File struct {
	path string

	mu      sync.Mutex
	applied [sha256.Size]byte // content last handed out
	pending [sha256.Size]byte // content seen once, not handed out yet
	settled bool              // applied holds a content (not after a read error)
	waiting bool              // pending holds a content
}

// New returns a File for path whose current content is data (what the
// caller loaded at start): Check reports only changes from it.
func New(path string, data []byte) *File {
	return &File{path: path, applied: sha256.Sum256(data), settled: true}
}

// Path is the file's path.
func (f *File) Path() string { return f.path }

// Check reads the file. It returns its content and true when the content
// is new (different from the last returned) and either force is set or
// the same content was read on the previous check. A read error (a
// deleted file) is returned as it is; the content read after it is new
// again, whatever it is, so a caller that reported the error hears when
// the file is back.
func (f *File) Check(force bool) ([]byte, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	data, err := os.ReadFile(f.path)
	if err != nil {
		f.settled, f.waiting = false, false
		return nil, false, err
	}
	sum := sha256.Sum256(data)
	switch {
	case f.settled && sum == f.applied:
		f.waiting = false
		return nil, false, nil
	case !force && !(f.waiting && sum == f.pending):
		f.pending, f.waiting = sum, true // seen once: wait for the next check
		return nil, false, nil
	}
	f.applied, f.settled, f.waiting = sum, true, false
	return data, true, nil
}

// Run calls check every interval, and at once (forced) for each value
// received on force (a SIGHUP, say; nil for none), until ctx is done. The
// caller owns the goroutine.
func Run[T any](ctx context.Context, interval time.Duration, force <-chan T, check func(force bool)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			check(false)
		case <-force:
			check(true)
		}
	}
}
