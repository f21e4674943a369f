package deploy

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
)

// A memo keeps at most max entries and forgets the least recently used.
func TestMemo(t *testing.T) {
	for _, tt := range []struct {
		what string
		ops  []string // "put k" or "get k"
		want []string // keys held at the end
	}{
		{"under the bound", []string{"put a", "put b"}, []string{"a", "b"}},
		{"oldest forgotten", []string{"put a", "put b", "put c", "put d"}, []string{"b", "c", "d"}},
		{"a read keeps it", []string{"put a", "put b", "put c", "get a", "put d"}, []string{"a", "c", "d"}},
		{"a second put is one entry", []string{"put a", "put a", "put b", "put c"}, []string{"a", "b", "c"}},
	} {
		m := newMemo[string, int](3)
		for i, op := range tt.ops {
			var verb, k string
			fmt.Sscan(op, &verb, &k)
			if verb == "put" {
				m.put(k, i)
			} else {
				m.get(k)
			}
		}
		var got []string
		for _, k := range []string{"a", "b", "c", "d"} {
			if _, ok := m.get(k); ok {
				got = append(got, k)
			}
		}
		if !slices.Equal(got, tt.want) || m.len() != len(tt.want) {
			t.Errorf("%s: holds %v (len %d), want %v", tt.what, got, m.len(), tt.want)
		}
	}
}

// The environments of a project deployed at different commits keep an
// ancestor set each (one per project made them evict each other at every
// poll).
func TestAncestorsKeptPerDeployedCommit(t *testing.T) {
	_, r, _, d, _ := setup(t)
	a := r.commit("a")
	b := r.commit("b", a)
	for _, base := range []plumbing.Hash{a, b, a} {
		if _, err := d.ancestorsOf("platform/fleet", r.up, base); err != nil {
			t.Fatal(err)
		}
	}
	for _, base := range []plumbing.Hash{a, b} {
		if anc, ok := d.ancestors.get(ancestorsKey{"platform/fleet", base}); !ok || !anc[base] {
			t.Errorf("ancestors of %s not kept after asking for a, b and a again", short(base))
		}
	}
}

// A merge's check is kept per commit: asked again, it needs no C git
// (here: with a cancelled context, which would kill it).
func TestMergeCheckKept(t *testing.T) {
	_, r, _, d, _ := setup(t)
	w := newWork(t, r)
	w.write("a", "a\n")
	base := w.commit("base")
	w.write("b", "b\n")
	ours := w.commit("ours")
	w.git("checkout", "-q", "-b", "side", base)
	w.write("c", "c\n")
	theirs := w.commit("theirs")
	w.git("checkout", "-q", "main")
	w.git("merge", "-q", "--no-ff", "-m", "merge", theirs)
	merge := w.git("rev-parse", "HEAD")
	w.publish(merge)
	c, err := r.up.Commit(plumbing.NewHash(merge))
	if err != nil {
		t.Fatal(err)
	}
	if clean, err := d.cleanMergeOf(context.Background(), r.up, c); !clean || err != nil {
		t.Fatalf("merge of %s and %s: clean %v, err %v; want clean", ours[:7], theirs[:7], clean, err)
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if clean, err := d.cleanMergeOf(cancelled, r.up, c); !clean || err != nil {
		t.Errorf("asked again: clean %v, err %v; want the kept answer, clean", clean, err)
	}
}
