package storage

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
)

// Ref reads loose refs itself and leaves packed ones to go-git; both give
// what C git would. ReadRef, without the repository open, reads the same.
func TestRefLooseAndPacked(t *testing.T) {
	s := openStore(t)
	r, err := s.Upstream("platform/fleet")
	if err != nil {
		t.Fatal(err)
	}
	a := commit(t, r, plumbing.ZeroHash, "a")
	b := commit(t, r, a, "b")
	write := func(name, content string) {
		p := filepath.Join(r.Dir(), filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("packed-refs", "# pack-refs with: peeled fully-peeled sorted\n"+a.String()+" refs/heads/packed\n"+a.String()+" refs/heads/both\n")
	write("refs/heads/loose", b.String()+"\n")
	write("refs/heads/both", b.String()+"\n")
	write("refs/heads/sym", "ref: refs/heads/loose\n")
	write("refs/heads/junk", "not a commit\n")
	write("refs/heads/dir/inside", a.String()+"\n")
	for _, tt := range []struct {
		name    string
		want    plumbing.Hash
		wantErr string
	}{
		{"refs/heads/loose", b, ""},
		{"refs/heads/packed", a, ""},
		{"refs/heads/both", b, ""}, // the loose file overrides its packed value
		{"refs/heads/missing", plumbing.ZeroHash, ""},
		{"refs/heads/dir", plumbing.ZeroHash, ""},
		{"refs/heads/dir/inside", a, ""},
		{"refs/heads/loose/below", plumbing.ZeroHash, ""},
		{"refs/heads/sym", plumbing.ZeroHash, "symbolic"},
		{"refs/heads/junk", plumbing.ZeroHash, "no commit id"},
	} {
		got, err := r.Ref(tt.name)
		if got != tt.want || (err == nil) != (tt.wantErr == "") || err != nil && !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("Ref(%s) = %s, %v; want %s, error containing %q", tt.name, got, err, tt.want, tt.wantErr)
		}
		got, err = ReadRef(r.Dir(), tt.name)
		if got != tt.want || (err == nil) != (tt.wantErr == "") || err != nil && !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("ReadRef(%s) = %s, %v; want %s, error containing %q", tt.name, got, err, tt.want, tt.wantErr)
		}
	}
	if h, err := ReadRef(r.Dir(), "refs/heads/../../config"); err == nil {
		t.Errorf("ReadRef of a name leaving refs/ = %s, nil; want an error", h)
	}
}
