package storage

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// One goroutine reads a served repository (as the Poster and the status
// page do) while another copies packs into it and moves its refs (as an
// advance does). Run with -race: go-git's storage loads and drops its
// pack index without a lock of its own.
func TestConcurrentReadsAndWrites(t *testing.T) {
	s := openStore(t)
	up, _ := s.Upstream("p")
	served, _ := s.Served("p")
	first := commit(t, up, plumbing.ZeroHash, "first")
	if err := CopyObjects(context.Background(), served, up, first); err != nil {
		t.Fatal(err)
	}
	if err := served.UpdateRefs(RefUpdate{Name: "refs/heads/deploy/prod", New: first}); err != nil {
		t.Fatal(err)
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	read := func(what string, f func() error) {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if err := f(); err != nil {
					t.Errorf("%s: %v", what, err)
					return
				}
			}
		})
	}
	read("Commit", func() error { _, err := served.Commit(first); return err })
	read("Objects", func() error { _, err := object.GetCommit(served.Objects(), first); return err })
	read("Ref", func() error {
		tip, err := served.Ref("refs/heads/deploy/prod")
		if err == nil {
			_, err = served.IsAncestor(first, tip)
		}
		return err
	})

	prev := first
	for i := range 20 {
		c := commit(t, up, prev, fmt.Sprint("c", i))
		if err := CopyObjects(context.Background(), served, up, c); err != nil {
			t.Fatal(err)
		}
		if _, err := served.ChangedFiles(c); err != nil {
			t.Fatal(err)
		}
		if err := served.UpdateRefs(RefUpdate{Name: "refs/heads/deploy/prod", Old: prev, New: c}); err != nil {
			t.Fatal(err)
		}
		prev = c
	}
	close(stop)
	wg.Wait()
}

// Refs lists refs while an UpdateRefs holds a lock file, empty while it
// is written: the lock is no ref, and no error.
func TestRefsBesideALockFile(t *testing.T) {
	s := openStore(t)
	r, _ := s.Served("p")
	a := commit(t, r, plumbing.ZeroHash, "a")
	if err := r.UpdateRefs(RefUpdate{Name: "refs/heads/deploy/prod", New: a}); err != nil {
		t.Fatal(err)
	}
	lock := filepath.Join(r.Dir(), "refs", "gerritgate", "posted", "prod.lock")
	if err := os.MkdirAll(filepath.Dir(lock), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(lock, nil, 0o640); err != nil {
		t.Fatal(err)
	}
	got, err := r.Refs("refs/")
	if err != nil {
		t.Fatalf("Refs beside an empty lock file: %v", err)
	}
	if len(got) != 1 || got["refs/heads/deploy/prod"] != a {
		t.Errorf("Refs = %v, want deploy/prod at %s alone", got, a)
	}
}
