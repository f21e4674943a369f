package storage

import (
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// commitFiles writes a commit whose tree holds files (name -> content,
// top-level only) with the given parents.
func commitFiles(t *testing.T, r *Repo, files map[string]string, msg string, parents ...plumbing.Hash) plumbing.Hash {
	t.Helper()
	put := func(o interface {
		Encode(plumbing.EncodedObject) error
	}) plumbing.Hash {
		obj := &plumbing.MemoryObject{}
		if err := o.Encode(obj); err != nil {
			t.Fatal(err)
		}
		h, err := r.WriteObject(obj)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	var names []string
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	tree := &object.Tree{}
	for _, n := range names {
		b := &plumbing.MemoryObject{}
		b.SetType(plumbing.BlobObject)
		b.Write([]byte(files[n]))
		bh, err := r.WriteObject(b)
		if err != nil {
			t.Fatal(err)
		}
		tree.Entries = append(tree.Entries, object.TreeEntry{Name: n, Mode: filemode.Regular, Hash: bh})
	}
	sig := object.Signature{Name: "t", Email: "t@example.com", When: time.Unix(1700000000, 0).UTC()}
	return put(&object.Commit{Author: sig, Committer: sig, Message: msg, TreeHash: put(tree), ParentHashes: parents})
}

// history: root (a, b) - c1 (changes a, moves b to d) - c2 (no change),
// and side (from root, adds e) merged into c2 as m.
func history(t *testing.T) (*Repo, map[string]plumbing.Hash) {
	t.Helper()
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	r, err := s.Upstream("p")
	if err != nil {
		t.Fatal(err)
	}
	h := map[string]plumbing.Hash{}
	h["root"] = commitFiles(t, r, map[string]string{"a": "a\n", "b": "b\n"}, "root\n")
	h["c1"] = commitFiles(t, r, map[string]string{"a": "a2\n", "d": "b\n"}, "one\n\nbody\n", h["root"])
	h["c2"] = commitFiles(t, r, map[string]string{"a": "a2\n", "d": "b\n"}, "two\n", h["c1"])
	h["side"] = commitFiles(t, r, map[string]string{"a": "a\n", "b": "b\n", "e": "e\n"}, "side\n", h["root"])
	h["m"] = commitFiles(t, r, map[string]string{"a": "a2\n", "d": "b\n", "e": "e\n"}, "merge\n", h["c2"], h["side"])
	return r, h
}

func TestCommit(t *testing.T) {
	r, h := history(t)
	c, err := r.Commit(h["m"])
	if err != nil {
		t.Fatal(err)
	}
	if c.Hash != h["m"] || c.Message != "merge\n" || !slices.Equal(c.Parents, []plumbing.Hash{h["c2"], h["side"]}) || c.Tree.IsZero() {
		t.Errorf("Commit(m) = %+v, want the merge of c2 and side", c)
	}
	if _, err := r.Commit(plumbing.NewHash("1111111111111111111111111111111111111111")); err == nil {
		t.Errorf("Commit of a missing commit: no error")
	}
}

func TestIsAncestor(t *testing.T) {
	r, h := history(t)
	missing := plumbing.NewHash("1111111111111111111111111111111111111111")
	for _, tt := range []struct {
		a, b    string
		want    bool
		wantErr bool
	}{
		{"root", "m", true, false},
		{"side", "m", true, false},
		{"c1", "c2", true, false},
		{"m", "m", true, false},
		{"c2", "c1", false, false},
		{"side", "c2", false, false},
		{"missing", "m", false, true},
		{"root", "missing", false, true},
	} {
		get := func(n string) plumbing.Hash {
			if n == "missing" {
				return missing
			}
			return h[n]
		}
		got, err := r.IsAncestor(get(tt.a), get(tt.b))
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("IsAncestor(%s, %s) = %v, %v; want %v, error %v", tt.a, tt.b, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestWalkFirstParents(t *testing.T) {
	r, h := history(t)
	for _, tt := range []struct {
		from  string
		limit int
		want  []string
	}{
		{"m", 10, []string{"m", "c2", "c1", "root"}}, // side is a second parent: not walked
		{"m", 2, []string{"m", "c2"}},
		{"side", 10, []string{"side", "root"}},
	} {
		var got []string
		err := r.WalkFirstParents(h[tt.from], func(c Commit) bool {
			for n, hh := range h {
				if hh == c.Hash {
					got = append(got, n)
				}
			}
			return len(got) < tt.limit
		})
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("WalkFirstParents(%s) stopping after %d = %v, %v; want %v", tt.from, tt.limit, got, err, tt.want)
		}
	}
}

func TestChangedFiles(t *testing.T) {
	r, h := history(t)
	for _, tt := range []struct {
		commit string
		want   []string
	}{
		{"root", []string{"a", "b"}},
		{"c1", []string{"a", "b", "d"}}, // both sides of the move
		{"c2", []string{}},
		{"m", []string{"e"}}, // against the first parent only
	} {
		got, err := r.ChangedFiles(h[tt.commit])
		sort.Strings(got)
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("ChangedFiles(%s) = %v, %v; want %v", tt.commit, got, err, tt.want)
		}
	}
}
