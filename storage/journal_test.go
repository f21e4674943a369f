package storage

import (
	"errors"
	"os"
	"path/filepath"
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
			name:      "the first rename fails once: the second is still done",
			fail:      map[string]int{audit: 1},
			wantAfter: map[string]string{audit: "a", deploy: "b"},
			wantNext:  true,
			wantFinal: map[string]string{audit: "b", deploy: "b", other: "a"},
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
			if err == nil || !strings.Contains(err.Error(), "injected") {
				t.Fatalf("transaction with a failing rename: err = %v, want the rename's error", err)
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
