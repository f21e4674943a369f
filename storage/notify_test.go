package storage

import (
	"errors"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
)

// TestNotifyRefs: every call that may have changed refs or HEAD reports
// the directory ServedPath gives the front ends, before it returns, and so
// does prod's own repository as it follows (EnvPath); a transaction
// refused before its commit point reports nothing.
func TestNotifyRefs(t *testing.T) {
	s := openStore(t)
	r, err := s.Served("platform/fleet")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []string
	s.NotifyRefs(func(dir string) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, dir)
	})
	calls := func() []string {
		mu.Lock()
		defer mu.Unlock()
		out := got
		got = nil
		return out
	}
	c1 := commit(t, r, plumbing.ZeroHash, "one")
	c2 := commit(t, r, c1, "two")
	served, err := s.ServedPath("platform/fleet")
	if err != nil {
		t.Fatal(err)
	}
	env := filepath.Join(s.Dir(), "served-env", "prod", "platform", "fleet.git")
	tests := []struct {
		name   string
		change func() error
		want   []string
	}{
		// prod's repository is made: its ref, then its HEAD.
		{"a ref created", func() error { return r.UpdateRefs(RefUpdate{Name: "refs/heads/deploy/prod", New: c1}) }, []string{served, env, env}},
		{"two refs in one transaction", func() error {
			return r.UpdateRefs(RefUpdate{Name: "refs/heads/deploy/prod", Old: c1, New: c2}, RefUpdate{Name: "refs/heads/audit/prod", New: c1})
		}, []string{served, env}},
		{"HEAD", func() error { return r.SetHead("refs/heads/deploy/prod") }, []string{served}},
		{"compare-and-swap refused", func() error {
			return r.UpdateRefs(RefUpdate{Name: "refs/heads/deploy/prod", Old: c1, New: c2})
		}, nil},
	}
	for _, tt := range tests {
		err := tt.change()
		if tt.want != nil && err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if tt.want == nil && !errors.Is(err, ErrConflict) {
			t.Fatalf("%s: err %v, want a conflict", tt.name, err)
		}
		if c := calls(); !slices.Equal(c, tt.want) {
			t.Errorf("%s: notified %q, want %q", tt.name, c, tt.want)
		}
	}
	s.NotifyRefs(nil)
	if err := r.SetHead("refs/heads/audit/prod"); err != nil {
		t.Fatal(err)
	}
	if c := calls(); len(c) != 0 {
		t.Errorf("after NotifyRefs(nil): notified %q", c)
	}
}
