package storage

import (
	"fmt"
	"testing"
)

// Release empties a project's object caches, upstream, served and per
// environment, and reads work as before after it; other projects keep
// theirs.
func TestRelease(t *testing.T) {
	s := openStore(t)
	up, err := s.Upstream("platform/fleet")
	if err != nil {
		t.Fatal(err)
	}
	other, err := s.Upstream("platform/other")
	if err != nil {
		t.Fatal(err)
	}
	h := commit(t, up, commit(t, up, [20]byte{}, "a"), "b")
	o := commit(t, other, [20]byte{}, "o")
	if _, err := up.Commit(h); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Commit(o); err != nil {
		t.Fatal(err)
	}
	env, err := s.repo(envKind("prod"), "platform/fleet", true)
	if err != nil {
		t.Fatal(err)
	}
	e := commit(t, env, [20]byte{}, "e")
	if _, err := env.Commit(e); err != nil {
		t.Fatal(err)
	}
	if _, cached := up.cache.Get(h); !cached {
		t.Fatalf("a commit just read is not in the object cache")
	}
	s.Release("platform/fleet")
	if _, cached := up.cache.Get(h); cached {
		t.Errorf("after Release the commit is still cached")
	}
	if _, cached := env.cache.Get(e); cached {
		t.Errorf("after Release the prod repository's commit is still cached")
	}
	if _, cached := other.cache.Get(o); !cached {
		t.Errorf("Release of platform/fleet emptied platform/other's cache")
	}
	if c, err := up.Commit(h); err != nil || c.Hash != h {
		t.Errorf("read after Release: %v %v", c.Hash, err)
	}
	s.Release("no/such-project") // nothing open: nothing to do
}

// BenchmarkRelease releases one project of a store with many open: the
// cost must not grow with the others (the poller releases every project
// after its poll, so a cost per open repository made polls quadratic).
func BenchmarkRelease(b *testing.B) {
	s, err := Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	const projects = 1000
	for i := range projects {
		if _, err := s.Upstream(fmt.Sprintf("bench/p%04d", i)); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for i := range b.N {
		s.Release(fmt.Sprintf("bench/p%04d", i%projects))
	}
}
