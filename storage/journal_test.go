package storage

import (
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
)

// Faults in the renames past a transaction's commit point: every rename
// is tried, the journal stays until all are done, and the next
// transaction finishes it first or refuses to start.
func TestUpdateRefsRenameFaults(t *testing.T) {
	const deploy, audit, other = "refs/heads/deploy/prod", "refs/heads/audit/prod", "refs/heads/deploy/staging"
	tests := []struct {
		name string
		// fail says which ref's rename fails, and how many times.
		fail  map[string]int
		moves []RefUpdate // the transaction, from a to b
		// wantAfter: the refs right after the failing transaction.
		wantAfter map[string]string
		// wantNext: whether the next transaction (moving other) works.
		wantNext bool
		// wantFinal: the refs after the next transaction.
		wantFinal map[string]string
	}{
		{
			name:      "the second rename fails once",
			fail:      map[string]int{deploy: 1},
			wantAfter: map[string]string{audit: "b", deploy: "a"},
			wantNext:  true,
			wantFinal: map[string]string{audit: "b", deploy: "b", other: "a"},
		},
		{
			name:      "the audit rename fails once: the deploy ref waits for it",
			fail:      map[string]int{audit: 1},
			wantAfter: map[string]string{audit: "a", deploy: "a"},
			wantNext:  true,
			wantFinal: map[string]string{audit: "b", deploy: "b", other: "a"},
		},
		{
			name:      "the audit rename keeps failing: the deploy ref never moves",
			fail:      map[string]int{audit: 2},
			wantAfter: map[string]string{audit: "a", deploy: "a"},
			wantNext:  false,
			wantFinal: map[string]string{audit: "a", deploy: "a", other: ""},
		},
		{
			name:      "a rename keeps failing: the next transaction is refused",
			fail:      map[string]int{deploy: 2},
			wantAfter: map[string]string{audit: "b", deploy: "a"},
			wantNext:  false,
			wantFinal: map[string]string{audit: "b", deploy: "a", other: ""},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openStore(t)
			r, _ := s.Served("p")
			hashes := map[string]plumbing.Hash{}
			hashes["a"] = commit(t, r, plumbing.ZeroHash, "a")
			hashes["b"] = commit(t, r, hashes["a"], "b")
			if err := r.UpdateRefs(RefUpdate{Name: deploy, New: hashes["a"]}, RefUpdate{Name: audit, New: hashes["a"]}); err != nil {
				t.Fatal(err)
			}
			fail := tt.fail
			r.rename = func(from, to string) error {
				for ref, n := range fail {
					if n > 0 && to == r.refPath(ref) {
						fail[ref]--
						return errors.New("injected rename failure")
					}
				}
				return os.Rename(from, to)
			}
			check := func(when string, want map[string]string) {
				t.Helper()
				for ref, w := range want {
					got, err := r.Ref(ref)
					if err != nil {
						t.Fatal(err)
					}
					if got != hashes[w] {
						t.Errorf("%s: %s = %s, want %q (%s)", when, ref, got, w, hashes[w])
					}
				}
			}
			journal := filepath.Join(r.dir, journalName)

			err := r.UpdateRefs(RefUpdate{Name: deploy, Old: hashes["a"], New: hashes["b"]}, RefUpdate{Name: audit, Old: hashes["a"], New: hashes["b"]})
			if err == nil || !strings.Contains(err.Error(), "injected") || !errors.Is(err, ErrCommitted) {
				t.Fatalf("transaction with a failing rename: err = %v, want the rename's error, saying it is committed", err)
			}
			check("after the failing transaction", tt.wantAfter)
			if _, err := os.Stat(journal); err != nil {
				t.Errorf("the journal is gone though a rename is not done: %v", err)
			}

			err = r.UpdateRefs(RefUpdate{Name: other, New: hashes["a"]})
			if (err == nil) != tt.wantNext {
				t.Fatalf("next transaction: err = %v, want it to work: %v", err, tt.wantNext)
			}
			check("after the next transaction", tt.wantFinal)
			_, jerr := os.Stat(journal)
			if tt.wantNext && jerr == nil {
				t.Errorf("journal left behind after the next transaction finished it")
			}
			if !tt.wantNext {
				if jerr != nil {
					t.Errorf("journal removed though its transaction is not finished")
				}
				if !strings.Contains(err.Error(), "not finished") {
					t.Errorf("refusal %q does not say an earlier transaction is unfinished", err)
				}
			}
			locks, _ := filepath.Glob(filepath.Join(r.dir, "refs/heads/*/*.lock"))
			if tt.wantNext && len(locks) > 0 {
				t.Errorf("locks left behind: %v", locks)
			}
		})
	}
}

// A single update whose rename fails leaves the ref as it was and no lock
// behind: the next update of that ref works.
func TestUpdateRefsSingleRenameFault(t *testing.T) {
	s := openStore(t)
	r, _ := s.Served("p")
	a := commit(t, r, plumbing.ZeroHash, "a")
	b := commit(t, r, a, "b")
	const ref = "refs/heads/deploy/prod"
	if err := r.UpdateRefs(RefUpdate{Name: ref, New: a}); err != nil {
		t.Fatal(err)
	}
	r.rename = func(string, string) error { return errors.New("injected rename failure") }
	if err := r.UpdateRefs(RefUpdate{Name: ref, Old: a, New: b}); err == nil {
		t.Fatal("update with a failing rename succeeded")
	}
	r.rename = os.Rename
	if err := r.UpdateRefs(RefUpdate{Name: ref, Old: a, New: b}); err != nil {
		t.Fatalf("the update again, renames working: %v", err)
	}
	if got, _ := r.Ref(ref); got != b {
		t.Errorf("%s = %s, want %s", ref, got, b)
	}
}

// An audit ref only moves to a record appended to its current tip (its
// one parent is the tip), Force or not; creating one is free.
func TestAuditRefOnlyGrows(t *testing.T) {
	s := openStore(t)
	r, _ := s.Served("p")
	root := commit(t, r, plumbing.ZeroHash, "root")
	child := commit(t, r, root, "child")
	grandchild := commit(t, r, child, "grandchild")
	other := commit(t, r, plumbing.ZeroHash, "other")
	merge := commitFiles(t, r, map[string]string{"f": "m"}, "merge", child, other)
	const ref = "refs/heads/audit/prod"
	if err := r.UpdateRefs(RefUpdate{Name: ref, New: root}); err != nil {
		t.Fatalf("creating the audit ref: %v", err)
	}
	tests := []struct {
		what  string
		to    plumbing.Hash
		force bool
		ok    bool
	}{
		{"a record whose parent is a grandchild's", grandchild, false, false},
		{"an unrelated trail", other, false, false},
		{"an unrelated trail, forced", other, true, false},
		{"the record appended to the tip", child, false, true},
		{"a merge of the tip and another trail", merge, false, false},
		{"the next record appended", grandchild, false, true},
	}
	for _, tt := range tests {
		old, _ := r.Ref(ref)
		err := r.UpdateRefs(RefUpdate{Name: ref, Old: old, New: tt.to, Force: tt.force})
		if (err == nil) != tt.ok || (!tt.ok && !errors.Is(err, ErrNotFastForward)) {
			t.Errorf("%s: err = %v, want ok=%v (else ErrNotFastForward)", tt.what, err, tt.ok)
		}
		if got, _ := r.Ref(ref); (got == tt.to) != tt.ok {
			t.Errorf("%s: the ref is at %s", tt.what, got)
		}
	}
}

// A served repository's ref file that holds no commit id is damage: it
// is never read as "no ref" (a hold or a debt would vanish) nor removed
// when the store opens again; reading it fails naming the file. The
// upstream mirror's torn refs (go-git writes them in place) are dropped
// at open, for the next fetch to bring back.
func TestCorruptRefFiles(t *testing.T) {
	for _, content := range []string{"", "garbage\n", strings.Repeat("0", 40) + "\n", "abc\n", strings.Repeat("g", 40) + "\n"} {
		dir := t.TempDir()
		s, err := Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		served, _ := s.Served("p")
		up, _ := s.Upstream("p")
		a := commit(t, served, plumbing.ZeroHash, "a")
		const hold, branch = "refs/gerritgate/hold/prod", "refs/heads/main"
		if err := served.UpdateRefs(RefUpdate{Name: hold, New: a}); err != nil {
			t.Fatal(err)
		}
		os.MkdirAll(filepath.Dir(up.refPath(branch)), 0o750)
		for _, p := range []string{served.refPath(hold), up.refPath(branch)} {
			if err := os.WriteFile(p, []byte(content), 0o640); err != nil {
				t.Fatal(err)
			}
		}
		if h, err := served.Ref(hold); !errors.Is(err, ErrCorruptRef) || !strings.Contains(err.Error(), served.refPath(hold)) {
			t.Errorf("%q: reading the hold ref: %s, %v; want ErrCorruptRef naming the file", content, h, err)
		}
		s.Close()
		if s, err = Open(dir); err != nil {
			t.Fatalf("%q: open again: %v", content, err)
		}
		served, _ = s.Served("p")
		up, _ = s.Upstream("p")
		if _, err := os.Stat(served.refPath(hold)); err != nil {
			t.Errorf("%q: the served repository's bad hold ref was removed at open: %v", content, err)
		}
		if h, err := served.Ref(hold); !errors.Is(err, ErrCorruptRef) {
			t.Errorf("%q: after open, reading the hold ref: %s, %v; want ErrCorruptRef", content, h, err)
		}
		if h, err := up.Ref(branch); err != nil || !h.IsZero() {
			t.Errorf("%q: the upstream's torn branch after open: %s, %v; want it dropped", content, h, err)
		}
		s.Close()
	}
}

// Before a transaction's commit point, the directories of its locks and
// the parents of directories made for them are synced: the journal never
// names a lock a crash could lose. A single update, without a journal,
// syncs the parents of new directories only.
func TestUpdateRefsSyncsLockDirectories(t *testing.T) {
	for _, tt := range []struct {
		what    string
		updates []string
		want    []string // relative to the repository, synced before the first rename
		notWant []string
	}{
		{"a transaction into new directories", []string{"refs/heads/deploy/prod", "refs/gerritgate/debt/prod", "refs/heads/audit/prod"},
			[]string{"refs/heads/deploy", "refs/heads/audit", "refs/gerritgate/debt", "refs/gerritgate", "refs/heads", "refs"}, nil},
		{"a single update into a new directory", []string{"refs/gerritgate/hold/prod"},
			[]string{"refs/gerritgate", "refs"}, []string{"refs/gerritgate/hold"}},
	} {
		t.Run(tt.what, func(t *testing.T) {
			s := openStore(t)
			r, _ := s.Served("p")
			a := commit(t, r, plumbing.ZeroHash, "a")
			synced := map[string]bool{}
			r.fsyncDir = func(dir string) error {
				rel, _ := filepath.Rel(r.dir, dir)
				synced[filepath.ToSlash(rel)] = true
				return syncDir(dir)
			}
			var atRename map[string]bool
			r.rename = func(from, to string) error {
				if atRename == nil {
					atRename = maps.Clone(synced)
				}
				return os.Rename(from, to)
			}
			var ups []RefUpdate
			for _, name := range tt.updates {
				ups = append(ups, RefUpdate{Name: name, New: a})
			}
			if err := r.UpdateRefs(ups...); err != nil {
				t.Fatal(err)
			}
			for _, d := range tt.want {
				if !atRename[d] {
					t.Errorf("%s not synced before the commit point (synced: %v)", d, slices.Sorted(maps.Keys(atRename)))
				}
			}
			for _, d := range tt.notWant {
				if atRename[d] {
					t.Errorf("%s synced before the rename of a single update: not needed", d)
				}
			}
		})
	}
}
